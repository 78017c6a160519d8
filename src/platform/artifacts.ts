// Downloading manifests, packages and the artifacts profile (docs/protocol.md §2.7): URIs shuffled, each tried
// on the process-wide default channel then on the other one (direct storage via the proxy, or the
// HostGAPlugin's /extensionArtifact); a fallback success flips the default channel; one time budget per
// artifact. Packages stream to the caller's sink (restarted per attempt), never into memory. A body that
// arrives whole but fails the caller's check (`accept`: not a zip, bad CRC, invalid XML) is a failed
// attempt of that channel like a transport error: the other channel and the other URIs are tried next.
// Each failed attempt is logged once, with its reason.
import type { HttpResponse, HttpTransport } from './http.ts';
import type { HostPluginClient } from './hostplugin.ts';
import { DEFAULT_POLICY, expectOk, realClock, sendWithRetry, type Clock, type RetryPolicy } from './retry.ts';
import { GoalStateChangedError, ProtocolError } from './errors.ts';
import { log, redact } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export type ArtifactChannel = 'direct' | 'hgap';

export interface ArtifactRequest {
  /** Candidate URLs (manifest URIs of a handler, or package URIs of a manifest version). */
  uris: string[];
  /** Name for errors, e.g. 'ExtensionManifest', 'ExtensionPackage'. */
  doc: string;
  /** Default 1 MiB; packages: e.g. 100 MiB. */
  maxBytes?: number;
  /** Package downloads: the manifest fetched last (x-ms-artifact-manifest-location). */
  manifestLocation?: string;
  /** Fast Track goal state: HGAP verifies against the artifacts blob. */
  fastTrack?: boolean;
  /** Stream successful bodies here (packages). `onStart` is called before each attempt's first byte. */
  onChunk?: (chunk: Buffer) => void | Promise<void>;
  onStart?: () => void | Promise<void>;
  /** Whole-artifact budget, default 5 minutes. */
  budgetMs?: number;
  /**
   * Called after each attempt whose answer was complete (the streamed file is closed by then); a throw
   * makes it a failed attempt, the other channel and URIs are tried next. Its error message is the reason.
   */
  accept?: (res: ArtifactResult) => Promise<void> | void;
}

export interface ArtifactResult {
  /** Empty when streamed. */
  body: Buffer;
  uri: string;
  channel: ArtifactChannel;
}

export interface ArtifactFetcherOptions {
  transport: HttpTransport;
  /** null: direct only. */
  hgap: HostPluginClient | null;
  /** Re-fetch the goal state after a 410 from the plugin (AzureProtocol.wire.fetchGoalState). */
  refresh?: () => Promise<unknown>;
  clock?: Clock;
  /** For the shuffle; tests pass a fixed one. */
  random?: () => number;
  policy?: RetryPolicy;
}

export class ArtifactFetcher {
  /** Process-wide default channel; starts direct. */
  defaultChannel: ArtifactChannel = 'direct';
  private readonly o: ArtifactFetcherOptions;
  private readonly clock: Clock;

  constructor(o: ArtifactFetcherOptions) {
    this.o = o;
    this.clock = o.clock ?? realClock;
  }

  async fetch(req: ArtifactRequest): Promise<ArtifactResult> {
    const start = this.clock.now();
    const budget = req.budgetMs ?? 300_000;
    const uris = shuffle(req.uris.filter(Boolean), this.o.random ?? Math.random);
    if (uris.length === 0) throw new ProtocolError(req.doc, 'no URI to download from');
    const errors: string[] = [];
    for (const uri of uris) {
      const channels: ArtifactChannel[] = this.defaultChannel === 'direct' ? ['direct', 'hgap'] : ['hgap', 'direct'];
      for (const ch of channels) {
        if (ch === 'hgap' && !this.o.hgap) continue;
        if (this.clock.now() - start > budget) {
          throw new ProtocolError(req.doc, `download budget of ${budget} ms spent; ${errors.join('; ')}`);
        }
        try {
          const res = ch === 'direct' ? await this.direct(uri, req) : await this.viaPlugin(uri, req);
          const out = { body: res.body, uri, channel: ch };
          if (req.accept) await req.accept(out);
          if (ch !== this.defaultChannel) {
            log.info(`${req.doc}: ${ch} worked where ${this.defaultChannel} did not; it is now the default channel`);
            this.defaultChannel = ch;
          }
          return out;
        } catch (e) {
          const reason = `${ch} ${redact(uri)}: ${errorText(e)}`;
          log.warn(`${req.doc}: attempt failed: ${reason}`);
          errors.push(reason);
        }
      }
    }
    throw new ProtocolError(req.doc, `download failed from every URI and channel: ${errors.join('; ')}`);
  }

  private async direct(uri: string, req: ArtifactRequest): Promise<HttpResponse> {
    const r = await sendWithRetry(this.o.transport, {
      method: 'GET', url: uri, doc: req.doc, useProxy: true, maxBytes: req.maxBytes ?? 1 << 20,
      ...(req.onChunk ? { onChunk: req.onChunk } : {}), ...(req.onStart ? { onStart: req.onStart } : {}),
      totalTimeoutMs: req.budgetMs ?? 300_000,
    }, this.o.policy ?? DEFAULT_POLICY, this.clock);
    return expectOk(r, req.doc);
  }

  private async viaPlugin(uri: string, req: ArtifactRequest): Promise<HttpResponse> {
    const hgap = this.o.hgap!;
    const call = () => hgap.fetchArtifact(uri, {
      doc: req.doc, maxBytes: req.maxBytes ?? 1 << 20, fastTrack: !!req.fastTrack, totalTimeoutMs: req.budgetMs ?? 300_000,
      ...(req.manifestLocation ? { manifestLocation: req.manifestLocation } : {}),
      ...(req.onChunk ? { onChunk: req.onChunk } : {}), ...(req.onStart ? { onStart: req.onStart } : {}),
    });
    try {
      return await call();
    } catch (e) {
      if (!(e instanceof GoalStateChangedError) || !this.o.refresh) throw e;
      await this.o.refresh();
      return call();
    }
  }
}

/** Fisher–Yates; a copy. */
export function shuffle<T>(items: T[], random: () => number): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
