// The platform façade the features use: one WireServer client, one HostGAPlugin client, the goal-state
// poll of docs/protocol.md §2.4 (WireServer always, vmSettings when Fast Track is on), the "410 => refresh
// the goal state and retry once" rule, and the status upload. No OS side effects besides the protocol's
// own files in Lib.Dir (§1.14).
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateSummary, ExtensionsGoalState, FullGoalState, GoalState, HealthReport, StatusUploadBlob, StatusUploadOutcome } from './types.ts';
import type { HttpTransport } from './http.ts';
import { realClock, type Clock } from './retry.ts';
import { GoalStateChangedError } from './errors.ts';
import { WireServerClient } from './wireserver.ts';
import { HostPluginClient, hgapBaseUrl } from './hostplugin.ts';
import { selectExtensionsGoalState } from './selection.ts';
import { uploadStatus } from './statusblob.ts';
import { ArtifactFetcher } from './artifacts.ts';
import { certPath } from './certificates.ts';
import { OpenSsl } from '../crypto/openssl.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export interface AzureProtocolOptions {
  /** WireServer endpoint ('168.63.129.16' or a 127.0.0.1 URL in tests). */
  endpoint: string;
  /** HostGAPlugin base URL; default http://<endpoint host>:32526. */
  hgapUrl?: string;
  libDir: string;
  transport: HttpTransport;
  clock?: Clock;
  openssl?: OpenSsl;
  /** Debug.EnableFastTrack (default true). */
  fastTrack?: boolean;
}

export interface PollResult {
  goalState: GoalState;
  /** The WireServer incarnation changed (full goal state fetched). */
  wireChanged: boolean;
  /** Set when wireChanged. */
  full: FullGoalState | null;
  /** The extensions goal state to execute (may be unchanged). */
  extensions: ExtensionsGoalState;
  /** True when `extensions` differs from the previous poll's. */
  extensionsChanged: boolean;
  /** HGAP offers vmSettings (status advertises FastTrack). */
  fastTrackSupported: boolean;
  certificates: CertificateSummary[];
}

export class AzureProtocol {
  readonly wire: WireServerClient;
  readonly hgap: HostPluginClient;
  /** Manifests, packages, artifacts profile: direct/HGAP channels with fallback (§2.7). */
  readonly artifacts: ArtifactFetcher;
  private readonly clock: Clock;
  private readonly fastTrack: boolean;
  private readonly libDir: string;
  private readonly transport: HttpTransport;
  private current: ExtensionsGoalState | null = null;
  private lastFull: FullGoalState | null = null;

  constructor(o: AzureProtocolOptions) {
    this.clock = o.clock ?? realClock;
    this.libDir = o.libDir;
    this.transport = o.transport;
    this.fastTrack = o.fastTrack ?? true;
    this.wire = new WireServerClient({ endpoint: o.endpoint, libDir: o.libDir, transport: o.transport, clock: this.clock, openssl: o.openssl ?? new OpenSsl() });
    this.hgap = new HostPluginClient({
      baseUrl: o.hgapUrl ?? hgapBaseUrl(o.endpoint),
      transport: o.transport,
      clock: this.clock,
      ids: () => ({ containerId: this.wire.current?.containerId ?? '', configName: this.wire.current?.configName ?? '' }),
    });
    this.artifacts = new ArtifactFetcher({ transport: o.transport, hgap: this.hgap, clock: this.clock, refresh: () => this.wire.fetchGoalState() });
  }

  get extensions(): ExtensionsGoalState | null { return this.current; }

  /** Protocol detection: versions, transport pair, full goal state. */
  async detect(): Promise<PollResult> {
    await this.wire.checkVersions();
    await this.wire.transportPair();
    return this.poll(true);
  }

  /** Runs fn; on GoalStateChangedError re-fetches the goal state (new container id / config name) and retries once. */
  async withRefresh<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      if (!(e instanceof GoalStateChangedError)) throw e;
      log.info(`${e.doc}: goal state changed (${e.status}); refreshing and retrying once`);
      await this.wire.fetchGoalState();
      return fn();
    }
  }

  /**
   * One goal-state poll (§2.4). The idle path is one GET of the goal state (and one conditional vmSettings GET
   * answered 304 when Fast Track is on).
   */
  async poll(force = false): Promise<PollResult> {
    const { goalState, changed } = await this.wire.fetchGoalState();
    const wireChanged = changed || force || !this.lastFull;
    let full: FullGoalState | null = null;
    if (wireChanged) {
      full = await this.wire.fetchFull(goalState);
      this.lastFull = full;
    }
    let fromVm: ExtensionsGoalState | null = null;
    // While vmSettings is known to be unsupported (asked again after 6 h) the idle poll does not call it.
    if (this.fastTrack && (force || this.hgap.vmSettingsDue())) {
      try {
        const vs = await this.withRefresh(() => this.hgap.vmSettings(force));
        if (vs.kind === 'new') {
          if (vs.goalState.source === 'Fabric') {
            // A Fabric vmSettings may need tenant certificates it does not carry: ExtensionsConfig rules.
            rmSync(join(this.libDir, 'fast_track.json'), { force: true });
          } else {
            fromVm = vs.goalState;
          }
        }
      } catch (e) {
        // Polled every 6 s: a persistent failure is logged once per distinct message, not every poll.
        const msg = errorText(e);
        log.once('WARNING', `vmSettings:${msg.slice(0, 200)}`, `vmSettings: ${msg}`);
      }
    }
    const selected = selectExtensionsGoalState(this.current, full ? full.extensions : null, fromVm);
    if (selected) {
      this.current = selected;
      if (selected.source === 'FastTrack') {
        writeFileAtomic(join(this.libDir, 'fast_track.json'), JSON.stringify({ timestamp: selected.createdOn }), { mode: 0o600 });
        await this.refetchMissingCertificates(goalState);
      }
    }
    return {
      goalState,
      wireChanged,
      full,
      extensions: this.current ?? (full ?? this.lastFull!).extensions,
      extensionsChanged: selected !== null,
      fastTrackSupported: this.fastTrack && this.hgap.supportsVmSettings,
      certificates: this.wire.certificates,
    };
  }

  /** Fast Track: a .crt of the last summary missing on disk => fetch the certificates again (errors logged). */
  private async refetchMissingCertificates(gs: GoalState): Promise<void> {
    if (!this.wire.certificates.some((c) => !existsSync(certPath(this.libDir, c.thumbprint)))) return;
    try { await this.wire.fetchCertificates(gs, true); } catch (e) { log.warn(`re-fetching certificates: ${errorText(e)}`); }
  }

  async reportHealth(report: HealthReport): Promise<void> {
    await this.wire.reportHealth(report);
  }

  /** Uploads the aggregate status to the current goal state's status blob (HGAP first, then direct). */
  async uploadStatus(status: string | Uint8Array, blob: StatusUploadBlob | null = this.current?.statusUploadBlob ?? null): Promise<StatusUploadOutcome> {
    if (!blob) {
      // The Python agent refreshes the goal state once before giving up on a missing status blob.
      await this.poll(true);
      blob = this.current?.statusUploadBlob ?? null;
      if (!blob) return { ok: false, blobType: 'BlockBlob', attempts: [{ channel: 'Direct', ok: false, detail: 'Status upload uri is missing' }], goalStateChanged: false };
    }
    const outcome = await uploadStatus({ blob, status, hgap: this.hgap, transport: this.transport, clock: this.clock });
    if (outcome.goalStateChanged) await this.wire.fetchGoalState().catch((e) => log.warn(`goal state refresh after status 410: ${errorText(e)}`));
    return outcome;
  }
}
