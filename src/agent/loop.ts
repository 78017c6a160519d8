// The goal-state loop (docs/protocol.md §1.4, §2.4, §1.13; docs/extensions.md §5.4, §6.3–6.6): one cycle polls the
// goal state (the idle poll is one small GET and a 304 — nothing re-parsed), hands a NEW extensions goal
// state to the executor, and uploads the aggregate status. The status goes up every cycle, even when the
// poll failed (the last known goal state still names the blob), so the portal sees a live agent through a
// flaky fabric. Errors are thrown after the report so the scheduler logs them (rate-limited) and backs off.
import type { AzureProtocol } from '../platform/protocol.ts';
import type { ExtensionsGoalState } from '../platform/types.ts';
import type { ExtensionsExecutor } from '../extensions/executor.ts';
import { StatusTextMemo, aggregateStatusJson, crpSupportedFeatures, type HandlerReport } from '../extensions/aggregate.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { collectAfterBurst } from '../util/memory.ts';
import type { GoalStateHistory } from './history.ts';
import { entryName } from './history.ts';

export interface GuestOsInfo { computerName: string; osName: string; osVersion: string }

/** The history copy of the status: saved within this long of a change of what it says... */
export const STATUS_COPY_CHANGED_MS = 60_000;
/** ...and this often when only its timestamp moved. */
export const STATUS_COPY_REFRESH_MS = 600_000;

function agentMessage(problem: string | null): { agentMessage?: string } {
  return problem ? { agentMessage: `Guest Agent is running; ERROR: ${problem}` } : {};
}

export interface LoopOptions {
  protocol: AzureProtocol;
  executor: ExtensionsExecutor;
  history?: GoalStateHistory | null;
  guestOS: () => GuestOsInfo;
  /** EnableOverProvisioning: honour onHold (default true). */
  honourOnHold?: boolean;
  /** Debug.EnableFastTrack. */
  fastTrack?: boolean;
  /** Before the first extensions goal state is processed (Extensions.WaitForCloudInit). */
  beforeFirstProcess?: () => Promise<void>;
  now?: () => Date;
  /** A new extensions goal state is about to be processed (goal-state events, InitialGoalStatePeriod). */
  onNewGoalState?: (id: string) => void;
  /** The handler entries of every status report (extensions summary). */
  onReport?: (handlers: HandlerReport[]) => void;
  /** A problem the operator must see in the agent's status (e.g. no WireServer firewall); null when none. */
  agentProblem?: () => string | null;
}

export interface CycleResult {
  polled: boolean;
  processed: string | null;
  uploaded: boolean;
}

export class GoalStateLoop {
  private readonly o: LoopOptions;
  private detected = false;
  private processedId: string | null = null;
  private current: ExtensionsGoalState | null = null;
  private fastTrackSupported = false;
  private firstDone = false;
  private statusSavedAt = 0;
  /** The status said something new (not only a new timestamp) since the history copy was saved. */
  private statusChanged = false;
  private statusDirty = true;
  /** The last status text and what it was made of: an idle report only puts the new timestamp in. */
  private readonly statusText = new StatusTextMemo();
  /** onReport saw the entries of the goal state being reported (reset when one is processed). */
  private summarized = false;
  /** Counters for tests and the bench (no per-poll logging). */
  readonly stats = { polls: 0, pollFailures: 0, processed: 0, uploads: 0, uploadFailures: 0 };

  constructor(o: LoopOptions) { this.o = o; }

  get extensionsGoalState(): ExtensionsGoalState | null { return this.current; }

  async cycle(): Promise<CycleResult> {
    const res: CycleResult = { polled: false, processed: null, uploaded: false };
    let pollError: unknown = null;
    try {
      await this.poll();
      res.polled = true;
    } catch (e) {
      pollError = e;
      this.stats.pollFailures++;
    }
    if (res.polled && this.current && this.current.id !== this.processedId) {
      res.processed = await this.process(this.current);
    } else if (res.polled && this.current && this.current.id === this.processedId && await this.o.executor.retryDownloads(this.current)) {
      // Handlers whose download failed everywhere got their retry (nothing pending costs one check).
      this.statusDirty = true;
      collectAfterBurst();
    }
    let uploadError: unknown = null;
    if (this.current) {
      try {
        res.uploaded = await this.report(this.current);
      } catch (e) {
        uploadError = e;
      }
    }
    if (pollError) throw pollError;
    if (uploadError) throw uploadError;
    return res;
  }

  private async poll(): Promise<void> {
    this.stats.polls++;
    const p = this.detected ? await this.o.protocol.poll() : await this.o.protocol.detect();
    if (!this.detected) {
      this.detected = true;
      log.info(`Goal state: incarnation ${p.goalState.incarnation}, container ${p.goalState.containerId}`);
    }
    this.fastTrackSupported = p.fastTrackSupported;
    if (p.wireChanged && !p.extensionsChanged && this.current) log.info(`New goal state incarnation ${p.goalState.incarnation} (extensions unchanged: ${p.extensions.id})`);
    if (p.wireChanged || p.extensionsChanged) {
      try {
        this.o.history?.add(entryName(this.o.now?.() ?? new Date(), p.goalState.incarnation, p.extensions.etag), {
          'GoalState.json': JSON.stringify(p.goalState, null, 1),
          ...(p.full ? { 'Certificates.json': JSON.stringify(p.full.certificates) } : {}),
          'ExtensionsGoalState.json': JSON.stringify(p.extensions, null, 1),
        });
        this.statusDirty = true;
      } catch (e) {
        log.warn(`goal-state history: ${errorText(e)}`);
      }
    }
    this.current = p.extensions;
  }

  /** Runs a new extensions goal state unless it is on hold. Returns its id when processed. */
  private async process(egs: ExtensionsGoalState): Promise<string | null> {
    if (this.o.honourOnHold !== false && await this.onHold(egs)) {
      log.once('INFO', `onhold:${egs.id}`, `Extensions goal state ${egs.id} is on hold; not processed yet`);
      return null;
    }
    if (!this.firstDone) {
      this.firstDone = true;
      try { await this.o.beforeFirstProcess?.(); } catch (e) { log.warn(`before processing extensions: ${errorText(e)}`); }
    }
    this.summarized = false;
    try { this.o.onNewGoalState?.(egs.id); } catch (e) { log.warn(`goal-state summary: ${errorText(e)}`); }
    log.info(`ProcessExtensionsGoalState started [${egs.id} channel: ${egs.channel}, source: ${egs.source}, ${egs.handlers.length} handler(s)]`);
    const agg = await this.o.executor.process(egs);
    this.processedId = egs.id;
    this.stats.processed++;
    this.statusDirty = true;
    log.info(`ProcessExtensionsGoalState completed [${egs.id}]: ${agg.status}${agg.code ? ` (${agg.code})` : ''}`);
    try { this.o.history?.archive(); } catch (e) { log.warn(`goal-state history archive: ${errorText(e)}`); }
    collectAfterBurst();
    return egs.id;
  }

  private async onHold(egs: ExtensionsGoalState): Promise<boolean> {
    if (egs.source === 'FastTrack' || egs.channel === 'HostGAPlugin') return egs.onHold;
    if (!egs.artifactsProfileUrl) return false;
    return (await this.o.protocol.wire.fetchArtifactsProfile(egs.artifactsProfileUrl)).onHold;
  }

  /** Builds and uploads the aggregate status; also kept as history/<current>/waagent_status.json. */
  async report(egs: ExtensionsGoalState): Promise<boolean> {
    const handlers = await this.o.executor.report(egs);
    const text = aggregateStatusJson({
      handlers,
      goalState: this.o.executor.goalStateAggregate,
      guestOS: this.o.guestOS(),
      features: crpSupportedFeatures({ fastTrack: (this.o.fastTrack ?? true) && this.fastTrackSupported }),
      ...agentMessage(this.o.agentProblem?.() ?? null),
    }, this.statusText);
    // The summary is made of the entries: the same entries as the last report of this goal state say nothing new.
    if (!this.statusText.reused || !this.summarized) {
      try { this.o.onReport?.(handlers); } catch (e) { log.warn(`extensions summary: ${errorText(e)}`); }
      this.summarized = true;
    }
    const out = await this.o.protocol.uploadStatus(text);
    // The history copy is for people and the log collector: after a new goal state at once; when the status
    // says something new, within a minute; when only its timestamp moved, every 10 minutes. Each save creates
    // and renames a file (~0.3 ms of CPU, scripts/bench/poll-cost.ts: once a minute it was ~3 % of the idle
    // poll's CPU).
    if (!this.statusText.reused) this.statusChanged = true;
    const now = (this.o.now?.() ?? new Date()).getTime();
    const since = now - this.statusSavedAt;
    if (this.statusDirty || (this.statusChanged && since >= STATUS_COPY_CHANGED_MS) || since >= STATUS_COPY_REFRESH_MS) {
      try { this.o.history?.saveStatus(text); } catch { /* history is best effort */ }
      this.statusSavedAt = now;
      this.statusDirty = false;
      this.statusChanged = false;
    }
    if (!out.ok) {
      this.stats.uploadFailures++;
      throw new Error(`status upload failed: ${out.attempts.map((a) => `${a.channel}: ${a.detail}`).join('; ')}`);
    }
    this.stats.uploads++;
    return true;
  }
}
