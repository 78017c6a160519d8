// The daemon's duty table (src/agent/tasks/): each duty reads its own keys and hands its tasks to the scheduler;
// the set-up order and the periods are what runAgent used to register inline. Tasks are built, never run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configFromText } from '../../src/config/config.ts';
import { RecordingRunner } from '../../src/util/exec.ts';
import { MemoryOutput } from '../../src/util/output.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import type { Invocation } from '../../src/util/invocation.ts';
import { detectDistro } from '../../src/os/distro.ts';
import { HttpClient } from '../../src/platform/http.ts';
import { AzureProtocol } from '../../src/platform/protocol.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { Scheduler, type PeriodicTask } from '../../src/agent/scheduler.ts';
import { EventQueue, agentOperationEvent } from '../../src/agent/telemetry.ts';
import { SummaryTracker } from '../../src/agent/summary.ts';
import { GoalStateErrors } from '../../src/agent/monitor.ts';
import { DUTIES } from '../../src/agent/tasks/index.ts';
import type { DutyContext } from '../../src/agent/tasks/context.ts';

const flags = { verbose: false, force: false, full: false, debug: false, dryRun: false };

async function tasksFor(t: { after(fn: () => void): void }, conf: string, monitorPeriodMs: number | null = null): Promise<{ tasks: PeriodicTask[]; d: DutyContext }> {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-tasks-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = new Sysroot(dir);
  const runner = new RecordingRunner();
  const ctx: Invocation = {
    command: 'daemon', args: { flags }, config: configFromText(conf, 'waagent.conf'), configPath: '/etc/waagent.conf',
    root, runner, io: new MemoryOutput(), self: ['/opt/bin/waagent'],
  };
  const libDir = root.path('/var/lib/waagent');
  const transport = new HttpClient({ directHosts: ['127.0.0.1'] });
  const openssl = new OpenSsl('openssl', runner);
  const conn = { endpoint: '127.0.0.1:9', host: '127.0.0.1', libDir, transport, openssl, close: () => transport.close() };
  const events = new EventQueue(10, join(libDir, 'events'));
  const event = (op: string, ok: boolean, msg: string) => events.push(agentOperationEvent(op, ok, msg));
  const d: DutyContext = {
    ctx, distro: detectDistro(root), libDir, extLogDir: root.path('/var/log/azure'), conn,
    protocol: new AzureProtocol({ endpoint: conn.endpoint, libDir, transport, openssl }),
    events, event, scheduler: new Scheduler(),
    summary: new SummaryTracker(libDir, { event: () => undefined, initialCompleted: () => undefined }),
    gsErrors: new GoalStateErrors(event), monitorPeriodMs,
    hooks: { agentProblem: () => null, initialCompleted: () => undefined },
    exit: () => undefined,
  };
  const tasks: PeriodicTask[] = [];
  for (const duty of DUTIES) tasks.push(...await duty(d));
  return { tasks, d };
}

const byName = (tasks: PeriodicTask[]) => new Map(tasks.map((x) => [x.name, x]));

test('duty table, defaults: the tasks in set-up order with their periods; off-by-default duties add none', async (t) => {
  const { tasks, d } = await tasksFor(t, 'Logs.Collect=n\n');
  assert.deepEqual(tasks.map((x) => x.name), [
    'SendHostPluginHeartbeat', 'SendImdsHeartbeat', 'ReportNetworkErrors', 'HeartBeat', 'PollResourceUsage',
    'ReportNetworkConfigurationChanges', 'ProcessGoalState', 'RemovePersistentNetworkRules', 'MonitorDhcpClientRestart', 'SendTelemetry',
  ]);
  const m = byName(tasks);
  assert.deepEqual([m.get('SendHostPluginHeartbeat')!.periodMs, m.get('SendHostPluginHeartbeat')!.initialDelayMs], [60_000, 60_000]);
  assert.deepEqual([m.get('HeartBeat')!.periodMs, m.get('HeartBeat')!.initialDelayMs], [1_800_000, undefined]);
  assert.equal(m.get('PollResourceUsage')!.periodMs, 300_000);
  assert.equal(m.get('ReportNetworkConfigurationChanges')!.periodMs, 24 * 3600_000, 'not watched: once a day after the first minute');
  assert.deepEqual([m.get('ProcessGoalState')!.periodMs, m.get('ProcessGoalState')!.maxBackoffMs], [6000, 60_000]);
  assert.deepEqual([m.get('SendTelemetry')!.periodMs, m.get('SendTelemetry')!.initialDelayMs], [300_000, 60_000]);
  assert.equal(d.hooks.agentProblem(), null, 'no firewall: no agent problem');
});

test('duty table: each duty reads its own keys (log collection, hostname, SCSI timeout, initial goal-state period, disabled extensions, test seam)', async (t) => {
  const on = byName((await tasksFor(t, [
    'Logs.CollectPeriod=7200', 'Debug.LogCollectorInitialDelay=600', 'Provisioning.MonitorHostName=y', 'Provisioning.MonitorHostNamePeriod=45',
    'OS.RootDeviceScsiTimeout=300', 'OS.RootDeviceScsiTimeoutPeriod=40', 'Extensions.InitialGoalStatePeriod=2', 'Extensions.GoalStatePeriod=20',
    'Monitor.NetworkConfigurationChanges=y', '',
  ].join('\n'))).tasks);
  assert.deepEqual([on.get('CollectLogs')!.periodMs, on.get('CollectLogs')!.initialDelayMs], [7_200_000, 600_000]);
  assert.equal(on.get('MonitorHostNameChanges')!.periodMs, 45_000);
  assert.equal(on.get('SetRootDeviceScsiTimeout')!.periodMs, 40_000);
  assert.equal(on.get('ProcessGoalState')!.periodMs, 2000, 'InitialGoalStatePeriod until the first goal state converged');
  assert.equal(on.get('ReportNetworkConfigurationChanges')!.periodMs, 60_000);
  const off = byName((await tasksFor(t, 'Extensions.Enabled=n\nLogs.Collect=n\n')).tasks);
  assert.equal(off.get('ProcessGoalState')!.periodMs, 300_000, 'Extensions.Enabled=n: status only, every 5 minutes');
  assert.equal(off.has('CollectLogs'), false);
  const seam = byName((await tasksFor(t, 'Logs.Collect=n\n', 500)).tasks);
  for (const n of ['SendHostPluginHeartbeat', 'SendImdsHeartbeat', 'ReportNetworkErrors', 'HeartBeat', 'PollResourceUsage']) assert.equal(seam.get(n)!.periodMs, 500, n);
});
