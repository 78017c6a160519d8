// The daemon's periodic-task scheduler: backoff arithmetic, and isolation of a failing task on real timers
// (short periods; only counts are asserted, never durations).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scheduler, nextDelay } from '../../src/agent/scheduler.ts';
import { Logger, MemoryAppender } from '../../src/util/logger.ts';
import { waitFor } from '../helpers/wait.ts';

const mid = () => 0.5;

test('nextDelay: the period after success, doubling after failures, capped, jittered within ±10 %', () => {
  const o = { maxBackoffMs: 60_000, jitter: 0.1, random: mid };
  assert.equal(nextDelay(6000, 0, o), 6000);
  assert.equal(nextDelay(6000, 1, o), 6000);
  assert.equal(nextDelay(6000, 2, o), 12_000);
  assert.equal(nextDelay(6000, 3, o), 24_000);
  assert.equal(nextDelay(6000, 5, o), 60_000);
  assert.equal(nextDelay(6000, 50, o), 60_000, 'no overflow for long outages');
  // A period longer than the cap is never shortened by a failure.
  assert.equal(nextDelay(300_000, 4, o), 300_000);
  assert.equal(nextDelay(10_000, 0, { ...o, random: () => 0 }), 9000);
  assert.equal(nextDelay(10_000, 0, { ...o, random: () => 0.999999 }), 11_000);
});

test('a failing task is logged once per text, backed off, and never stops the other tasks', async () => {
  const logger = new Logger();
  const mem = new MemoryAppender();
  logger.appenders = [mem];
  const s = new Scheduler({ log: logger, jitter: 0, maxBackoffMs: 40 });
  let good = 0;
  let bad = 0;
  s.add({ name: 'Good', periodMs: 2, run: () => { good++; } });
  s.add({ name: 'Bad', periodMs: 2, run: () => { bad++; throw new Error('boom'); } });
  s.add({ name: 'Async', periodMs: 2, run: async () => { await Promise.reject(new Error('async boom')); } });
  await waitFor(() => good >= 30 && bad >= 3, { what: 'good >= 30 && bad >= 3', timeoutMs: 5000, everyMs: 5 });
  await s.stop();
  const lines = mem.lines.filter((l) => l.includes('Error in Bad: boom'));
  assert.equal(lines.length, 1, 'the same error is logged once within the hour');
  assert.match(lines[0]!, /--- \[NOTE: Will not log the same error for the next hour\]/);
  assert.equal(mem.lines.filter((l) => l.includes('Error in Async: async boom')).length, 1);
  assert.ok(good > bad * 3, `the failing task is backed off (good ${good}, bad ${bad})`);
  const st = s.stats().find((x) => x.name === 'Bad')!;
  assert.ok(st.failures >= 3);
  const afterStop = good;
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(good, afterStop, 'no run after stop()');
});

test('runs never overlap: a slow task is re-armed only after it finished; runNow waits for a running one', async () => {
  const s = new Scheduler({ jitter: 0 });
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  s.add({ name: 'Slow', periodMs: 1, run: async () => {
    running++; maxRunning = Math.max(maxRunning, running);
    await new Promise((r) => setTimeout(r, 10));
    running--; runs++;
  } });
  await waitFor(() => runs >= 3, { what: 'runs >= 3', timeoutMs: 5000, everyMs: 5 });
  await s.runNow('Slow');
  await s.stop();
  assert.equal(maxRunning, 1);
  assert.throws(() => s.add({ name: 'Slow', periodMs: 1, run: () => undefined }), /already added/);
  assert.throws(() => new Scheduler().add({ name: 'Zero', periodMs: 0, run: () => undefined }), /positive period/);
});

test('a task whose error text changes every time cannot grow memory without bound', async () => {
  const logger = new Logger();
  const mem = new MemoryAppender();
  logger.appenders = [mem];
  const s = new Scheduler({ log: logger, jitter: 0, maxBackoffMs: 1 });
  let n = 0;
  s.add({ name: 'Chatty', periodMs: 1, run: () => { n++; throw new Error(`error ${n}`); } });
  await waitFor(() => n >= 250, { what: 'n >= 250', timeoutMs: 5000, everyMs: 5 });
  await s.stop();
  assert.ok(mem.lines.length >= 250, 'distinct texts are each logged');
});

test('one wake-up serves every task due within its slack: a 6 s poll and five chores wake once per poll, periods kept', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  let clock = 0;
  const s = new Scheduler({ jitter: 0, clock: () => clock });
  const runs = new Map<string, number>();
  const add = (name: string, periodMs: number, initialDelayMs?: number) =>
    s.add({ name, periodMs, ...(initialDelayMs !== undefined ? { initialDelayMs } : {}), run: () => { runs.set(name, (runs.get(name) ?? 0) + 1); } });
  add('Poll', 6000);
  const chores: [string, number][] = [['Firewall', 30_000], ['Hostname', 30_000], ['NetRules', 30_000], ['Telemetry', 60_000], ['Heartbeat', 1_800_000]];
  for (const [name, p] of chores) add(name, p, p === 60_000 ? 60_000 : 0);
  const hour = 3600_000;
  for (let ms = 0; ms < hour; ms += 250) {
    clock += 250;
    t.mock.timers.tick(250);
    await new Promise((r) => setImmediate(r));
  }
  await s.stop();
  const polls = runs.get('Poll')!;
  assert.ok(polls >= 590 && polls <= 601, `polls ${polls}`);
  // Without coalescing every run is its own wake-up (about 600 + 3 x 120 + 60 + 2).
  assert.ok(s.wakeups() <= polls + 1, `wake-ups ${s.wakeups()} for ${polls} polls`);
  // Running early to share a wake-up does not make a chore run more often over time.
  for (const [name, p] of chores) {
    const n = runs.get(name)!;
    const nominal = hour / p;
    assert.ok(n >= nominal - 1 && n <= nominal + 1, `${name}: ${n} runs in an hour, nominal ${nominal}`);
  }
});
