// The 2.15 platform duties the goal-state loop carries besides extensions, built from the configuration:
// JIT remote access (after the status report, on a new incarnation), and the monitor's tasks (health
// heartbeats, the HeartBeat event, network errors, resource usage, the agent's memory check). Kept out of
// daemon.ts so the daemon only wires them.
import type { Invocation } from '../util/invocation.ts';
import type { AzureProtocol } from '../platform/protocol.ts';
import { decryptRemoteAccessPassword } from '../platform/remoteaccess.ts';
import { OpenSsl } from '../crypto/openssl.ts';
import { JitAccounts, RemoteAccessDuty } from './jit.ts';
import { agentOperationEvent, type EventQueue } from './telemetry.ts';
import { errorText, log } from '../util/logger.ts';
import { readdirSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { HttpTransport } from '../platform/http.ts';
import { reportObservations, type Observation } from '../platform/healthservice.ts';
import { ImdsClient } from '../platform/imds.ts';
import type { Scheduler } from './scheduler.ts';
import { GoalStateErrors, heartbeat, hostPluginHeartbeat, imdsHeartbeat, networkErrors, type EventSink } from './monitor.ts';
import { ResourceUsage, usageTask } from './usage.ts';
import { systemdRunning } from '../os/service.ts';
import { networkConfigurationTask } from './netconfig.ts';

export function remoteAccessDuty(ctx: Invocation, protocol: AzureProtocol, libDir: string, events: EventQueue): () => Promise<void> {
  const c = ctx.config;
  const openssl = c.str('OS.OpensslPath') || 'openssl';
  const ossl = new OpenSsl(openssl, ctx.runner);
  const event = (ok: boolean, msg: string) => events.push(agentOperationEvent('RemoteAccessHandling', ok, msg));
  const accounts = new JitAccounts({
    root: ctx.root, runner: ctx.runner,
    decrypt: async (enc) => decryptRemoteAccessPassword(ossl, enc, await protocol.wire.transportPair(), libDir),
    sudoersDir: c.str('OS.SudoersDir'), passwordPath: c.str('OS.PasswordPath'),
    cryptId: c.str('Provisioning.PasswordCryptId'), saltLength: c.int('Provisioning.PasswordCryptSaltLength'), openssl,
    event,
  });
  const duty = new RemoteAccessDuty({
    accounts,
    incarnation: () => protocol.wire.current?.incarnation ?? null,
    fetch: async () => { const gs = protocol.wire.current; return gs ? protocol.wire.fetchRemoteAccess(gs) : null; },
  });
  return async () => {
    try {
      await duty.run();
    } catch (e) {
      const msg = `Exception processing goal state for remote access users: ${errorText(e)}`;
      log.warn(msg);
      event(false, msg);
    }
  };
}

// ---- monitor, heartbeat, resource usage, the agent's memory check ------------------------------------

/** Test-only seam: shortens every fixed monitor period (heartbeat 30 min, health 1 min, network errors
 * 30 min, hourly metrics) to this many ms. Honoured only where the machine has no network interface but
 * `lo` (the VM-in-a-box's private namespace); on anything that can reach a real fabric it is ignored. */
export const TEST_PERIOD_ENV = 'WAAGENT_TEST_MONITOR_PERIOD_MS';

export function testMonitorPeriod(env: NodeJS.ProcessEnv = process.env, ifaces: () => string[] = listInterfaces): number | null {
  const v = env[TEST_PERIOD_ENV];
  if (v === undefined) return null;
  const n = Number(v);
  const names = ifaces();
  if (names.length !== 1 || names[0] !== 'lo') {
    log.warn(`${TEST_PERIOD_ENV} is ignored: it is a test seam honoured only without network interfaces other than lo (found: ${names.join(', ') || 'none'})`);
    return null;
  }
  if (!Number.isInteger(n) || n < 100 || n > 3_600_000) { log.warn(`${TEST_PERIOD_ENV}=${v} is ignored (100..3600000 ms)`); return null; }
  log.warn(`${TEST_PERIOD_ENV}=${n}: monitor periods shortened for a test`);
  return n;
}

function listInterfaces(): string[] {
  const sys = (() => { try { return readdirSync('/sys/class/net'); } catch { return []; } })();
  return [...new Set([...sys, ...Object.keys(networkInterfaces())])].sort();
}

export interface MonitorWiring {
  ctx: Invocation;
  protocol: AzureProtocol;
  transport: HttpTransport;
  scheduler: Scheduler;
  events: EventQueue;
  gsErrors: GoalStateErrors;
  /** The extensions summary converged (2.15 checks memory only then). */
  converged: () => boolean;
  /** Stops the agent with exit code 1 (memory quota exceeded). */
  exit: (reason: string) => void;
}

export function addMonitorTasks(w: MonitorWiring): void {
  const c = w.ctx.config;
  const seam = testMonitorPeriod();
  const p = (ms: number) => seam ?? ms;
  const event: EventSink = (op, ok, msg) => w.events.push(agentOperationEvent(op, ok, msg));
  const reporter = { post: (obs: Observation[]) => reportObservations(w.transport, w.protocol.wire.baseUrl, obs) };
  const imds = new ImdsClient({ transport: w.transport });
  w.scheduler.add({ name: 'SendHostPluginHeartbeat', periodMs: p(60_000), initialDelayMs: p(60_000), run: hostPluginHeartbeat({ health: () => w.protocol.hgap.health(), reporter, event }) });
  w.scheduler.add({ name: 'SendImdsHeartbeat', periodMs: p(60_000), initialDelayMs: p(60_000), run: imdsHeartbeat({ validate: () => imds.validate(), reporter, event }) });
  w.scheduler.add({ name: 'ReportNetworkErrors', periodMs: p(30 * 60_000), initialDelayMs: p(30 * 60_000), run: networkErrors(event) });
  w.scheduler.add({ name: 'HeartBeat', periodMs: p(30 * 60_000), run: heartbeat({ event, updateGsErrors: () => w.gsErrors.takeForHeartbeat() }) });
  const usage = new ResourceUsage({ root: w.ctx.root, emit: (e) => w.events.push(e), logMetrics: c.bool('Debug.CgroupLogMetrics'), ...(seam ? { hourMs: seam } : {}) });
  const checkMs = seam ?? Math.max(1, c.int('Debug.CgroupCheckPeriod')) * 1000;
  w.scheduler.add({
    name: 'PollResourceUsage', periodMs: checkMs, initialDelayMs: checkMs,
    run: usageTask({ usage, check: c.bool('Debug.EnableAgentMemoryUsageCheck'), quotaBytes: c.int('Debug.AgentMemoryQuota'), converged: w.converged, event, exit: w.exit }),
  });
  // Logged once a minute after start (not at start-up), or watched every minute when the key says so.
  const watch = c.bool('Monitor.NetworkConfigurationChanges');
  const net = networkConfigurationTask(w.ctx.root, watch);
  w.scheduler.add({ name: 'ReportNetworkConfigurationChanges', periodMs: watch ? p(60_000) : 24 * 3600_000, initialDelayMs: p(60_000), run: net });
  if (!systemdRunning(w.ctx.root)) {
    log.info('systemd is not running: Debug.AgentCpuQuota is not applied (it is the CPUQuota of the waagent.service unit) and the log collector runs without its cgroup limits; Debug.EnableAgentMemoryUsageCheck needs a cgroup with memory accounting');
  }
}
