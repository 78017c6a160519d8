// agent/loop.ts report(): the extensions summary (onReport) is told about the entries of each goal state once
// they are reported, and not again while the same entries are reported (the status text memo answered); a
// newly processed goal state is summarised even when its entries equal the last ones. Fakes for the protocol
// and the executor: nothing here touches the network or the disk.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GoalStateLoop } from '../../src/agent/loop.ts';
import type { AzureProtocol, PollResult } from '../../src/platform/protocol.ts';
import type { ExtensionsExecutor } from '../../src/extensions/executor.ts';
import type { HandlerReport } from '../../src/extensions/aggregate.ts';
import { emptyExtensionsGoalState, type ExtensionsGoalState } from '../../src/platform/types.ts';
import type { GoalStateHistory } from '../../src/agent/history.ts';

function fakes() {
  let egs: ExtensionsGoalState = { ...emptyExtensionsGoalState('1'), statusUploadBlob: { type: 'BlockBlob', url: 'https://blob/status?sig=x' } };
  let changed = true;
  const uploads: string[] = [];
  const poll = async (): Promise<PollResult> => {
    const r = { goalState: { incarnation: egs.incarnation } as PollResult['goalState'], wireChanged: changed, full: null, extensions: egs, extensionsChanged: changed, fastTrackSupported: false, certificates: [] };
    changed = false;
    return r;
  };
  const protocol = {
    detect: poll,
    poll,
    async uploadStatus(text: string) { uploads.push(text); return { ok: true, blobType: 'BlockBlob', attempts: [], goalStateChanged: false }; },
  } as unknown as AzureProtocol;
  // The same entry objects every report, as the report cycle hands back while no file changed.
  const entries: HandlerReport[] = [{ handler: { name: 'A.B', version: '1.0', status: 'Ready', code: 0, message: 'Plugin enabled', supports_multi_config: false } }];
  let processed = 0;
  const executor = {
    async process() { processed++; return { status: 'Success', code: 0, message: 'ok', inSvdSeqNo: '1', timestampUTC: '2025-01-01T00:00:00Z' }; },
    async retryDownloads() { return false; },
    async report() { return entries; },
    get goalStateAggregate() { return null; },
  } as unknown as ExtensionsExecutor;
  const newGoalState = (n: string) => { egs = { ...egs, ...emptyExtensionsGoalState(n), statusUploadBlob: egs.statusUploadBlob }; changed = true; };
  return { protocol, executor, uploads, newGoalState, processed: () => processed };
}

test('loop report: the summary sees each goal state\'s entries once, also when a new goal state reports the same entries', async () => {
  const f = fakes();
  const summaries: string[] = [];
  const loop = new GoalStateLoop({
    protocol: f.protocol, executor: f.executor, guestOS: () => ({ computerName: 'vm', osName: 'x', osVersion: '1' }),
    onReport: (h) => summaries.push(h.map((r) => r.handler.status).join()),
  });
  await loop.cycle();
  assert.equal(f.processed(), 1);
  assert.equal(summaries.length, 1);
  for (let i = 0; i < 3; i++) await loop.cycle();
  assert.equal(summaries.length, 1, 'idle reports of the same entries');
  assert.equal(f.uploads.length, 4, 'uploaded every cycle');
  f.newGoalState('2');
  await loop.cycle();
  assert.equal(f.processed(), 2);
  assert.equal(summaries.length, 2, 'the new goal state is summarised although its entries equal the last ones');
  await loop.cycle();
  assert.equal(summaries.length, 2);
});

test('loop report: the history copy of the status is saved after a new goal state, within a minute of a change, and every 10 minutes otherwise', async () => {
  const f = fakes();
  const saves: number[] = [];
  let t = Date.parse('2026-01-01T00:00:00Z');
  const history = { add() { /* entries are not the point */ }, archive() { return 0; }, saveStatus() { saves.push((t - start) / 1000); } } as unknown as GoalStateHistory;
  const start = t;
  let message = 'Plugin enabled';
  // The fake executor, with entries whose message the test changes.
  const executor = {
    process: f.executor.process, retryDownloads: f.executor.retryDownloads, goalStateAggregate: null,
    report: async (): Promise<HandlerReport[]> => [{ handler: { name: 'A.B', version: '1.0', status: 'Ready', code: 0, message, supports_multi_config: false } }],
  } as unknown as ExtensionsExecutor;
  const loop = new GoalStateLoop({ protocol: f.protocol, executor, history, guestOS: () => ({ computerName: 'vm', osName: 'x', osVersion: '1' }), now: () => new Date(t) });
  const runUntil = async (s: number) => { while ((t - start) / 1000 < s) { await loop.cycle(); t += 6000; } };
  await runUntil(606);
  assert.deepEqual(saves, [0, 600], 'at the goal state, then after 10 minutes of the same status');
  message = 'Plugin enabled again';
  await runUntil(720);
  assert.deepEqual(saves, [0, 600, 660], 'a change is saved within a minute of the last save');
  await runUntil(1300);
  assert.deepEqual(saves, [0, 600, 660, 1260]);
  f.newGoalState('2');
  await runUntil(1306);
  assert.deepEqual(saves, [0, 600, 660, 1260, 1302], 'a new goal state at once');
});
