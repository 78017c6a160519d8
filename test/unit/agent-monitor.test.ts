// 2.15's monitor duties as pure pieces: ErrorState, the HostGAPlugin and IMDS heartbeats (observations,
// HealthObservation/HostPluginHeartbeatExtended events), IMDS validate on a fake transport, the HttpErrors
// counts, the HeartBeat message, FetchGoalState throttling, cgroup usage and metric events read from a fake
// cgroupfs, the agent memory check, the spool spill of the event queue, and the test seam's guard.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorState, GoalStateErrors, heartbeat, hostPluginHeartbeat, imdsHeartbeat, networkErrors } from '../../src/agent/monitor.ts';
import { AgentMemoryExceeded, ResourceUsage, checkAgentMemory } from '../../src/agent/usage.ts';
import { EventQueue, collectSpool } from '../../src/agent/telemetry.ts';
import { testMonitorPeriod, TEST_PERIOD_ENV } from '../../src/agent/tasks/monitor-period.ts';
import { parseProcCgroup, readCgroupUsage, systemMemory } from '../../src/os/cgroup.ts';
import { ImdsClient } from '../../src/platform/imds.ts';
import { countIoError, setWireServerHost, takeIoErrors } from '../../src/platform/ioerrors.ts';
import { sendWithRetry, NO_RETRY } from '../../src/platform/retry.ts';
import { agentOperationEvent } from '../../src/agent/telemetry.ts';
import { TransportError } from '../../src/platform/errors.ts';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/platform/http.ts';
import type { Observation } from '../../src/platform/healthservice.ts';
import { Sysroot } from '../../src/util/sysroot.ts';

type Ev = [string, boolean, string];
const resp = (status: number, body = ''): HttpResponse => ({ status, headers: {}, body: Buffer.from(body) });
class Fake implements HttpTransport {
  calls: HttpRequest[] = [];
  private readonly h: (r: HttpRequest) => HttpResponse | 'reset';
  constructor(h: (r: HttpRequest) => HttpResponse | 'reset') { this.h = h; }
  async send(r: HttpRequest): Promise<HttpResponse> {
    this.calls.push(r);
    const a = this.h(r);
    if (a === 'reset') throw new TransportError(r.doc, 'reset', 'ECONNRESET');
    return a;
  }
}

test('ErrorState: triggered only after failures lasted the minimum; fail time in minutes/hours; reset', () => {
  let now = 0;
  const s = new ErrorState(300_000, () => now);
  assert.equal(s.triggered, false);
  assert.equal(s.failTime, 'unknown');
  s.incr();
  now = 299_999;
  s.incr();
  assert.equal(s.triggered, false);
  now = 300_000;
  assert.equal(s.triggered, true);
  assert.equal(s.failTime, '5 min');
  now = 2 * 3600_000;
  assert.equal(s.failTime, '2 hr');
  s.reset();
  assert.equal(s.triggered, false);
});

test('HostGAPlugin heartbeat: healthy observation, unhealthy after 5 min of failures (+ events), exceptions evented and thrown', async () => {
  let now = 0;
  let healthy = true;
  const posted: Observation[][] = [];
  const events: Ev[] = [];
  const run = hostPluginHeartbeat({ health: async () => healthy, reporter: { post: async (o) => { posted.push(o); } }, event: (a, b, c) => events.push([a, b, c]), now: () => now });
  await run();
  assert.deepEqual(posted.at(-1), [{ name: 'GuestAgentPluginHeartbeat', isHealthy: true }]);
  healthy = false;
  await run();
  assert.equal(posted.at(-1)![0]!.isHealthy, true, 'one failure is not unhealthy');
  now = 5 * 60_000;
  await run();
  assert.equal(posted.at(-1)![0]!.isHealthy, false);
  assert.deepEqual(events.map((e) => e[0]), ['HealthObservation', 'HostPluginHeartbeatExtended']);
  assert.match(events[1]![2], /^5 min since successful heartbeat$/);
  assert.match(events[0]![2], /"ObservationName":"GuestAgentPluginHeartbeat","IsHealthy":false/);
  // A HealthService that cannot be reached is logged, not fatal.
  const quiet = hostPluginHeartbeat({ health: async () => true, reporter: { post: async () => { throw new Error('down'); } }, event: () => undefined });
  await quiet();
  const boom = hostPluginHeartbeat({ health: async () => { throw new Error('boom'); }, reporter: { post: async () => undefined }, event: (a, b, c) => events.push([a, b, c]) });
  await assert.rejects(boom, /boom/);
  assert.equal(events.at(-1)![0], 'HostPluginHeartbeat');
});

test('IMDS validate: 200 with the network fields healthy; missing field or 5xx unhealthy; connection failure and 404 healthy', async () => {
  const doc = { network: { interface: [{ macAddress: '000D3A', ipv4: { ipAddress: [{ privateIpAddress: '10.0.0.4' }] } }] } };
  let answer: HttpResponse | 'reset' = resp(200, JSON.stringify(doc));
  const t = new Fake(() => answer);
  const c = new ImdsClient({ transport: t, baseUrl: 'http://127.0.0.1:1' });
  assert.deepEqual(await c.validate(), { healthy: true, response: '' });
  assert.equal(t.calls[0]!.url, 'http://127.0.0.1:1/metadata/instance?api-version=2018-02-01');
  assert.equal(t.calls[0]!.headers?.['Metadata'], 'true');
  answer = resp(200, JSON.stringify({ network: { interface: [{ ipv4: {} }] } }));
  assert.deepEqual(await c.validate(), { healthy: false, response: 'Missing field: [macAddress]' });
  answer = resp(200, 'not json');
  assert.equal((await c.validate()).healthy, false);
  answer = resp(500);
  assert.equal((await c.validate()).healthy, false);
  answer = resp(404);
  assert.equal((await c.validate()).healthy, true);
  answer = 'reset';
  assert.equal((await c.validate()).healthy, true);
  // The heartbeat: unhealthy after 3 minutes of service failures; the response goes along as the value.
  let now = 0;
  const posted: Observation[][] = [];
  const run = imdsHeartbeat({ validate: async () => ({ healthy: false, response: 'IMDS error: HTTP 500' }), reporter: { post: async (o) => { posted.push(o); } }, event: () => undefined, now: () => now });
  await run();
  now = 3 * 60_000;
  await run();
  assert.deepEqual(posted.map((p) => p[0]!.isHealthy), [true, false]);
  assert.equal(posted[1]![0]!.value, 'IMDS error: HTTP 500');
  assert.equal(posted[1]![0]!.name, 'InstanceMetadataHeartbeat');
});

test('HttpErrors: failed requests counted per endpoint class through sendWithRetry; one event when any, then zero', async () => {
  takeIoErrors();
  setWireServerHost('168.63.129.16');
  const t = new Fake((r) => (r.url.includes('32526') ? resp(503) : r.url.includes('169.254') ? 'reset' : resp(500)));
  await sendWithRetry(t, { method: 'GET', url: 'http://168.63.129.16:32526/health', doc: 'h' }, NO_RETRY).catch(() => undefined);
  await sendWithRetry(t, { method: 'GET', url: 'http://168.63.129.16/machine/?comp=goalstate', doc: 'g' }, NO_RETRY).catch(() => undefined);
  await sendWithRetry(t, { method: 'GET', url: 'http://169.254.169.254/metadata/instance', doc: 'i' }, NO_RETRY).catch(() => undefined);
  countIoError('not a url');
  const events: Ev[] = [];
  const run = networkErrors((a, b, c) => events.push([a, b, c]));
  run();
  assert.deepEqual(events, [['HttpErrors', true, 'hostplugin:1;protocol:1;other:2']]);
  run();
  assert.equal(events.length, 1, 'nothing failed since: no event');
});

test('HeartBeat: counter grows, one id, goal-state errors since the last one; FetchGoalState: 3 at once, then every 6 h, recovery', () => {
  const events: Ev[] = [];
  let now = 0;
  const gs = new GoalStateErrors((a, b, c) => events.push([a, b, c]), () => now);
  const beat = heartbeat({ event: (a, b, c) => events.push([a, b, c]), updateGsErrors: () => gs.takeForHeartbeat() });
  beat();
  for (let i = 0; i < 5; i++) gs.failed(new Error(`503 #${i}`));
  now = 6 * 3600_000 + 1;
  gs.failed(new Error('503 again'));
  gs.succeeded('incarnation 7');
  beat();
  const beats = events.filter((e) => e[0] === 'HeartBeat').map((e) => e[2]);
  assert.match(beats[0]!, /^HeartbeatCounter: 0;HeartbeatId: ([0-9A-F-]{36});UpdateGSErrors: 0;AutoUpdate: 0;UpdateMode: None;$/);
  assert.match(beats[1]!, /^HeartbeatCounter: 1;.*UpdateGSErrors: 6;/);
  assert.equal(beats[0]!.split(';')[1], beats[1]!.split(';')[1], 'same HeartbeatId');
  const fetch = events.filter((e) => e[0] === 'FetchGoalState');
  // As 2.15: errors 1-3 at once; the 4th opens the 6-hour window (reported), the 5th is not, the next after 6 h is.
  assert.deepEqual(fetch.map((e) => e[1]), [false, false, false, false, false, true]);
  assert.match(fetch[3]![2], /^Fetching the goal state is still failing: 503 #3/);
  assert.match(fetch[4]![2], /^Fetching the goal state is still failing: 503 again/);
  assert.match(fetch[5]![2], /recovered from previous errors\. Fetched incarnation 7/);
});

function cgroupRoot(v: 1 | 2): { dir: string; root: Sysroot } {
  const dir = mkdtempSync(join(tmpdir(), 'cg-'));
  const w = (p: string, t: string) => { mkdirSync(join(dir, p, '..'), { recursive: true }); writeFileSync(join(dir, p), t); };
  w('proc/meminfo', 'MemTotal:        8000000 kB\nMemFree:         1000000 kB\nMemAvailable:    6000000 kB\n');
  if (v === 2) {
    w('proc/self/cgroup', '0::/system.slice/waagent.service\n');
    w('sys/fs/cgroup/system.slice/waagent.service/memory.stat', 'anon 20000000\nfile 15000000\nkernel 1000\n');
    w('sys/fs/cgroup/system.slice/waagent.service/memory.swap.current', '1000\n');
    w('sys/fs/cgroup/system.slice/waagent.service/memory.peak', '40000000\n');
    w('sys/fs/cgroup/system.slice/waagent.service/cpu.stat', 'usage_usec 5000000\nthrottled_usec 7\n');
  } else {
    w('proc/self/cgroup', '12:memory:/system.slice/waagent.service\n4:cpu,cpuacct:/system.slice/waagent.service\n1:name=systemd:/system.slice/waagent.service\n');
    w('sys/fs/cgroup/memory/system.slice/waagent.service/memory.stat', 'cache 3000\nrss 9000\nswap 10\ntotal_rss 9999\n');
    w('sys/fs/cgroup/memory/system.slice/waagent.service/memory.max_usage_in_bytes', '20000\n');
    w('sys/fs/cgroup/cpu,cpuacct/system.slice/waagent.service/cpuacct.usage', '2000000000\n');
  }
  return { dir, root: new Sysroot(dir) };
}

test('cgroup usage (v2 and v1 fake cgroupfs), metric events, system memory; no accounting -> null', (t) => {
  const v2 = cgroupRoot(2);
  const v1 = cgroupRoot(1);
  t.after(() => { rmSync(v2.dir, { recursive: true, force: true }); rmSync(v1.dir, { recursive: true, force: true }); });
  assert.deepEqual(parseProcCgroup('0::/a\n'), { v2: '/a' });
  assert.deepEqual(readCgroupUsage(v2.root), { version: 2, path: '/system.slice/waagent.service', anon: 20_000_000, file: 15_000_000, swap: 1000, peak: 40_000_000, cpuUsec: 5_000_000, throttledUsec: 7 });
  assert.deepEqual(readCgroupUsage(v1.root), { version: 1, path: '/system.slice/waagent.service', anon: 9000, file: 3000, swap: 10, peak: 20000, cpuUsec: 2_000_000, throttledUsec: null });
  assert.deepEqual(systemMemory(v2.root), { usedMb: 1953, availableMb: 5859 });
  assert.equal(readCgroupUsage(new Sysroot(join(v2.dir, 'none'))), null);

  const events: { params: { name: string; value: unknown }[]; eventId: number }[] = [];
  let now = 1_000_000;
  const u = new ResourceUsage({ root: v2.root, emit: (e) => events.push(e), now: () => now });
  u.poll();
  const names = events.map((e) => `${e.params[0]!.value}/${e.params[1]!.value}/${e.params[2]!.value}`);
  assert.deepEqual(names, ['Memory/Used Memory (MB)/', 'Memory/Available Memory (MB)/', 'Memory/Total Memory Usage (B)/waagent.service',
    'Memory/Anon Memory Usage (B)/waagent.service', 'Memory/Cache Memory Usage (B)/waagent.service', 'Memory/Max Memory Usage (B)/waagent.service', 'Memory/Swap Memory Usage (B)/waagent.service']);
  assert.ok(events.every((e) => e.eventId === 4));
  assert.deepEqual(events[2]!.params[3], { name: 'Value', value: { float: 35_000_000 } });
  events.length = 0;
  now += 1000;
  u.poll();
  assert.deepEqual(events.map((e) => e.params[1]!.value), ['Total Memory Usage (B)', 'Anon Memory Usage (B)', 'Cache Memory Usage (B)', '% Processor Time'], 'hourly ones not again; CPU from the second poll');
});

test('agent memory check: anon + cache + swap against the quota', () => {
  const u = { version: 2 as const, path: '/x', anon: 20, file: 10, swap: 1, peak: null, cpuUsec: null, throttledUsec: null };
  checkAgentMemory(u, 31);
  assert.throws(() => checkAgentMemory(u, 30), (e: unknown) => e instanceof AgentMemoryExceeded && /The agent memory limit 30 bytes exceeded\. The current reported usage is 31 bytes\./.test((e as Error).message));
});

test('EventQueue: overflow and shutdown go to the spool (time kept, caps respected), read back whole', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const q = new EventQueue(2, join(dir, 'events'));
  const time = new Date('2030-01-02T03:04:05.678Z');
  q.push(agentOperationEvent('A', true, 'one'), time);
  q.push(agentOperationEvent('B', true, 'two'), time);
  q.push(agentOperationEvent('C', true, 'three'), time);
  assert.equal(q.size, 2);
  assert.equal(readdirSync(join(dir, 'events')).length, 1, 'the oldest spilled, not lost');
  assert.equal(q.spill(), 2);
  assert.equal(q.size, 0);
  const back = collectSpool(join(dir, 'events'), 10).events;
  assert.deepEqual(back.map((e) => e.params.find((p) => p.name === 'Operation')?.value).sort(), ['A', 'B', 'C']);
  assert.equal(back[0]!.params.find((p) => p.name === 'OpcodeName')?.value, '2030-01-02T03:04:05.678000Z');
  assert.equal(readdirSync(join(dir, 'events')).length, 0);
});

test('test seam: honoured only with lo alone, bounded; ignored (with a warning) where a real interface exists', () => {
  assert.equal(testMonitorPeriod({}, () => ['lo']), null);
  assert.equal(testMonitorPeriod({ [TEST_PERIOD_ENV]: '1000' }, () => ['lo']), 1000);
  assert.equal(testMonitorPeriod({ [TEST_PERIOD_ENV]: '1000' }, () => ['eth0', 'lo']), null);
  assert.equal(testMonitorPeriod({ [TEST_PERIOD_ENV]: '1000' }, () => []), null);
  assert.equal(testMonitorPeriod({ [TEST_PERIOD_ENV]: '5' }, () => ['lo']), null);
  assert.equal(testMonitorPeriod({ [TEST_PERIOD_ENV]: 'x' }, () => ['lo']), null);
});
