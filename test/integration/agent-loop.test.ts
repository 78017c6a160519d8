// The goal-state loop against the fabric simulator on 127.0.0.1 only (fast clock for retries): the idle
// cycle is one goal-state GET and one status upload; a new incarnation is processed once; a failing goal
// state still gets the status uploaded; Extensions.Enabled=n reports without running anything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { baseScenario } from '../fabric/testing.ts';
import { ExtensionsExecutor } from '../../src/extensions/executor.ts';
import { platformArtifactSource } from '../../src/extensions/artifacts.ts';
import { GoalStateLoop } from '../../src/agent/loop.ts';
import { GoalStateHistory } from '../../src/agent/history.ts';
import { quickClock } from '../helpers/clock.ts';
import { openProtocol } from '../helpers/protocol.ts';

const clock = quickClock();

async function setup(scenario: Record<string, unknown>, enabled = true, agentProblem?: () => string | null) {
  const { f, p: protocol, roots, http, close } = await openProtocol(scenario, { clock });
  const executor = new ExtensionsExecutor({
    roots, wireServer: '127.0.0.1', extensionsEnabled: enabled, artifacts: platformArtifactSource(protocol.artifacts),
    baseEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, statusRead: { retryDelayMs: 0 },
  });
  const loop = new GoalStateLoop({ protocol, executor, history: new GoalStateHistory(roots.libDir), guestOS: () => ({ computerName: 'vm', osName: 'flatcar', osVersion: '1' }), ...(agentProblem ? { agentProblem } : {}) });
  return { f, http, loop, close };
}

test('loop (loopback): first cycle processes, idle cycles are one goal-state GET + one status PUT, a new incarnation is processed once', async () => {
  const s = await setup(baseScenario({ vmSettings: false }));
  try {
    const c1 = await s.loop.cycle();
    assert.deepEqual(c1, { polled: true, processed: 'incarnation_1', uploaded: true });
    const before = s.f.requests().length;
    for (let i = 0; i < 5; i++) assert.deepEqual(await s.loop.cycle(), { polled: true, processed: null, uploaded: true });
    const idle = s.f.requests().slice(before).map((q) => `${q.endpoint} ${q.method} ${q.url.replace(/\?.*comp=/, '?comp=')}`);
    assert.equal(idle.filter((x) => x === 'wire GET /machine/?comp=goalstate').length, 5);
    assert.equal(idle.filter((x) => x.startsWith('hgap PUT /status')).length, 5);
    assert.equal(idle.length, 10, idle.join('\n'));
    await s.f.update({ extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 7, publicSettings: { message: 'two' }, protectedSettings: { secret: 'x' } }] });
    assert.equal((await s.loop.cycle()).processed, 'incarnation_2');
    assert.equal((await s.loop.cycle()).processed, null);
    const last = s.f.statusUploads().at(-1)!.json as { aggregateStatus: { handlerAggregateStatus: { runtimeSettingsStatus: { sequenceNumber: number } }[]; vmArtifactsAggregateStatus: { goalStateAggregateStatus: { inSvdSeqNo: string } } } };
    assert.equal(last.aggregateStatus.handlerAggregateStatus[0]!.runtimeSettingsStatus.sequenceNumber, 7);
    assert.equal(last.aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus.inSvdSeqNo, '2');
    assert.equal(s.loop.stats.processed, 2);
  } finally { await s.close(); }
});

test('loop (loopback): the goal state failing still uploads the last status, then the error is thrown for the scheduler', async () => {
  const s = await setup(baseScenario({ vmSettings: false, faults: [{ endpoint: 'wire', path: 'comp=goalstate', action: 'status', status: 500, count: 6, skip: 1 }] }));
  try {
    await s.loop.cycle();
    const n = s.f.statusUploads().length;
    await assert.rejects(s.loop.cycle(), /500/);
    assert.equal(s.f.statusUploads().length, n + 1, 'status uploaded although the poll failed');
    assert.deepEqual(await s.loop.cycle(), { polled: true, processed: null, uploaded: true });
  } finally { await s.close(); }
});

test('loop (loopback): Extensions.Enabled=n reports the handler as not processed (1009), runs nothing', async () => {
  const s = await setup(baseScenario({ vmSettings: false }), false);
  try {
    await s.loop.cycle();
    const doc = s.f.statusUploads().at(-1)!.json as { aggregateStatus: { handlerAggregateStatus: { status: string; code: number; formattedMessage?: { message: string } }[] } };
    const h = doc.aggregateStatus.handlerAggregateStatus[0]!;
    assert.equal(h.status, 'NotReady');
    assert.equal(h.code, 1009);
    assert.match(h.formattedMessage!.message, /extension processing is disabled/);
    assert.equal(s.f.requests().filter((q) => q.url.includes('/extensions/')).length, 0, 'no download');
  } finally { await s.close(); }
});

test('loop (loopback): a problem the operator must see (no WireServer firewall) is in the guest agent status while it lasts', async () => {
  let problem: string | null = 'the WireServer firewall for 168.63.129.16 could not be set: iptables: x; nft: y';
  const s = await setup(baseScenario({ vmSettings: false }), true, () => problem);
  type Doc = { aggregateStatus: { guestAgentStatus: { status: string; formattedMessage: { message: string } } } };
  try {
    await s.loop.cycle();
    const first = s.f.statusUploads().at(-1)!.json as Doc;
    assert.equal(first.aggregateStatus.guestAgentStatus.status, 'Ready');
    assert.equal(first.aggregateStatus.guestAgentStatus.formattedMessage.message, `Guest Agent is running; ERROR: ${problem}`);
    problem = null;
    await s.loop.cycle();
    assert.equal((s.f.statusUploads().at(-1)!.json as Doc).aggregateStatus.guestAgentStatus.formattedMessage.message, 'Guest Agent is running');
  } finally { await s.close(); }
});

test('loop (loopback): an idle report reuses the last status text with new timestamps and does not summarise the same entries again', async () => {
  const { f, p: protocol, roots, close } = await openProtocol(baseScenario({ vmSettings: false }), { clock });
  // A clock 10 s ahead: status files just written count as settled, so idle reports reuse what they read.
  const executor = new ExtensionsExecutor({
    roots, wireServer: '127.0.0.1', extensionsEnabled: true, artifacts: platformArtifactSource(protocol.artifacts),
    baseEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, statusRead: { retryDelayMs: 0 }, now: () => Date.now() + 10_000,
  });
  const summaries: number[] = [];
  const loop = new GoalStateLoop({ protocol, executor, guestOS: () => ({ computerName: 'vm', osName: 'flatcar', osVersion: '1' }), onReport: (h) => summaries.push(h.length) });
  const noTimes = (json: unknown) => JSON.stringify(json, (k, v: unknown) => (k === 'timestampUTC' ? 'T' : v));
  try {
    await loop.cycle();
    await loop.cycle();
    const afterSettled = summaries.length;
    assert.ok(afterSettled >= 1);
    const uploads = f.statusUploads().length;
    for (let i = 0; i < 3; i++) await loop.cycle();
    assert.equal(summaries.length, afterSettled, 'the same entries are not summarised again');
    const idle = f.statusUploads().slice(uploads);
    assert.equal(idle.length, 3, 'the status is still uploaded every cycle');
    for (const u of idle) assert.equal(noTimes(u.json), noTimes(f.statusUploads()[uploads - 1]!.json));
    await f.update({ extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 9, publicSettings: { message: 'nine' }, protectedSettings: { secret: 'x' } }] });
    assert.equal((await loop.cycle()).processed, 'incarnation_2');
    assert.equal(summaries.length, afterSettled + 1, 'a new goal state is summarised');
    const last = f.statusUploads().at(-1)!.json as { aggregateStatus: { handlerAggregateStatus: { runtimeSettingsStatus: { sequenceNumber: number } }[] } };
    assert.equal(last.aggregateStatus.handlerAggregateStatus[0]!.runtimeSettingsStatus.sequenceNumber, 9);
  } finally { await close(); }
});
