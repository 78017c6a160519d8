// What every periodic duty of the daemon is given (docs/architecture.md "where to change X"): the invocation
// (configuration, Sysroot, Runner), the platform connection and protocol, the event queue and the shared
// state of the goal-state loop. A duty is one module exporting a `Duty`: it reads its own configuration keys
// and returns the tasks the scheduler runs (none when the configuration turns it off). The table of duties
// is tasks/index.ts; runAgent only iterates it.
import type { Invocation } from '../../util/invocation.ts';
import type { DistroProfile } from '../../os/distro.ts';
import type { PlatformConnection } from '../../provision/connect.ts';
import type { AzureProtocol } from '../../platform/protocol.ts';
import type { PeriodicTask, Scheduler } from '../scheduler.ts';
import type { EventQueue } from '../telemetry.ts';
import type { SummaryTracker } from '../summary.ts';
import type { EventSink, GoalStateErrors } from '../monitor.ts';

export interface DutyContext {
  ctx: Invocation;
  distro: DistroProfile;
  /** Host paths of Lib.Dir and Extension.LogDir. */
  libDir: string;
  extLogDir: string;
  conn: PlatformConnection;
  protocol: AzureProtocol;
  events: EventQueue;
  /** An agent-operation event into the queue. */
  event: EventSink;
  scheduler: Scheduler;
  summary: SummaryTracker;
  gsErrors: GoalStateErrors;
  /** The monitor periods' test seam (tasks/monitor-period.ts), read once per start; null normally. */
  monitorPeriodMs: number | null;
  /** Late-bound links between duties (e.g. the firewall's problem shown in the goal-state report). */
  hooks: DutyHooks;
  /** Stops the agent with exit code 1 (e.g. the memory quota exceeded). */
  exit: (reason: string) => void;
}

export interface DutyHooks {
  /** A problem of the agent itself, reported with the status (set by the firewall duty). */
  agentProblem: () => string | null;
  /** The first goal state converged (set by the goal-state duty: it switches to the regular period). */
  initialCompleted: () => void;
}

/** A duty: its tasks for this start (async when it must prepare before its first run, e.g. firewall rules). */
export type Duty = (d: DutyContext) => PeriodicTask[] | Promise<PeriodicTask[]>;

/** Seconds from the configuration as milliseconds, at least one second. */
export function sec(n: number | undefined): number {
  return Math.max(1, n ?? 1) * 1000;
}
