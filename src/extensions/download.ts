// Getting a handler's package onto the disk as an extracted, validated handler directory (docs/extensions.md
// §4.4): the cached zip if it is usable, else each package URI (shuffled) on both channels within one
// budget. Extraction happens INSIDE each channel attempt (as the Python agent does): a package that
// arrived whole but is unusable (cut short, garbage, bad CRC, refused entries, no/invalid manifest) fails
// that attempt, and the next channel or URI is tried. Plus the retry schedule for handlers whose download
// failed on every URI and channel: only the download is retried, on later polls, with backoff.
import { existsSync, rmSync } from 'node:fs';
import type { ExtensionHandler, ManifestVersion } from '../platform/types.ts';
import { log } from '../util/logger.ts';
import { ExtensionDownloadError, errorMessage } from './errors.ts';
import type { HandlerLayout } from './layout.ts';
import type { HandlerManifest } from './manifest.ts';
import { extractPackage } from './package.ts';
import { crashPoint } from './crashpoint.ts';
import { PolicyBlockedError } from './policy/messages.ts';

/** The network side, provided by the feature that composes platform and extensions. */
export interface ArtifactSource {
  /** Package versions of the handler's manifest (Plugins and InternalPlugins). Throws on failure. */
  fetchManifest(handler: ExtensionHandler): Promise<ManifestVersion[]>;
  /**
   * Downloads one package URI to `dest` (direct, then the HostGAPlugin fallback) and hands each complete
   * body to `accept` (which extracts it): a throw from `accept` fails that channel attempt like a transport
   * error. Resolves with accept's result; throws when every channel failed.
   */
  downloadPackage<T>(uri: string, dest: string, handler: ExtensionHandler, accept: () => Promise<T>): Promise<T>;
}

export interface DownloadOptions {
  artifacts: ArtifactSource;
  /** Overall budget across URIs. */
  budgetMs: number;
  now: () => number;
  shuffle: <T>(items: T[]) => T[];
  /** Wraps each extraction (policy/gate.ts: signature and signingInfo checks); a PolicyBlockedError is final. */
  extract?: (run: () => Promise<HandlerManifest>) => Promise<HandlerManifest>;
}

/** Package URIs are tried in random order, as the Python agent does (Fisher–Yates; a copy). */
export function shuffled<T>(items: T[]): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** §4.4: reuse an existing zip, else try each package URI on each channel within the overall budget. */
export async function downloadHandler(o: DownloadOptions, h: ExtensionHandler, layout: HandlerLayout, pkg: ManifestVersion | undefined): Promise<HandlerManifest> {
  const run = () => extractPackage(layout.zipPath, layout);
  const extract = o.extract ? () => o.extract!(run) : run;
  if (existsSync(layout.zipPath)) {
    try {
      return await extract();
    } catch (e) {
      if (e instanceof PolicyBlockedError) throw e;
      log.warn(`[${layout.fullName}] cached package unusable, downloading again: ${errorMessage(e)}`);
    }
  }
  const uris = o.shuffle(pkg?.uris ?? []);
  if (uris.length === 0) throw new ExtensionDownloadError('No package uri found');
  const started = o.now();
  let last = '';
  for (const uri of uris) {
    if (o.now() - started > o.budgetMs) throw new ExtensionDownloadError(`Timeout downloading ${layout.fullName}`);
    try {
      // Each failed attempt (transport or unusable package) is logged once by the fetcher, with its reason.
      const manifest = await o.artifacts.downloadPackage(uri, layout.zipPath, h, extract);
      crashPoint('ext-extracted');
      return manifest;
    } catch (e) {
      if (e instanceof PolicyBlockedError) throw e; // a package failing its signature is not fetched again
      last = errorMessage(e);
    } finally {
      rmSync(layout.zipPath, { force: true });
    }
  }
  throw new ExtensionDownloadError(`Failed to download ${layout.fullName} from all URIs. Last error: ${last}`);
}

/** First retry of a failed download after 1 minute, doubling up to 30 minutes (±10 % jitter). */
export const DOWNLOAD_RETRY = { firstMs: 60_000, maxMs: 30 * 60_000 };

/**
 * Handlers of the current goal state whose download failed on every URI and channel (nothing was run for
 * them). The executor retries only those (and the items their failure held back) once the backoff has
 * passed, until they succeed or the goal state changes. Costs nothing while empty (the idle poll).
 */
export class DownloadRetries {
  private goalState: string | null = null;
  private readonly failed = new Set<string>();
  private delayMs = 0;
  private dueAt = 0;
  private readonly firstMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(o: { firstMs?: number; maxMs?: number; random?: () => number } = {}) {
    this.firstMs = o.firstMs ?? DOWNLOAD_RETRY.firstMs;
    this.maxMs = o.maxMs ?? DOWNLOAD_RETRY.maxMs;
    this.random = o.random ?? Math.random;
  }

  get pending(): boolean { return this.failed.size > 0; }

  /** Item keys (see itemKey) waiting for a retry. */
  has(key: string): boolean { return this.failed.has(key); }

  /** A run of `goalState` starts: a different goal state drops every pending retry. */
  begin(goalState: string): void {
    if (goalState !== this.goalState) {
      this.goalState = goalState;
      this.failed.clear();
      this.delayMs = 0;
    }
  }

  /** The run ended: `failed` are the items to retry (empty: done). Schedules the next retry. */
  end(failed: Iterable<string>, now: number): void {
    this.failed.clear();
    for (const k of failed) this.failed.add(k);
    if (this.failed.size === 0) { this.delayMs = 0; return; }
    this.delayMs = this.delayMs === 0 ? this.firstMs : Math.min(this.maxMs, this.delayMs * 2);
    const jitter = 1 + (this.random() * 0.2 - 0.1);
    this.dueAt = now + Math.round(this.delayMs * jitter);
    log.info(`extension downloads failed for ${[...this.failed].join(', ')}; retrying the download in ${Math.round((this.dueAt - now) / 1000)} s`);
  }

  /** True when a retry for `goalState` is due at `now`. */
  due(goalState: string, now: number): boolean {
    return this.failed.size > 0 && goalState === this.goalState && now >= this.dueAt;
  }
}
