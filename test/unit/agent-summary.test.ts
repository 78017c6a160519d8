// The extensions summary (2.15 ExtensionsSummary) and Extensions.InitialGoalStatePeriod: GoalState events on
// a change, convergence when every entry is terminal, the initial_goal_state marker written once, and the
// scheduler switching the goal-state period.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SummaryTracker, summarize, summaryText, INITIAL_GOAL_STATE_FILE } from '../../src/agent/summary.ts';
import { Scheduler } from '../../src/agent/scheduler.ts';
import type { HandlerReport } from '../../src/extensions/aggregate.ts';

function rep(name: string, hstatus: string, ext?: string): HandlerReport {
  return {
    handler: { name, version: '1.0', status: hstatus, code: 0, message: null, supports_multi_config: false },
    extension: ext === undefined ? null : { name, sequenceNumber: 0, status: ext, code: 0, message: null, operation: null, configurationAppliedTime: null, substatus: [] },
  };
}

test('summarize: extension status wins over the handler, sorted, terminal = success/error/Ready/NotReady', () => {
  const s = summarize([rep('B.Ext', 'Ready', 'transitioning'), rep('A.Ext', 'NotReady')]);
  assert.deepEqual(s.entries, [['A.Ext', 'NotReady'], ['B.Ext', 'transitioning']]);
  assert.equal(s.converged, false);
  assert.equal(summaryText(s), "[('A.Ext', 'NotReady'), ('B.Ext', 'transitioning')]");
  assert.equal(summarize([rep('A', 'Ready', 'success'), rep('B', 'Ready', 'error')]).converged, true);
});

test('SummaryTracker: events on change only, marker once on convergence, not-converged goal state replaced', () => {
  const dir = mkdtempSync(join(tmpdir(), 'summary-'));
  try {
    const events: [boolean, string][] = [];
    let completed = 0;
    const t = new SummaryTracker(dir, { event: (ok, m) => events.push([ok, m]), initialCompleted: () => { completed++; } });
    assert.equal(t.isInitial, true);
    t.newGoalState('1');
    t.reported([rep('A', 'Installing', 'transitioning')]);
    t.reported([rep('A', 'Installing', 'transitioning')]);
    assert.equal(events.length, 1, 'same summary: no second event');
    assert.match(events[0]![1], /^Extension status: \[\('A', 'transitioning'\)\]$/);
    assert.equal(completed, 0);
    t.reported([rep('A', 'Ready', 'success')]);
    assert.equal(events.length, 3);
    assert.match(events[2]![1], /All extensions in the goal state have reached a terminal state/);
    assert.equal(completed, 1);
    assert.equal(t.isInitial, false);
    assert.equal(readFileSync(join(dir, INITIAL_GOAL_STATE_FILE), 'utf8'), "[('A', 'success')]");
    // A later goal state that never converges before the next one: a failed GoalState event.
    t.newGoalState('2');
    t.reported([rep('A', 'Ready', 'transitioning')]);
    t.newGoalState('3');
    assert.deepEqual(events.at(-1)![0], false);
    assert.match(events.at(-1)![1], /not all the extensions in the previous goal state have completed/);
    assert.equal(completed, 1, 'the initial goal state completes once');
    // A restart with the marker present is not initial.
    assert.equal(new SummaryTracker(dir, { event: () => undefined }).isInitial, false);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('SummaryTracker: an empty goal state completes the initial one without an event; a stale marker dir error is only logged', () => {
  const dir = mkdtempSync(join(tmpdir(), 'summary-'));
  try {
    const events: string[] = [];
    let completed = 0;
    const t = new SummaryTracker(dir, { event: (_ok, m) => events.push(m), initialCompleted: () => { completed++; } });
    t.newGoalState('1');
    t.reported([]);
    assert.deepEqual(events, []);
    assert.equal(completed, 1);
    assert.ok(existsSync(join(dir, INITIAL_GOAL_STATE_FILE)));
    // Marker path unwritable (a directory in its place): logged, the period still switches.
    const dir2 = join(dir, 'x');
    const t2 = new SummaryTracker(dir2, { event: () => undefined, initialCompleted: () => { completed++; } });
    writeFileSync(dir2, 'not a dir');
    t2.newGoalState('1');
    t2.reported([rep('A', 'Ready', 'success')]);
    assert.equal(completed, 2);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('Scheduler.setPeriod: the next runs use the new period; unknown tasks and bad periods throw', async () => {
  const s = new Scheduler({ jitter: 0 });
  let runs = 0;
  s.add({ name: 'GS', periodMs: 3_600_000, run: () => { runs++; } });
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(runs, 1);
  assert.equal(s.period('GS'), 3_600_000);
  s.setPeriod('GS', 2);
  assert.equal(s.period('GS'), 2);
  const end = Date.now() + 5000;
  while (runs < 4 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  assert.ok(runs >= 4, 'the long timer was re-armed with the shorter period');
  assert.throws(() => s.setPeriod('nope', 5), /no task nope/);
  assert.throws(() => s.setPeriod('GS', 0), /positive period/);
  await s.stop();
});
