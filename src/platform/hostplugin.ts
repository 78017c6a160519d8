// HostGAPlugin client (docs/protocol.md §2): /health, /versions, /vmSettings (ETag, 304, 404 = unsupported),
// /status (base64 envelope), /extensionArtifact. Always direct. The container id and config name headers
// come from the current WireServer goal state through `ids()`, so a refresh is seen at once.
import { randomId } from '../util/unique.ts';
import { AGENT_NAME, AGENT_VERSION } from '../version.ts';
import type { BlobType, ExtensionsGoalState } from './types.ts';
import { bodyText, isOk, type HttpRequest, type HttpResponse, type HttpTransport } from './http.ts';
import { ARTIFACT_POLICY, DEFAULT_POLICY, NO_RETRY, expectOk, isInvalidContainer, realClock, sendWithRetry, type Clock, type RetryPolicy } from './retry.ts';
import { GoalStateChangedError, HttpError, ProtocolError } from './errors.ts';
import { parseVmSettings, versionAtLeast } from './vmsettings.ts';

export const HGAP_PORT = 32526;
export const HGAP_API_VERSION = '2015-09-01';
/** Older plugins answer vmSettings in a shape we must not trust. */
export const MIN_VMSETTINGS_HGAP_VERSION = '1.0.8.133';
/** 404 on vmSettings: ask again after 6 h. */
export const VMSETTINGS_RECHECK_MS = 6 * 3600_000;

export interface HgapIds {
  containerId: string;
  configName: string;
}

export interface HostPluginOptions {
  /** 'http://168.63.129.16:32526' or a test URL. */
  baseUrl: string;
  transport: HttpTransport;
  /** Current ids from the goal state. */
  ids: () => HgapIds;
  clock?: Clock;
}

export function hgapBaseUrl(wireEndpoint: string): string {
  const host = wireEndpoint.replace(/^https?:\/\//i, '').replace(/[:/].*$/, '');
  return `http://${host}:${HGAP_PORT}`;
}

export type VmSettingsResult =
  | { kind: 'new'; goalState: ExtensionsGoalState; etag: string; declaredSource: string; text: string }
  | { kind: 'unchanged'; goalState: ExtensionsGoalState | null; etag: string }
  | { kind: 'unsupported'; reason: string };

export class HostPluginClient {
  readonly baseUrl: string;
  private readonly transport: HttpTransport;
  private readonly ids: () => HgapIds;
  private readonly clock: Clock;
  private initialized = false;
  private etag = '';
  private cached: ExtensionsGoalState | null = null;
  private unsupportedUntil = 0;
  /** True once vmSettings answered 200 (and until it answers 404): status advertises FastTrack. */
  supportsVmSettings = false;

  constructor(o: HostPluginOptions) {
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    this.transport = o.transport;
    this.ids = o.ids;
    this.clock = o.clock ?? realClock;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    const { containerId, configName } = this.ids();
    return { 'x-ms-version': HGAP_API_VERSION, 'x-ms-containerid': containerId, 'x-ms-host-config-name': configName, ...extra };
  }

  private send(req: Omit<HttpRequest, 'url'> & { path: string }, policy: RetryPolicy = DEFAULT_POLICY): Promise<HttpResponse> {
    const { path, ...rest } = req;
    return sendWithRetry(this.transport, { ...rest, url: `${this.baseUrl}${path}` }, policy, this.clock);
  }

  /** GET /health: true when the plugin answers 200. One attempt (heartbeat). */
  async health(): Promise<boolean> {
    try {
      const res = await this.send({ method: 'GET', path: '/health', doc: 'HostGAPlugin /health', readTimeoutMs: 10_000 }, NO_RETRY);
      return res.status === 200;
    } catch {
      return false;
    }
  }

  /** GET /versions: JSON array of API versions. */
  async versions(): Promise<string[]> {
    const res = expectOk(await this.send({ method: 'GET', path: '/versions', doc: 'HostGAPlugin /versions', headers: { 'x-ms-containerid': this.ids().containerId } }), 'HostGAPlugin /versions');
    const text = bodyText(res);
    try {
      const v = JSON.parse(text) as unknown;
      if (Array.isArray(v)) return v.map(String);
    } catch { /* fall through: the Python agent does a substring test, keep that tolerance */ }
    return text.includes(HGAP_API_VERSION) ? [HGAP_API_VERSION] : [];
  }

  /** /versions once, until it succeeds; required before artifacts and status (§2.1). */
  async ensureInitialized(): Promise<void> {
    if (this.initialized) return;
    const v = await this.versions();
    if (!v.includes(HGAP_API_VERSION)) throw new ProtocolError('HostGAPlugin /versions', `API version ${HGAP_API_VERSION} not offered`);
    this.initialized = true;
  }

  /** False while a 404 (or a too old plugin) says not to ask vmSettings again yet: the poll skips it then. */
  vmSettingsDue(): boolean {
    return this.clock.now() >= this.unsupportedUntil;
  }

  /**
   * GET /vmSettings, single attempt (the next poll is the retry). 304 => unchanged; 404 or a plugin older than
   * 1.0.8.133 => unsupported (not asked again for 6 h); 410/InvalidContainerConfiguration => GoalStateChangedError.
   */
  async vmSettings(force = false): Promise<VmSettingsResult> {
    const now = this.clock.now();
    if (!force && now < this.unsupportedUntil) return { kind: 'unsupported', reason: 'vmSettings not supported (cached answer)' };
    const headers = this.headers({ 'x-ms-client-correlationid': randomId() });
    if (this.etag && !force) headers['if-none-match'] = this.etag;
    const res = await this.transport.send({ method: 'GET', url: `${this.baseUrl}/vmSettings`, doc: 'vmSettings', headers, maxBytes: 4 << 20 });
    if (res.status === 410 || isInvalidContainer(res)) throw new GoalStateChangedError('vmSettings', res.status);
    if (res.status === 304) {
      this.supportsVmSettings = true;
      return { kind: 'unchanged', goalState: this.cached, etag: this.etag };
    }
    if (res.status === 404) {
      this.supportsVmSettings = false;
      this.unsupportedUntil = now + VMSETTINGS_RECHECK_MS;
      return { kind: 'unsupported', reason: 'vmSettings answered 404' };
    }
    if (res.status === 502) throw new HttpError('vmSettings', '[Internal error in HostGAPlugin] 502', 502, 1);
    if (res.status !== 200) throw new HttpError('vmSettings', `unexpected HTTP status ${res.status}`, res.status, 1);
    const etag = res.headers['etag'];
    if (!etag) throw new ProtocolError('vmSettings', 'response has no ETag header');
    const text = bodyText(res);
    if (etag === this.etag && this.cached && !force) {
      this.supportsVmSettings = true;
      return { kind: 'unchanged', goalState: this.cached, etag };
    }
    const parsed = parseVmSettings(text, etag);
    if (!versionAtLeast(parsed.goalState.hostGAPluginVersion, MIN_VMSETTINGS_HGAP_VERSION)) {
      this.supportsVmSettings = false;
      this.unsupportedUntil = now + VMSETTINGS_RECHECK_MS;
      return { kind: 'unsupported', reason: `HostGAPlugin ${parsed.goalState.hostGAPluginVersion || '(unknown)'} is older than ${MIN_VMSETTINGS_HGAP_VERSION}` };
    }
    this.supportsVmSettings = true;
    this.unsupportedUntil = 0;
    this.etag = etag;
    this.cached = parsed.goalState;
    return { kind: 'new', goalState: parsed.goalState, etag, declaredSource: parsed.declaredSource, text };
  }

  /**
   * GET /extensionArtifact for `artifactUrl`. Manifests/profile: `manifestLocation` unset (and 400 is retried: HGAP
   * cache bug). Packages: `manifestLocation` = the manifest last fetched; stream with onChunk.
   */
  async fetchArtifact(artifactUrl: string, o: { doc?: string; manifestLocation?: string; fastTrack?: boolean; maxBytes?: number; onChunk?: (c: Buffer) => void | Promise<void>; onStart?: () => void | Promise<void>; totalTimeoutMs?: number } = {}): Promise<HttpResponse> {
    await this.ensureInitialized();
    const extra: Record<string, string> = { 'x-ms-artifact-location': artifactUrl };
    if (o.manifestLocation) extra['x-ms-artifact-manifest-location'] = o.manifestLocation;
    if (o.fastTrack) extra['x-ms-verify-from-artifacts-blob'] = 'true';
    const doc = o.doc ?? 'HostGAPlugin /extensionArtifact';
    const req: Omit<HttpRequest, 'url'> & { path: string } = { method: 'GET', path: '/extensionArtifact', doc, headers: this.headers(extra) };
    if (o.maxBytes !== undefined) req.maxBytes = o.maxBytes;
    if (o.onChunk) req.onChunk = o.onChunk;
    if (o.onStart) req.onStart = o.onStart;
    if (o.totalTimeoutMs !== undefined) req.totalTimeoutMs = o.totalTimeoutMs;
    return expectOk(await this.send(req, o.manifestLocation ? DEFAULT_POLICY : ARTIFACT_POLICY), doc);
  }

  /** PUT /vmAgentLog: a zip of the agent's logs (log collector). 30 s timeout, no retries beyond the policy. */
  async putAgentLog(zip: Uint8Array): Promise<void> {
    await this.ensureInitialized();
    const { configName } = this.ids();
    const res = await this.send({
      method: 'PUT', path: '/vmAgentLog', doc: 'HostGAPlugin /vmAgentLog', body: zip, totalTimeoutMs: 30_000, readTimeoutMs: 30_000,
      headers: this.headers({
        'x-ms-vmagentlog-deploymentid': configName.split('.')[0] ?? '', 'x-ms-client-name': AGENT_NAME,
        'x-ms-client-version': AGENT_VERSION, 'x-ms-client-correlationid': randomId(),
      }),
    });
    if (!isOk(res.status)) throw new HttpError('HostGAPlugin /vmAgentLog', `unexpected HTTP status ${res.status}`, res.status, 1);
  }

  /** PUT /status with the base64 envelope. Throws GoalStateChangedError on 410/InvalidContainerConfiguration. */
  async putStatus(sasUrl: string, blobType: BlobType, status: Uint8Array, date: string): Promise<void> {
    if (!this.initialized) await this.ensureInitialized();
    for (const body of statusEnvelopes(sasUrl, blobType, status, date)) {
      const res = await this.send({ method: 'PUT', path: '/status', doc: 'HostGAPlugin /status', body, headers: this.headers({ 'Content-Type': 'application/json' }) });
      if (!isOk(res.status)) throw new HttpError('HostGAPlugin /status', `unexpected HTTP status ${res.status}`, res.status, 1);
    }
  }
}

export const BLOB_API_VERSION = '2014-02-14';
export const PAGE_SIZE = 512;
export const PAGE_CHUNK = 4 << 20;

/** ceil to a multiple of 512. */
export function pageAlign(n: number): number {
  return Math.ceil(n / PAGE_SIZE) * PAGE_SIZE;
}

export function withQuery(url: string, q: string): string {
  return url.includes('?') ? `${url}&${q}` : `${url}?${q}`;
}

/** `x-ms-date` as the Python agent writes it (ISO, seconds, Z). */
export function blobDate(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Sorted-key JSON of the HGAP /status wrapper. */
function envelope(requestUri: string, headers: [string, string][], content?: Uint8Array): string {
  // Written out rather than JSON.stringify of an object: the base64 text (the bulk, sent every poll) needs no
  // escaping and is not scanned or copied again; the same bytes as JSON.stringify({content, headers, requestUri}).
  let out = '{';
  if (content !== undefined) {
    const b = Buffer.isBuffer(content) ? content : Buffer.from(content.buffer, content.byteOffset, content.byteLength);
    out += `"content":"${b.toString('base64')}",`;
  }
  out += '"headers":[';
  for (let i = 0; i < headers.length; i++) {
    out += `${i ? ',' : ''}{"headerName":${JSON.stringify(headers[i]![0])},"headerValue":${JSON.stringify(headers[i]![1])}}`;
  }
  return `${out}],"requestUri":${JSON.stringify(requestUri)}}`;
}

/** The envelopes for one status upload through HGAP (§2.6). Page blobs are padded with SPACES. */
export function statusEnvelopes(sasUrl: string, blobType: BlobType, status: Uint8Array, date: string): string[] {
  if (blobType === 'BlockBlob') {
    return [envelope(sasUrl, [['Content-Length', String(status.length)], ['x-ms-blob-type', 'BlockBlob'], ['x-ms-date', date], ['x-ms-version', BLOB_API_VERSION]], status)];
  }
  const size = pageAlign(status.length);
  const padded = Buffer.alloc(size, 0x20);
  Buffer.from(status).copy(padded);
  const out = [envelope(sasUrl, [['Content-Length', '0'], ['x-ms-blob-content-length', String(size)], ['x-ms-blob-type', 'PageBlob'], ['x-ms-date', date], ['x-ms-version', BLOB_API_VERSION]])];
  for (let start = 0; start < size; start += PAGE_CHUNK) {
    const chunk = padded.subarray(start, Math.min(size, start + PAGE_CHUNK));
    out.push(envelope(withQuery(sasUrl, 'comp=page'), [['Content-Length', String(chunk.length)], ['x-ms-date', date], ['x-ms-range', `bytes=${start}-${start + chunk.length - 1}`], ['x-ms-page-write', 'update'], ['x-ms-version', BLOB_API_VERSION]], chunk));
  }
  return out;
}
