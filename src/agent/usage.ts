// The agent's resource usage (2.15 monitor PollResourceUsage / PollSystemWideResourceUsage) and its own
// memory check (2.15 update.py _check_agent_memory_usage + cgroupconfigurator.check_agent_memory_usage).
//   * Every Debug.CgroupCheckPeriod, where the agent's cgroup has memory accounting: metric events (event 4,
//     Category/Counter/Instance/Value) for total, anon and cache memory and % processor time; peak and swap
//     hourly. Logged too when Debug.CgroupLogMetrics=y.
//   * Hourly: the machine's used and available memory (from /proc/meminfo, no `free` child).
//   * Debug.EnableAgentMemoryUsageCheck=y: once the goal state converged, anon + cache + swap of the agent's
//     cgroup above Debug.AgentMemoryQuota -> an AgentMemory event and the agent exits (systemd restarts it).
import { cpus } from 'node:os';
import type { Sysroot } from '../util/sysroot.ts';
import { readCgroupUsage, systemMemory, type CgroupUsage } from '../os/cgroup.ts';
import { AGENT_EVENTS_PROVIDER, type TelemetryEvent } from '../platform/telemetry.ts';
import { log } from '../util/logger.ts';
import { AGENT_NAME, AGENT_VERSION } from '../version.ts';
import { AgentError } from '../util/errors.ts';

export const HOUR_MS = 3600_000;

export function metricEvent(category: string, counter: string, instance: string, value: number): TelemetryEvent {
  return {
    providerId: AGENT_EVENTS_PROVIDER, eventId: 4,
    params: [
      { name: 'Category', value: category }, { name: 'Counter', value: counter },
      { name: 'Instance', value: instance }, { name: 'Value', value: { float: value } },
    ],
  };
}

export interface UsageOptions {
  root: Sysroot;
  emit: (e: TelemetryEvent) => void;
  logMetrics?: boolean;
  now?: () => number;
  /** Period of the hourly metrics (the test seam shortens it). */
  hourMs?: number;
  read?: () => CgroupUsage | null;
}

export class ResourceUsage {
  private readonly o: UsageOptions;
  private lastCpu: { usec: number; at: number } | null = null;
  private lastHourly = -Infinity;
  private lastSystem = -Infinity;
  private said = false;

  constructor(o: UsageOptions) { this.o = o; }

  /** One poll: returns the usage read (null: no cgroup accounting here). */
  poll(): CgroupUsage | null {
    const now = this.o.now?.() ?? Date.now();
    const hour = this.o.hourMs ?? HOUR_MS;
    const u = (this.o.read ?? (() => readCgroupUsage(this.o.root)))();
    if (now - this.lastSystem >= hour) {
      this.lastSystem = now;
      const m = systemMemory(this.o.root);
      if (m) {
        this.metric('Memory', 'Used Memory (MB)', '', m.usedMb);
        this.metric('Memory', 'Available Memory (MB)', '', m.availableMb);
      }
    }
    if (!u) {
      if (!this.said) { this.said = true; log.info('The agent\'s cgroup has no memory accounting here: no resource usage metrics'); }
      return null;
    }
    const instance = u.path.split('/').filter(Boolean).at(-1) ?? '/';
    this.metric('Memory', 'Total Memory Usage (B)', instance, u.anon + u.file);
    this.metric('Memory', 'Anon Memory Usage (B)', instance, u.anon);
    this.metric('Memory', 'Cache Memory Usage (B)', instance, u.file);
    if (now - this.lastHourly >= hour) {
      this.lastHourly = now;
      if (u.peak !== null) this.metric('Memory', 'Max Memory Usage (B)', instance, u.peak);
      this.metric('Memory', 'Swap Memory Usage (B)', instance, u.swap);
    }
    if (u.cpuUsec !== null) {
      if (this.lastCpu && now > this.lastCpu.at) {
        const pct = ((u.cpuUsec - this.lastCpu.usec) / ((now - this.lastCpu.at) * 1000 * Math.max(1, cpus().length))) * 100;
        this.metric('CPU', '% Processor Time', instance, Math.max(0, Math.round(pct * 1000) / 1000));
      }
      this.lastCpu = { usec: u.cpuUsec, at: now };
    }
    return u;
  }

  private metric(category: string, counter: string, instance: string, value: number): void {
    if (this.o.logMetrics) log.info(`Metric ${category}/${counter} [${instance}] = ${value}`);
    this.o.emit(metricEvent(category, counter, instance, value));
  }
}

export class AgentMemoryExceeded extends AgentError {
  static override readonly errorName: string = 'AgentMemoryExceeded';
}

/** 2.15's test: anon + cache + swap of the agent's cgroup against the quota (bytes). */
export function checkAgentMemory(u: CgroupUsage, quotaBytes: number): void {
  const used = u.anon + u.file + u.swap;
  if (used > quotaBytes) {
    throw new AgentMemoryExceeded(`The agent memory limit ${quotaBytes} bytes exceeded. The current reported usage is ${used} bytes.`);
  }
}

export interface UsageTaskOptions {
  usage: { poll(): CgroupUsage | null };
  /** Debug.EnableAgentMemoryUsageCheck. */
  check: boolean;
  /** Debug.AgentMemoryQuota, bytes. */
  quotaBytes: number;
  /** The extensions summary converged (2.15 checks only then). */
  converged: () => boolean;
  event: (operation: string, success: boolean, message: string) => void;
  /** Stops the agent (exit code 1; the service manager restarts it). */
  exit: (reason: string) => void;
}

/** The PollResourceUsage task: metrics, then 2.15's memory check. */
export function usageTask(o: UsageTaskOptions): () => void {
  return () => {
    const u = o.usage.poll();
    if (!o.check || !u || !o.converged()) return;
    try {
      checkAgentMemory(u, o.quotaBytes);
    } catch (e) {
      if (!(e instanceof AgentMemoryExceeded)) throw e;
      const msg = `Check on agent memory usage:\n${e.message}`;
      log.info(msg);
      o.event('AgentMemory', true, msg);
      o.exit(`Agent ${AGENT_NAME}-${AGENT_VERSION} is reached memory limit -- exiting`);
    }
  };
}
