// Pre-provisioned VM pools (PPS; docs/protocol.md §3.1, cloud-init's semantics; the Python agent has
// none). The platform boots VMs ahead of demand with a placeholder ovf-env.xml marking them
// pre-provisioned; such a VM reports Ready (into the pool), then waits to be handed to a customer,
// then gets its real ovf-env.xml from IMDS `reprovisiondata` and provisions with it as any first boot.
//
//   Running  Ready, then the primary NIC's carrier goes and comes back (the VNet switch), then poll.
//   Savable  Ready (an HTTP error is expected: the VM may be suspended mid-call), then the primary NIC
//            is removed and a new one added (hot-plug), then poll.
//   PreprovisionedOSDisk  Ready, then the host shuts the VM down and reuses its disk: nothing follows.
//   Unknown  `<Lib.Dir>/pps_reported_ready` exists (a restart while waiting): no second Ready, poll.
//
// Link events come from os/network/links.ts. Until the awaited link change is seen, IMDS is still
// asked every 30 s (so a missed event, or a missing `ip`, costs time, never the VM); after it, every
// second, as cloud-init does. Every answer but 200 with a body is retried (cloud-init retries
// 404/410/429/500 in readurl and restarts on any other error), with one log line per new status and
// then at attempts 1, 2, 4, 8… Bounded by `waitMs` in all: then provisioning fails and is reported;
// the marker stays, so the next start resumes the wait (the VM is recoverable).
import { existsSync, rmSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';
import type { Clock } from '../platform/retry.ts';
import type { GoalState, ImdsInstance } from '../platform/types.ts';
import type { OvfEnv } from '../platform/ovfenv.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log, redact } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { hasCarrier, listLinks, type LinkEvent, type LinkWatcher } from '../os/network/links.ts';
import type { ProvisionPlatform } from './platform.ts';
import type { PpsType, ProvisionKvp } from './kvpreport.ts';
import { AgentError } from '../util/errors.ts';

export const PPS_MARKER = 'pps_reported_ready';

/** Fast polling (cloud-init's 1 s) once the awaited link change happened; the slow safety-net poll before it. */
export const FAST_POLL_MS = 1_000;
export const SLOW_POLL_MS = 30_000;

export class PpsError extends AgentError {
  static override readonly errorName: string = 'PpsError';
}

/** cloud-init's resolution order: marker, then Savable, OS disk, Running, from ovf-env or IMDS. */
export function poolType(markerExists: boolean, ovf: OvfEnv | null, imds: ImdsInstance | null): PpsType {
  if (markerExists) return 'Unknown';
  const t = (ovf?.preprovisionedVmType ?? '').trim().toLowerCase();
  const i = (imds?.ppsType ?? '').trim().toLowerCase();
  if (t === 'savable' || i === 'savable') return 'Savable';
  if (t === 'preprovisionedosdisk' || i === 'preprovisionedosdisk') return 'PreprovisionedOSDisk';
  if (ovf?.preprovisionedVm || t === 'running' || i === 'running') return 'Running';
  return 'None';
}

export interface PpsContext {
  platform: ProvisionPlatform;
  clock: Clock;
  root: Sysroot;
  libDir: string;
  kvp: ProvisionKvp;
  /** A provisioning step ended (timing record, crash hook). */
  step(name: string): void;
  /** The pool VM's goal state (for the Ready report). */
  goalState(): Promise<GoalState>;
  /** Starts watching link events (before Ready, so no event is missed). */
  watchLinks(): LinkWatcher;
  /** The primary NIC now, or null. */
  primaryLink(): string | null;
  /** Bound on the whole wait for the reprovisioning data. */
  waitMs: number;
}

export function ppsMarkerPath(root: Sysroot, libDir: string): string {
  return root.path(posix.join(libDir, PPS_MARKER));
}

export function ppsMarkerExists(root: Sysroot, libDir: string): boolean {
  return existsSync(ppsMarkerPath(root, libDir));
}

export function removePpsMarker(root: Sysroot, libDir: string): void {
  rmSync(ppsMarkerPath(root, libDir), { force: true });
}

/** Waits for the awaited link change in the background; `done` turns true when it happened (or cannot be seen). */
class LinkSwitch {
  done = false;
  private readonly w: LinkWatcher;
  private stopped = false;
  constructor(w: LinkWatcher) { this.w = w; }

  start(type: PpsType, primary: string | null, known: string[]): void {
    void this.run(type, primary, new Set(known)).catch((e) => { log.warn(`PPS: link watch: ${errorText(e)}`); this.done = true; });
  }

  private async next(): Promise<LinkEvent | null> {
    for (;;) {
      if (this.stopped) return null;
      const e = await this.w.next(1_000);
      if (e || this.w.ended || this.stopped) return e;
    }
  }

  private async run(type: PpsType, primary: string | null, known: Set<string>): Promise<void> {
    if (type === 'Running') {
      if (!primary) { log.info('PPS: no network interface to watch for the VNet switch; polling IMDS'); this.done = true; return; }
      log.info(`PPS: waiting for the VNet switch (carrier loss and return) on ${primary}`);
      let lost = false;
      for (let e = await this.next(); e; e = await this.next()) {
        if (e.name !== primary) continue;
        if (!hasCarrier(e)) lost = true;
        else if (lost) { log.info(`PPS: ${primary} is connected again after the VNet switch`); this.done = true; return; }
      }
    } else {
      let detached = primary === null;
      if (detached) log.info('PPS: no network interface now; waiting for the new one'); else log.info(`PPS: waiting for ${primary} to be detached`);
      for (let e = await this.next(); e; e = await this.next()) {
        if (!detached && e.deleted && e.name === primary) {
          detached = true;
          known.delete(e.name);
          log.info(`PPS: ${primary} was detached; waiting for the new NIC`);
        } else if (detached && !e.deleted && !known.has(e.name)) {
          log.info(`PPS: NIC ${e.name} attached`);
          this.done = true;
          return;
        }
      }
    }
    if (!this.stopped) { log.warn('PPS: link monitoring ended; polling IMDS every second'); this.done = true; }
  }

  stop(): void { this.stopped = true; this.w.close(); }
}

async function pollReprovisionData(ctx: PpsContext, sw: LinkSwitch, start: number): Promise<string> {
  let attempts = 0;
  let threshold = 1;
  let last = '';
  for (;;) {
    attempts++;
    let what: string;
    try {
      const r = await ctx.platform.reprovisionData();
      if (r.status === 200 && r.text && r.text.trim()) {
        log.info(`PPS: reprovisioning data received from IMDS after ${attempts} request(s)`);
        return r.text;
      }
      what = `HTTP ${r.status}${r.status === 200 ? ' (empty)' : ''}`;
    } catch (e) {
      what = redact(errorText(e));
    }
    if (what !== last || attempts >= threshold) {
      if (attempts >= threshold) threshold *= 2;
      last = what;
      log.info(`PPS: IMDS reprovisiondata not available yet (attempt ${attempts}): ${what}`);
    }
    // Sleep in 1 s ticks: a link change cuts the slow wait short, and no long timer holds the process.
    const jitter = 0.9 + 0.2 * ctx.clock.random();
    const from = ctx.clock.now();
    for (;;) {
      const now = ctx.clock.now();
      if (now - start >= ctx.waitMs) throw new PpsError(`no reprovisioning data from IMDS within ${Math.round(ctx.waitMs / 1000)} s (${attempts} requests; last: ${what})`);
      const wait = (sw.done ? FAST_POLL_MS : SLOW_POLL_MS) * jitter;
      if (now - from >= wait) break;
      await ctx.clock.sleep(Math.min(FAST_POLL_MS, Math.max(1, wait - (now - from))));
    }
  }
}

/**
 * From Ready in the pool to the new ovf-env.xml text. Throws PpsError (reported by the caller as
 * ProvisioningFailed, with the KVP record) when Ready in the pool fails (Running) or the wait is over.
 */
export async function awaitReprovisioning(ctx: PpsContext, type: PpsType): Promise<string> {
  const start = ctx.clock.now();
  const marker = ppsMarkerPath(ctx.root, ctx.libDir);
  const primary = ctx.primaryLink();
  const known = listLinks(ctx.root).map((l) => l.name);
  const watcher = type === 'Running' || type === 'Savable' ? ctx.watchLinks() : null;
  const sw = new LinkSwitch(watcher ?? { next: async () => null, ended: true, close: () => undefined });
  try {
    if (type !== 'Unknown') {
      log.info(`PPS: pre-provisioned VM (${type}): reporting Ready to join the pool`);
      try {
        await ctx.goalState();
        await ctx.platform.reportHealth({ state: 'Ready' }, false);
      } catch (e) {
        // Savable: the NIC may be unplugged or the VM suspended before the answer arrives (cloud-init ignores it too).
        if (type !== 'Savable') throw new PpsError(`reporting Ready in the pre-provisioning pool failed: ${redact(errorText(e))}`);
        log.info(`PPS: Ready in the pool not confirmed (expected for Savable): ${redact(errorText(e))}`);
      }
      if (type === 'PreprovisionedOSDisk') {
        ctx.step('pps-ready');
        await ctx.kvp.flush();
        log.info('PPS: waiting for the host to shut this VM down');
        while (ctx.clock.now() - start < ctx.waitMs) await ctx.clock.sleep(Math.min(60_000, ctx.waitMs));
        throw new PpsError(`the host did not shut the pre-provisioned OS-disk VM down within ${Math.round(ctx.waitMs / 1000)} s`);
      }
      // Before the step: a process killed from here on resumes without a second Ready.
      writeFileAtomic(marker, `${process.pid}: ${new Date().toISOString()}\n`, { mode: 0o600 });
      ctx.step('pps-ready');
      await ctx.kvp.flush();
    } else {
      log.info('PPS: Ready was reported in the pool before this start; waiting for the reprovisioning data');
    }
    if (type === 'Unknown') sw.done = true; // nothing known to wait for: cloud-init polls at once
    else sw.start(type, primary, known);
    return await pollReprovisionData(ctx, sw, start);
  } finally {
    sw.stop();
  }
}
