// 2.15's monitor and heartbeat end to end: the BUILT dist/waagent -run-exthandlers in the VM-in-a-box (root,
// namespaces) with the monitor periods shortened through the test-only seam (honoured only because the box
// has no interface but lo); Extensions.InitialGoalStatePeriod until the first goal state converged. The simulator sees: HostGAPlugin /health and IMDS heartbeats with their
// HealthService observations (unhealthy after a run of failures), the HeartBeat event with a growing counter,
// an HttpErrors event counting the failed requests, FetchGoalState error and recovery events, and the
// agent's resource-usage metric events from its cgroup (the kernel's accounting mounted read-only in the box).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Box, PROJECT } from '../sandbox/box.ts';
import { baseScenario, until } from '../fabric/testing.ts';

const DIST = join(PROJECT, 'dist', 'waagent');
const skip = process.getuid?.() !== 0 ? 'needs root (namespaces)' : !existsSync(DIST) ? 'dist/waagent is not built (npm test builds it)' : false;
const CONF = ['Extensions.GoalStatePeriod=2', 'Extensions.InitialGoalStatePeriod=1', 'Debug.EtpCollectionPeriod=1', 'Debug.CgroupCheckPeriod=1', 'Logs.Collect=n', 'Logs.Console=n', ''].join('\n');

interface Ev { op?: string; ok?: string; message?: string; eventId: string; params: Record<string, string> }

/** Events of every telemetrydata POST, parsed from the CDATA parameter lists. */
function eventsOf(bodies: string[]): Ev[] {
  const out: Ev[] = [];
  for (const b of bodies) {
    for (const m of b.matchAll(/<Event id="(\d+)"><!\[CDATA\[(.*?)\]\]><\/Event>/gs)) {
      const params: Record<string, string> = {};
      for (const p of m[2]!.matchAll(/<Param Name="([^"]+)" Value=(?:"([^"]*)"|'([^']*)')/g)) params[p[1]!] = (p[2] ?? p[3]!).replace(/&quot;/g, '"').replace(/&amp;/g, '&');
      out.push({ eventId: m[1]!, op: params['Operation'], ok: params['OperationSuccess'], message: params['Message'], params });
    }
  }
  return out;
}

test('monitor in the box (root, namespaces): health heartbeats, HeartBeat, HttpErrors, FetchGoalState, metrics, seen by the simulator', { skip, timeout: 180_000 }, async () => {
  const box = await Box.start({
    scenario: baseScenario({
      vmSettings: false, extensions: [],
      faults: [
        // HostGAPlugin /health fails for a while: observations turn unhealthy only after the failures have lasted.
        { endpoint: 'hgap', path: '/health', action: 'status', status: 500, count: 3 },
        // Three goal-state fetches fail after the first few: FetchGoalState errors, then the recovery.
        { endpoint: 'wire', path: 'comp=goalstate', action: 'status', status: 400, count: 3, skip: 3 },
      ],
    }),
    files: { '/etc/waagent.conf': CONF },
  });
  try {
    const fabric = box.fabric!;
    // The box has no cgroupfs: mount this kernel's memory (and CPU) accounting in the box's own mount
    // namespace, read-only for the agent, so its resource usage can be measured as on a VM.
    const v1 = /^\d+:memory:/m.test(readFileSync('/proc/self/cgroup', 'utf8'));
    const mounted = await box.run(['sh', '-c', v1
      ? 'mount -t tmpfs cgroups /sys/fs/cgroup && mkdir /sys/fs/cgroup/memory /sys/fs/cgroup/cpuacct && mount -t cgroup -o ro,memory cgroup /sys/fs/cgroup/memory && mount -t cgroup -o ro,cpuacct cgroup /sys/fs/cgroup/cpuacct'
      : 'mount -t cgroup2 -o ro cgroup2 /sys/fs/cgroup']);
    assert.equal(mounted.code, 0, mounted.stderr);
    const agent = box.spawn([DIST, '-run-exthandlers'], { env: { WAAGENT_TEST_MONITOR_PERIOD_MS: '1000' } });
    try {
      const bodies = async () => (await fabric.requests({ endpoint: 'wire', path: 'comp=telemetrydata' })).map((r) => String(r.body));
      const evs = await until(async () => eventsOf(await bodies()), (e) => e.filter((x) => x.op === 'HeartBeat').length >= 3
        && e.some((x) => x.op === 'HttpErrors') && e.some((x) => x.op === 'FetchGoalState' && x.ok === 'True'), 90_000);
      const beats = evs.filter((x) => x.op === 'HeartBeat');
      assert.match(beats[0]!.message!, /^HeartbeatCounter: 0;HeartbeatId: [0-9A-F-]{36};UpdateGSErrors: \d+;AutoUpdate: 0;UpdateMode: None;$/);
      assert.match(beats[2]!.message!, /^HeartbeatCounter: 2;/);
      assert.equal(beats[0]!.params['Name'], 'WALinuxAgent');
      assert.equal(beats[0]!.eventId, '1');
      assert.ok(beats.some((b) => /UpdateGSErrors: [1-9]/.test(b.message!)), 'goal-state errors counted in a heartbeat');
      const http = evs.find((x) => x.op === 'HttpErrors')!;
      assert.match(http.message!, /^hostplugin:\d+;protocol:\d+;other:\d+$/);
      assert.ok(evs.filter((x) => x.op === 'HttpErrors').some((x) => /hostplugin:[1-9]/.test(x.message!)) || /protocol:[1-9]/.test(http.message!));
      const fetch = evs.filter((x) => x.op === 'FetchGoalState');
      assert.match(fetch.find((x) => x.ok === 'False')!.message!, /^Error fetching the goal state: /);
      assert.match(fetch.find((x) => x.ok === 'True')!.message!, /^Fetching the goal state recovered from previous errors/);
      assert.ok(fetch.filter((x) => x.ok === 'False').length <= 4, 'at most 3 at once, then one per 6 hours');
      assert.ok(box.agentLog().includes('[HEARTBEAT] Agent WALinuxAgent-3.0.0.0 is running as the goal state agent'));
      // Extensions.InitialGoalStatePeriod until the first goal state converged (here: nothing to run), then the normal one.
      assert.match(box.agentLog(), /Goal State Period: 1 sec\./);
      assert.match(box.agentLog(), /Initial goal state completed, switched the goal state period to 2/);
      assert.ok(box.exists('/var/lib/waagent/initial_goal_state'));

      // Health: /health and IMDS polled; HealthService got both observations; the plugin's was unhealthy while
      // /health kept failing (3 failures over >= 2 periods is under 2.15's 5 minutes: still healthy here).
      const hs = (await fabric.requests({ endpoint: 'wire', path: '/HealthService' })).map((r) => JSON.parse(String(r.body)) as { Api: string; Source: string; Observations: { ObservationName: string; IsHealthy: boolean }[] });
      assert.ok(hs.length >= 2);
      assert.equal(hs[0]!.Api, 'reporttargethealth');
      assert.equal(hs[0]!.Source, 'WALinuxAgent');
      const names = new Set(hs.flatMap((h) => h.Observations.map((o) => o.ObservationName)));
      assert.ok(names.has('GuestAgentPluginHeartbeat') && names.has('InstanceMetadataHeartbeat'), [...names].join(','));
      assert.ok((await fabric.requests({ endpoint: 'hgap', path: '/health' })).length >= 2);
      const imds = await fabric.requests({ endpoint: 'imds', path: '/metadata/instance?api-version=2018-02-01' });
      assert.ok(imds.length >= 1);
      assert.equal(imds[0]!.headers['metadata'], 'true');

      // Resource usage from the agent's cgroup: metric events (event 4), memory and then CPU.
      const withCpu = await until(async () => eventsOf(await bodies()).filter((x) => x.eventId === '4'), (m) => m.some((x) => x.params['Counter'] === '% Processor Time'), 30_000);
      assert.doesNotMatch(box.agentLog(), /no resource usage metrics/);
      const total = withCpu.find((m) => m.params['Category'] === 'Memory' && m.params['Counter'] === 'Total Memory Usage (B)')!;
      assert.ok(Number(total.params['Value']) > 0, JSON.stringify(total));
      assert.notEqual(total.params['Instance'], '');
      assert.ok(withCpu.some((m) => m.params['Counter'] === 'Available Memory (MB)'), 'system memory metrics');
      assert.deepEqual(await fabric.violations(), []);
    } finally {
      agent.kill('SIGTERM');
      await agent.wait(30_000);
    }
  } finally {
    await box.close();
  }
});
