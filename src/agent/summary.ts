// The extensions summary of a goal state (2.15 update.py ExtensionsSummary): the (name, status) pairs of
// the reported handlers, sorted by name; it "converges" when every entry is terminal (success, error,
// Ready, NotReady). A change of the summary is a GoalState event; the first convergence ends the
// Extensions.InitialGoalStatePeriod (the marker `<Lib.Dir>/initial_goal_state` keeps that across restarts,
// so only the first start of the agent on a VM polls at the faster period).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { HandlerReport } from '../extensions/aggregate.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export const INITIAL_GOAL_STATE_FILE = 'initial_goal_state';
const TERMINAL = new Set(['success', 'error', 'Ready', 'NotReady']);

export interface ExtensionsSummary { entries: [string, string][]; converged: boolean }

export function summarize(reports: HandlerReport[]): ExtensionsSummary {
  const entries = reports.map((r): [string, string] => r.extension
    ? [r.extension.name, r.extension.status ?? 'None']
    : [r.handler.name, r.handler.status]);
  entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  return { entries, converged: entries.every(([, s]) => TERMINAL.has(s)) };
}

export function summaryText(s: ExtensionsSummary): string {
  return `[${s.entries.map(([n, st]) => `('${n}', '${st}')`).join(', ')}]`;
}

export interface SummaryEvents {
  /** A GoalState event (operation GoalState) with this outcome and message. */
  event(success: boolean, message: string): void;
  /** The initial goal state completed (once per VM: the marker file records it). */
  initialCompleted?(): void;
}

/** Tracks the summary across reports; cheap when nothing changed (one sort and a string compare). */
export class SummaryTracker {
  private last = '';
  private lastGoalState: string | null = null;
  private initial: boolean;
  private readonly marker: string;
  private readonly out: SummaryEvents;

  constructor(libDir: string, out: SummaryEvents) {
    this.marker = join(libDir, INITIAL_GOAL_STATE_FILE);
    this.initial = !existsSync(this.marker);
    this.out = out;
  }

  /** The last reported summary is all terminal (true before any report, as 2.15's empty summary). */
  get converged(): boolean { return this.lastConverged; }

  /** True until the first goal state converged on this VM (the marker is absent). */
  get isInitial(): boolean { return this.initial; }

  /** A new extensions goal state is about to be processed; the previous one had not converged if the summary says so. */
  newGoalState(id: string): void {
    if (this.lastGoalState !== null && this.lastGoalState !== id && this.last !== '' && !this.lastConverged) {
      const msg = `A new goal state was received, but not all the extensions in the previous goal state have completed: ${this.last}`;
      log.warn(msg);
      this.out.event(false, msg);
      if (this.initial) this.complete(this.last);
    }
    if (this.lastGoalState !== id) { this.lastGoalState = id; this.last = ''; this.lastConverged = true; }
  }

  private lastConverged = true;

  /** Called after each status report with the handler entries just reported. */
  reported(reports: HandlerReport[]): void {
    const s = summarize(reports);
    if (s.entries.length === 0 && this.last === '') {
      // Nothing to run (2.15 compares with its empty summary and logs nothing); the goal state is complete.
      this.last = '[]';
      if (this.initial) this.complete('[]');
      return;
    }
    const text = summaryText(s);
    if (text === this.last) return;
    this.last = text;
    this.lastConverged = s.converged;
    const msg = `Extension status: ${text}`;
    log.info(msg);
    this.out.event(true, msg);
    if (s.converged) {
      const done = `All extensions in the goal state have reached a terminal state: ${text}`;
      log.info(done);
      this.out.event(true, done);
      if (this.initial) this.complete(text);
    }
  }

  private complete(text: string): void {
    this.initial = false;
    try { writeFileAtomic(this.marker, text, { mode: 0o644, mkdirMode: 0o700 }); } catch (e) { log.warn(`writing ${this.marker}: ${errorText(e)}`); }
    this.out.initialCompleted?.();
  }
}
