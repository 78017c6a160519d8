// Periodic tasks of the daemon (docs/os.md §6.1), each isolated like one of waagent's threads: a task runs on its
// own timer (setTimeout re-armed after each run, so runs never pile up or overlap), a failure is logged at
// most once an hour for the same text, the task is backed off (doubling up to a cap, with jitter) and the
// others carry on. Nothing here knows what a task does.
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
}

interface TaskState {
  task: PeriodicTask;
  timer: NodeJS.Timeout | null;
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

  constructor(o: SchedulerOptions = {}) {
    this.o = {
      now: o.now ?? Date.now, random: o.random ?? Math.random, log: o.log ?? rootLog,
      maxBackoffMs: o.maxBackoffMs ?? 3600_000, errorLogPeriodMs: o.errorLogPeriodMs ?? 3600_000, jitter: o.jitter ?? 0.1,
    };
  }

  /** Adds and arms a task (names are unique; adding a name twice replaces nothing and throws). */
  add(task: PeriodicTask): void {
    if (this.tasks.has(task.name)) throw new Error(`scheduler: task ${task.name} already added`);
    if (!(task.periodMs > 0)) throw new Error(`scheduler: task ${task.name} needs a positive period`);
    const st: TaskState = { task, timer: null, running: null, failures: 0, runs: 0, logged: new Map() };
    this.tasks.set(task.name, st);
    if (!this.stopped) this.arm(st, task.initialDelayMs ?? 0);
  }

  /**
   * Changes a task's period from its next run on (Extensions.InitialGoalStatePeriod -> GoalStatePeriod).
   * A timer already armed with the old period is re-armed with the new one when that is sooner.
   */
  setPeriod(name: string, periodMs: number): void {
    const st = this.tasks.get(name);
    if (!st) throw new Error(`scheduler: no task ${name}`);
    if (!(periodMs > 0)) throw new Error(`scheduler: task ${name} needs a positive period`);
    const shorter = periodMs < st.task.periodMs;
    st.task = { ...st.task, periodMs };
    if (shorter && st.timer && st.failures === 0) { clearTimeout(st.timer); st.timer = null; this.arm(st, periodMs); }
  }

  /** A task's current period (undefined: no such task). */
  period(name: string): number | undefined { return this.tasks.get(name)?.task.periodMs; }

  stats(): TaskStats[] {
    return [...this.tasks.values()].map((s) => ({ name: s.task.name, runs: s.runs, failures: s.failures }));
  }

  private arm(st: TaskState, delayMs: number): void {
    if (this.stopped) return;
    st.timer = setTimeout(() => { st.timer = null; st.running = this.runTask(st); }, delayMs);
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
    this.arm(st, nextDelay(st.task.periodMs, st.failures, { maxBackoffMs: st.task.maxBackoffMs ?? this.o.maxBackoffMs, jitter: this.o.jitter, random: this.o.random }));
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
    if (st.timer) { clearTimeout(st.timer); st.timer = null; }
    st.running = this.runTask(st);
    await st.running;
  }

  /** Disarms every timer; waits (bounded by the caller) for runs in progress. */
  async stop(): Promise<void> {
    this.stopped = true;
    const running: Promise<void>[] = [];
    for (const st of this.tasks.values()) {
      if (st.timer) { clearTimeout(st.timer); st.timer = null; }
      if (st.running) running.push(st.running);
    }
    await Promise.allSettled(running);
  }
}
