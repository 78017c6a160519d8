// 2.15's monitor thread and heartbeat (ga/monitor.py, ga/update.py), as tasks of the daemon's scheduler:
//   * HostGAPlugin heartbeat (1 min): GET /health; the GuestAgentPluginHeartbeat observation is unhealthy
//     once /health failed for 5 minutes without a success; then also a HostPluginHeartbeatExtended event;
//   * IMDS heartbeat (1 min): the instance document validated; InstanceMetadataHeartbeat unhealthy after
//     3 minutes of service failures;
//   * every unhealthy observation sent to the HealthService is also a HealthObservation event;
//   * network errors (30 min): one HttpErrors event with the counts when any request failed;
//   * HeartBeat (30 min, the first at start): the HeartBeat event and the [HEARTBEAT] log line;
//   * goal-state fetch errors: FetchGoalState events, the first 3 at once, then one every 6 hours, and one
//     when fetching recovers.
import { AGENT_NAME, AGENT_VERSION } from '../version.ts';
import type { Observation } from '../platform/healthservice.ts';
import { takeIoErrors } from '../platform/ioerrors.ts';
import { randomId } from '../util/unique.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export type EventSink = (operation: string, success: boolean, message: string) => void;

/** 2.15 ErrorState: triggered once failures have lasted `minMs` without a success. */
export class ErrorState {
  private since: number | null = null;
  count = 0;
  private readonly minMs: number;
  private readonly now: () => number;
  constructor(minMs: number, now: () => number = Date.now) { this.minMs = minMs; this.now = now; }
  incr(): void { if (this.count++ === 0) this.since = this.now(); }
  reset(): void { this.count = 0; this.since = null; }
  get triggered(): boolean { return this.since !== null && this.now() - this.since >= this.minMs; }
  /** "N min" / "N hr" since the first failure. */
  get failTime(): string {
    if (this.since === null) return 'unknown';
    const min = Math.round(((this.now() - this.since) / 60_000) * 100) / 100;
    return min < 60 ? `${min} min` : `${Math.round((min / 60) * 100) / 100} hr`;
  }
}

export interface HealthReporter {
  /** POST /HealthService with these observations. */
  post(obs: Observation[]): Promise<void>;
}

/** Reports observations; each unhealthy one also becomes a HealthObservation event (2.15 _report_failures). */
export async function reportHealth(r: HealthReporter, event: EventSink, obs: Observation[]): Promise<void> {
  try {
    await r.post(obs);
  } catch (e) {
    log.warn(`HealthService: could not report observations: ${errorText(e)}`);
  } finally {
    for (const o of obs) {
      if (!o.isHealthy) {
        event('HealthObservation', false, JSON.stringify({ ObservationName: o.name.slice(0, 64), IsHealthy: false, Description: (o.description ?? '').slice(0, 128), Value: (o.value ?? '').slice(0, 128) }));
      }
    }
  }
}

export const HGAP_HEALTH_MS = 5 * 60_000;
export const IMDS_HEALTH_MS = 3 * 60_000;

export function hostPluginHeartbeat(o: { health: () => Promise<boolean>; reporter: HealthReporter; event: EventSink; now?: () => number }): () => Promise<void> {
  const state = new ErrorState(HGAP_HEALTH_MS, o.now);
  return async () => {
    try {
      if (await o.health()) state.reset(); else state.incr();
      const healthy = !state.triggered;
      log.verbose(`HostGAPlugin health: ${healthy}`);
      await reportHealth(o.reporter, o.event, [{ name: 'GuestAgentPluginHeartbeat', isHealthy: healthy }]);
      if (!healthy) o.event('HostPluginHeartbeatExtended', false, `${state.failTime} since successful heartbeat`);
    } catch (e) {
      o.event('HostPluginHeartbeat', false, `Exception sending host plugin heartbeat: ${errorText(e)}`);
      throw e;
    }
  };
}

export function imdsHeartbeat(o: { validate: () => Promise<{ healthy: boolean; response: string }>; reporter: HealthReporter; event: EventSink; now?: () => number }): () => Promise<void> {
  const state = new ErrorState(IMDS_HEALTH_MS, o.now);
  return async () => {
    try {
      const v = await o.validate();
      if (v.healthy) state.reset(); else state.incr();
      const healthy = !state.triggered;
      log.verbose(`IMDS health: ${healthy} [${v.response}]`);
      await reportHealth(o.reporter, o.event, [{ name: 'InstanceMetadataHeartbeat', isHealthy: healthy, value: v.response }]);
    } catch (e) {
      o.event('ImdsHeartbeat', false, `Exception sending imds heartbeat: ${errorText(e)}`);
      throw e;
    }
  };
}

export function networkErrors(event: EventSink): () => void {
  return () => {
    const c = takeIoErrors();
    if (c.hostplugin > 0 || c.protocol > 0 || c.other > 0) event('HttpErrors', true, `hostplugin:${c.hostplugin};protocol:${c.protocol};other:${c.other}`);
  };
}

/** The periodic HeartBeat event; `updateGsErrors` gives the goal-state fetch failures since the last one. */
export function heartbeat(o: { event: EventSink; updateGsErrors: () => number }): () => void {
  const id = randomId().toUpperCase();
  let counter = 0;
  return () => {
    // AutoUpdate 0 and UpdateMode None: this agent never updates itself (README: Identity).
    const msg = `HeartbeatCounter: ${counter};HeartbeatId: ${id};UpdateGSErrors: ${o.updateGsErrors()};AutoUpdate: 0;UpdateMode: None;`;
    o.event('HeartBeat', true, msg);
    log.info(`[HEARTBEAT] Agent ${AGENT_NAME}-${AGENT_VERSION} is running as the goal state agent [DEBUG ${msg}]`);
    counter++;
  };
}

/** 2.15's FetchGoalState error reporting: 3 at once, then one per 6 hours; a recovery is reported. */
export class GoalStateErrors {
  private errors = 0;
  private sinceHeartbeat = 0;
  private nextReport = 0;
  private readonly event: EventSink;
  private readonly now: () => number;
  constructor(event: EventSink, now: () => number = Date.now) { this.event = event; this.now = now; }

  failed(e: unknown): void {
    this.errors++;
    this.sinceHeartbeat++;
    if (this.errors <= 3) {
      this.nextReport = this.now();
      this.event('FetchGoalState', false, `Error fetching the goal state: ${errorText(e)}`);
    } else if (this.now() >= this.nextReport) {
      this.nextReport = this.now() + 6 * 3600_000;
      this.event('FetchGoalState', false, `Fetching the goal state is still failing: ${errorText(e)}`);
    }
  }

  succeeded(what: string): void {
    if (this.errors > 0) {
      const msg = `Fetching the goal state recovered from previous errors. Fetched ${what}`;
      log.info(msg);
      this.event('FetchGoalState', true, msg);
      this.errors = 0;
    }
  }

  /** Failures since the last heartbeat (then zero). */
  takeForHeartbeat(): number {
    const n = this.sinceHeartbeat;
    this.sinceHeartbeat = 0;
    return n;
  }
}
