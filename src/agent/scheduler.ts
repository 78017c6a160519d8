// Periodic tasks of the daemon (docs/os.md §6.1), each isolated like one of waagent's threads: a task is due a
// period after its previous run ENDED (runs never pile up or overlap), a failure is logged at most once an hour
// for the same text, the task is backed off (doubling up to a cap, with jitter) and the others carry on.
// Nothing here knows what a task does.
//
// Wake-ups are coalesced (docs/architecture.md "idle cost"): ONE timer for all tasks, armed for the earliest due
// time; when it fires, every task whose due time is at most its slack away runs too (slack: a quarter of the
// task's delay, at most 30 s). With the 6 s goal-state poll and the 30 s..1 h chores, the idle daemon wakes
// once per poll instead of once per task (as waagent's own threads, which wake on a few-second tick).
import { log as rootLog, type Logger } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export interface PeriodicTask {
  name: string;
  /** Period between the end of one run and the start of the next. */
  periodMs: number;
  /** First run after this delay (default: at once). */
  initialDelayMs?: number;
  /** Cap of this task's failure backoff (default: the scheduler's). */
  maxBackoffMs?: number;
  run: () => Promise<void> | void;
}

export interface SchedulerOptions {
  now?: () => number;
  random?: () => number;
  log?: Logger;
  /** Upper bound of the failure backoff (default 1 h; never below the task's own period). */
  maxBackoffMs?: number;
  /** Same error text logged at most once per this (waagent: one hour). */
  errorLogPeriodMs?: number;
  /** Jitter as a fraction of the delay (default 0.1: ±10 %), so tasks of many VMs do not align. */
  jitter?: number;
  /** Monotonic milliseconds for due times (default: process uptime; tests pass a mocked clock). */
  clock?: () => number;
}

/** A task may run this fraction of its delay early, to share a wake-up with another task. */
export const COALESCE_FRACTION = 0.25;
export const MAX_SLACK_MS = 30_000;

interface TaskState {
  task: PeriodicTask;
  /** Monotonic time the task is due (null while it runs, or before it was armed). */
  due: number | null;
  /** How much earlier than `due` it may run when the timer fires for another task. */
  slack: number;
  /** How much earlier than due the current run started: added to the next delay, so the average period stays. */
  early: number;
  running: Promise<void> | null;
  failures: number;
  runs: number;
  /** error text -> last time it was logged. Bounded (see remember()). */
  logged: Map<string, number>;
}

/**
 * Delay before the next run: the period after a success; after the n-th consecutive failure
 * period * 2^(n-1) capped at max(period, maxBackoff). Then ±jitter. Pure, for tests.
 */
export function nextDelay(periodMs: number, failures: number, o: { maxBackoffMs: number; jitter: number; random: () => number }): number {
  const base = failures <= 0 ? periodMs : Math.min(Math.max(periodMs, o.maxBackoffMs), periodMs * 2 ** Math.min(failures - 1, 20));
  const spread = base * o.jitter;
  return Math.max(0, Math.round(base - spread + o.random() * 2 * spread));
}

export interface TaskStats { name: string; runs: number; failures: number }

export class Scheduler {
  private readonly tasks = new Map<string, TaskState>();
  private readonly o: Required<Omit<SchedulerOptions, 'log'>> & { log: Logger };
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private timerAt = Infinity;
  /** Timer callbacks so far (the daemon's own wake-ups; `wakeups()`). */
  private fired = 0;

  constructor(o: SchedulerOptions = {}) {
    this.o = {
      now: o.now ?? Date.now, random: o.random ?? Math.random, log: o.log ?? rootLog,
      maxBackoffMs: o.maxBackoffMs ?? 3600_000, errorLogPeriodMs: o.errorLogPeriodMs ?? 3600_000, jitter: o.jitter ?? 0.1,
      clock: o.clock ?? (() => process.uptime() * 1000),
    };
  }

  /** Adds and arms a task (names are unique; adding a name twice replaces nothing and throws). */
  add(task: PeriodicTask): void {
    if (this.tasks.has(task.name)) throw new Error(`scheduler: task ${task.name} already added`);
    if (!(task.periodMs > 0)) throw new Error(`scheduler: task ${task.name} needs a positive period`);
    const st: TaskState = { task, due: null, slack: 0, early: 0, running: null, failures: 0, runs: 0, logged: new Map() };
    this.tasks.set(task.name, st);
    this.due(st, task.initialDelayMs ?? 0);
  }

  /**
   * Changes a task's period from its next run on (Extensions.InitialGoalStatePeriod -> GoalStatePeriod).
   * A task waiting with the old period is re-armed with the new one when that is sooner.
   */
  setPeriod(name: string, periodMs: number): void {
    const st = this.tasks.get(name);
    if (!st) throw new Error(`scheduler: no task ${name}`);
    if (!(periodMs > 0)) throw new Error(`scheduler: task ${name} needs a positive period`);
    const shorter = periodMs < st.task.periodMs;
    st.task = { ...st.task, periodMs };
    if (shorter && st.due !== null && st.failures === 0) this.due(st, periodMs);
  }

  /** A task's current period (undefined: no such task). */
  period(name: string): number | undefined { return this.tasks.get(name)?.task.periodMs; }

  stats(): TaskStats[] {
    return [...this.tasks.values()].map((s) => ({ name: s.task.name, runs: s.runs, failures: s.failures }));
  }

  /** How many times the scheduler's timer fired (one wake-up may run several tasks). */
  wakeups(): number { return this.fired; }

  /** The task is due in `delayMs` (+ `shiftMs`: the earliness of its last run); its slack follows the delay. */
  private due(st: TaskState, delayMs: number, shiftMs = 0): void {
    st.due = this.o.clock() + delayMs + shiftMs;
    st.slack = Math.min(delayMs * COALESCE_FRACTION, MAX_SLACK_MS);
    this.arm();
  }

  /** (Re)arms the one timer for the earliest due time of the waiting tasks. */
  private arm(): void {
    if (this.stopped) return;
    let next = Infinity;
    for (const st of this.tasks.values()) if (st.due !== null && st.due < next) next = st.due;
    if (this.timer && next === this.timerAt) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.timerAt = next;
    if (next === Infinity) return;
    this.timer = setTimeout(() => this.fire(), Math.max(0, Math.ceil(next - this.o.clock())));
  }

  private fire(): void {
    this.timer = null;
    this.timerAt = Infinity;
    this.fired++;
    // +1 ms: a timer may fire within its millisecond before the clock shows it.
    const now = this.o.clock() + 1;
    for (const st of this.tasks.values()) {
      if (st.due !== null && st.due - st.slack <= now) this.start(st);
    }
    this.arm();
  }

  private start(st: TaskState): void {
    st.early = st.due === null ? 0 : Math.max(0, st.due - this.o.clock());
    st.due = null;
    st.running = this.runTask(st);
  }

  private async runTask(st: TaskState): Promise<void> {
    try {
      await st.task.run();
      st.failures = 0;
    } catch (e) {
      st.failures++;
      this.logFailure(st, e);
    } finally {
      st.runs++;
      st.running = null;
    }
    if (this.stopped) return;
    this.due(st, nextDelay(st.task.periodMs, st.failures, { maxBackoffMs: st.task.maxBackoffMs ?? this.o.maxBackoffMs, jitter: this.o.jitter, random: this.o.random }), st.early);
  }

  private logFailure(st: TaskState, e: unknown): void {
    const text = errorText(e);
    const now = this.o.now();
    const last = st.logged.get(text);
    if (last !== undefined && now - last < this.o.errorLogPeriodMs) return;
    if (st.logged.size >= 100) {
      // Bounded memory: forget texts not logged within the period (a task with ever-changing messages).
      for (const [k, t] of st.logged) if (now - t >= this.o.errorLogPeriodMs) st.logged.delete(k);
      if (st.logged.size >= 100) st.logged.clear();
    }
    st.logged.set(text, now);
    this.o.log.warn(`Error in ${st.task.name}: ${text} --- [NOTE: Will not log the same error for the next hour]`);
  }

  /** Runs a task now (outside its timer), e.g. to force a goal-state poll. No overlap with a running one. */
  async runNow(name: string): Promise<void> {
    const st = this.tasks.get(name);
    if (!st || this.stopped) return;
    if (st.running) { await st.running; return; }
    this.start(st);
    this.arm();
    await st.running;
  }

  /** Disarms every timer; waits (bounded by the caller) for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const running: Promise<void>[] = [];
    for (const st of this.tasks.values()) {
      st.due = null;
      if (st.running) running.push(st.running);
    }
    await Promise.allSettled(running);
  }
}
