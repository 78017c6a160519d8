// HTTP for the platform layer. Platform endpoints (WireServer, HostGAPlugin, IMDS) always go direct; only
// storage traffic (manifests, packages, the status blob) may use a proxy (docs/protocol.md §4). Every body is
// capped, every request has connect/read/total timeouts and `Connection: close` (the WireServer firewall
// only lets root open new connections, and pooled sockets would outlive a goal-state refresh).
//
// Three engines; `waagent -version` loads none of them:
//   * direct plain-http requests (every platform request: WireServer, HostGAPlugin, IMDS) use rawhttp.ts,
//     one HTTP/1.1 exchange over Node's TCP handle (node:net for a host name). Measured (scripts/bench/
//     daemon-cycle.ts on 127.0.0.1, and scripts/bench/daemon.ts in the VM-in-a-box): node:http's request/
//     response/stream layers cost ~1 ms of CPU more per idle cycle of three requests, and loading node:http
//     + node:https (tls) ~7 MiB of RSS; net.Socket's stream layer ~0.3 ms per idle poll (tcplink.ts);
//   * direct https requests (storage without a proxy) use node:https, loaded on first use;
//   * requests through a proxy use undici (ProxyAgent: CONNECT tunnels, absolute-URI requests,
//     Proxy-Authorization), which node:http does not offer. undici is then loaded on first use; it is not
//     used for direct traffic: its parser is a WebAssembly llhttp instance whose code and memory stay
//     resident (~5.5 MiB of RSS in the idle daemon).
import type * as Undici from 'undici';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { AGENT_NAME, AGENT_VERSION } from '../version.ts';
import { log, redact } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { BodyTooLargeError, HttpError, TransportError } from './errors.ts';
import { RawHttpError, rawExchange } from './rawhttp.ts';
import { selectProxy, type ProxyConfig } from './proxy.ts';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'HEAD';

export interface HttpRequest {
  method: HttpMethod;
  url: string;
  /** Document/endpoint name used in errors and logs, e.g. 'GoalState'. */
  doc: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Body cap in bytes. Default 1 MiB (Azure's XML documents are far smaller). */
  maxBytes?: number;
  /**
   * Stream the body of a SUCCESSFUL (2xx) answer to this callback instead of keeping it (packages to a file);
   * maxBytes still applies. Error bodies are never streamed: they are kept (capped) in `body`. A chunk may
   * be a view of a larger read buffer: a sink that keeps chunks should copy them.
   */
  onChunk?: (chunk: Buffer) => void | Promise<void>;
  /** Called before the first chunk of each 2xx answer, so a sink can start over after a failed attempt. */
  onStart?: () => void | Promise<void>;
  /** Default 10 s. */
  connectTimeoutMs?: number;
  /** Time to the response headers, and the longest silence while reading the body. Default 10 s. */
  readTimeoutMs?: number;
  /** Hard cap on the whole exchange. Default 60 s. */
  totalTimeoutMs?: number;
  /** Storage traffic only: honour HttpProxy.* / http(s)_proxy / no_proxy. Never set for platform endpoints. */
  useProxy?: boolean;
}

export interface HttpResponse {
  status: number;
  /** Lower-cased header names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  /** Empty when the body was streamed to onChunk. */
  body: Buffer;
}

/** Anything that can send one request (the real client, or a fake in unit tests). */
export interface HttpTransport {
  send(req: HttpRequest): Promise<HttpResponse>;
}

export const USER_AGENT = `${AGENT_NAME}/${AGENT_VERSION}`;
export const DEFAULT_MAX_BYTES = 1 << 20;
const ERROR_BODY_KEEP = 64 << 10;

/** UTF-8 text of a body, without a BOM (the WireServer sometimes sends one). */
export function bodyText(res: HttpResponse): string {
  let b = res.body;
  if (b.length >= 3 && b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) b = b.subarray(3);
  return b.toString('utf8');
}

export function isOk(status: number): boolean {
  return status === 200 || status === 201 || status === 202;
}

// Proxy selection lives in proxy.ts (pure, unit-tested); re-exported for the platform's callers.
export { bypassedByNoProxy, confProxyUrl, selectProxy, type ProxyConfig } from './proxy.ts';

type UndiciLite = typeof import('./undici.ts');
let undiciPromise: Promise<UndiciLite> | null = null;
function loadUndici(): Promise<UndiciLite> {
  undiciPromise ??= import('./undici.ts');
  return undiciPromise;
}

export interface HttpClientOptions {
  proxy?: ProxyConfig;
  env?: NodeJS.ProcessEnv;
  /** Extra hosts that must never be proxied (e.g. a non-default WireServer endpoint from DHCP). */
  directHosts?: string[];
}

export class HttpClient implements HttpTransport {
  private readonly proxy: ProxyConfig;
  private readonly env: NodeJS.ProcessEnv;
  private readonly directHosts: string[];
  private readonly dispatchers = new Map<string, Undici.Dispatcher>();

  constructor(opts: HttpClientOptions = {}) {
    this.proxy = opts.proxy ?? {};
    this.env = opts.env ?? process.env;
    this.directHosts = opts.directHosts ?? [];
  }

  /** The proxy this client would use for a request (null = direct). */
  proxyFor(req: Pick<HttpRequest, 'url' | 'useProxy'>): string | null {
    return req.useProxy ? selectProxy(req.url, this.proxy, this.env, this.directHosts) : null;
  }

  /**
   * Not an async function: a direct plain-http request (both of the idle poll's) is handed to the lean
   * engine's own promise, without one more async frame and the ticks of resolving a promise with a promise.
   */
  send(req: HttpRequest): Promise<HttpResponse> {
    let call: EngineCall;
    let proxyUrl: string | null;
    try {
      proxyUrl = this.proxyFor(req);
      call = this.engineCall(req, proxyUrl);
    } catch (e) {
      return Promise.reject(e);
    }
    if (!proxyUrl && req.url.startsWith('http://')) return sendRaw(call);
    return this.sendOther(call, proxyUrl);
  }

  /** The request's final headers (User-Agent, Connection: close), timeouts and cap, for either engine. */
  private engineCall(req: HttpRequest, proxyUrl: string | null): EngineCall {
    const connectTimeout = req.connectTimeoutMs ?? 10_000;
    const readTimeout = req.readTimeoutMs ?? 10_000;
    const max = req.maxBytes ?? DEFAULT_MAX_BYTES;
    const headers: Record<string, string> = {};
    let hasUa = false;
    const given = req.headers;
    if (given) {
      for (const k in given) {
        const lk = k.toLowerCase();
        if (lk === 'user-agent') hasUa = true;
        else if (lk === 'connection') continue;
        headers[k] = given[k]!;
      }
    }
    if (!hasUa) headers['User-Agent'] = USER_AGENT;
    headers['Connection'] = 'close';

    // The request's name for logs and errors: built only when used (redaction is a handful of regexes,
    // and the idle poll's requests are logged at VERBOSE, which is usually off).
    const what = () => `${req.method} ${redact(req.url)}${proxyUrl ? ' via proxy' : ''}`;
    if (log.enabled('VERBOSE')) log.verbose(`HTTP ${what()}`);
    const total = req.totalTimeoutMs ?? 60_000;
    return { req, headers, connectTimeoutMs: connectTimeout, readTimeoutMs: readTimeout, totalTimeoutMs: total, maxBytes: max, what };
  }

  /** Through a proxy (undici), or direct https (node:https). */
  private async sendOther(call: EngineCall, proxyUrl: string | null): Promise<HttpResponse> {
    const { req, connectTimeoutMs: connectTimeout, totalTimeoutMs: total, maxBytes: max, what } = call;
    // Our own controller (not AbortSignal.timeout) so that nothing fires after the exchange is over.
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(new Error(`no complete answer within ${total} ms`)), total);
    try {
      let opened: Opened;
      if (proxyUrl) {
        const undici = await loadUndici();
        opened = await this.openUndici(undici, call, this.dispatcher(undici, proxyUrl, connectTimeout), proxyUrl, ac.signal);
      } else {
        opened = await openNative(call, ac.signal);
      }
      return await readBody(req, opened, max, what(), ac.signal);
    } finally {
      clearTimeout(timer);
    }
  }

  private async openUndici(undici: UndiciLite, call: EngineCall, dispatcher: Undici.Dispatcher, proxyUrl: string, signal: AbortSignal): Promise<Opened> {
    const { req, headers, readTimeoutMs: readTimeout } = call;
    const what = call.what();
    let res: Undici.Dispatcher.ResponseData;
    try {
      res = await undici.request(req.url, {
        method: req.method,
        headers,
        body: req.body === undefined ? undefined : typeof req.body === 'string' ? req.body : Buffer.from(req.body),
        dispatcher,
        headersTimeout: readTimeout,
        bodyTimeout: readTimeout,
        signal,
      });
    } catch (e) {
      // A proxy refusing our credentials is an answer, not a network fault: retrying cannot help.
      if (proxyUrl && /\b407\b|Proxy Authentication Required/i.test(String(errorText(e)))) {
        throw new HttpError(req.doc, `${what}: the proxy refused the credentials (407)`, 407, 1);
      }
      throw transportError(req.doc, what, e);
    }
    return { status: res.statusCode, headers: flattenHeaders(res.headers), body: res.body };
  }

  private dispatcher(undici: UndiciLite, proxyUrl: string | null, connectTimeout: number): Undici.Dispatcher {
    const key = `${proxyUrl ?? 'direct'}|${connectTimeout}`;
    let d = this.dispatchers.get(key);
    if (d) return d;
    if (proxyUrl) {
      const p = new URL(proxyUrl);
      // Credentials go in Proxy-Authorization; undici's own parsing skips a user without a password.
      const token = p.username || p.password
        ? `Basic ${Buffer.from(`${decodeURIComponent(p.username)}:${decodeURIComponent(p.password)}`).toString('base64')}`
        : undefined;
      p.username = '';
      p.password = '';
      // proxyTunnel:false => plain http targets get the absolute URI in the request line (like the Python
      // agent); https targets are tunnelled with CONNECT either way.
      d = new undici.ProxyAgent({ uri: p.href, token, proxyTunnel: false, connect: { timeout: connectTimeout }, pipelining: 0 });
    } else {
      d = new undici.Agent({ connect: { timeout: connectTimeout }, pipelining: 0 });
    }
    this.dispatchers.set(key, d);
    return d;
  }

  async close(): Promise<void> {
    const all = [...this.dispatchers.values()];
    this.dispatchers.clear();
    await Promise.all(all.map((d) => d.close().catch(() => undefined)));
  }
}

/**
 * What each engine gets for one exchange (one options object instead of positional parameters): the
 * request, its final headers (User-Agent, Connection: close), the three timeouts, the body cap and the
 * request's name for logs and errors (built only when used).
 */
interface EngineCall {
  req: HttpRequest;
  headers: Record<string, string>;
  connectTimeoutMs: number;
  readTimeoutMs: number;
  totalTimeoutMs: number;
  maxBytes: number;
  what: () => string;
}

/** Parsed URLs of the plain-http requests (the idle poll asks the same two every 6 s); URL objects are not mutated here. */
const parsedUrls = new Map<string, URL>();
function parseUrl(text: string): URL {
  let u = parsedUrls.get(text);
  if (!u) {
    u = new URL(text);
    if (parsedUrls.size >= 64) parsedUrls.clear();
    parsedUrls.set(text, u);
  }
  return u;
}

/** A direct plain-http request on the lean engine (rawhttp.ts); errors mapped to the platform's types. */
async function sendRaw(call: EngineCall): Promise<HttpResponse> {
  const { req, headers, connectTimeoutMs: connectTimeout, readTimeoutMs: readTimeout, totalTimeoutMs: total, maxBytes: max, what } = call;
  let url: URL;
  try { url = parseUrl(req.url); } catch (e) { throw transportError(req.doc, what(), e); }
  // An ASCII string body (the status envelope every poll) goes to the socket as it is; any other is encoded.
  const body = req.body === undefined ? undefined
    : typeof req.body === 'string' ? (Buffer.byteLength(req.body, 'utf8') === req.body.length ? req.body : Buffer.from(req.body, 'utf8'))
      : req.body;
  try {
    return await rawExchange({
      method: req.method, url, headers, ...(body !== undefined ? { body } : {}), connectTimeoutMs: connectTimeout, readTimeoutMs: readTimeout,
      totalTimeoutMs: total, maxBytes: max, errorBodyKeep: ERROR_BODY_KEEP, ...(req.onChunk ? { onChunk: req.onChunk } : {}), ...(req.onStart ? { onStart: req.onStart } : {}),
    });
  } catch (e) {
    if (e instanceof RawHttpError) {
      if (e.tooLarge) throw new BodyTooLargeError(req.doc, max);
      if (e.code === 'ESINK') throw e.sinkError;
    }
    throw transportError(req.doc, what(), e);
  }
}

/** A response whose headers arrived and whose body is still to be read, whatever the engine. */
interface Opened { status: number; headers: Record<string, string>; body: Readable }

// Loaded on first use (process.getBuiltinModule, not import(): the binary's bundle is compiled by boot.ts
// with vm.Script, which has no loader for dynamic imports).
function loadHttps(): Promise<typeof import('node:https')> {
  return Promise.resolve(process.getBuiltinModule('node:https') as typeof import('node:https'));
}

function timeoutError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * One direct https request (storage without a proxy; plain http goes through rawhttp.ts) on a fresh
 * connection with node:https (no agent: nothing pooled). Timeouts as undici's: connect, then the longest
 * silence of the socket (headers and body), and the caller's total (signal).
 */
async function openNative(call: EngineCall, signal: AbortSignal): Promise<Opened> {
  const { req, headers, connectTimeoutMs: connectTimeout, readTimeoutMs: readTimeout } = call;
  const what = call.what();
  const u = new URL(req.url);
  if (u.protocol !== 'https:') throw new TransportError(req.doc, `${what} failed: unsupported URL scheme ${u.protocol}`, 'EPROTO');
  const https = await loadHttps();
  // An ASCII string body (the status envelope every poll) goes to the socket as it is; any other is encoded.
  const body = req.body === undefined ? undefined
    : typeof req.body === 'string' ? (Buffer.byteLength(req.body, 'utf8') === req.body.length ? req.body : Buffer.from(req.body, 'utf8'))
      : req.body;
  return new Promise<Opened>((resolve, reject) => {
    let cr: ClientRequest;
    try {
      cr = https.request({
        protocol: u.protocol, hostname: u.hostname.replace(/^\[|\]$/g, ''), port: u.port || undefined, path: `${u.pathname}${u.search}`,
        method: req.method, headers, agent: false, signal,
      });
    } catch (e) {
      reject(transportError(req.doc, what, e));
      return;
    }
    const connectTimer = setTimeout(() => cr.destroy(timeoutError('UND_ERR_CONNECT_TIMEOUT', `connect timeout after ${connectTimeout} ms`)), connectTimeout);
    cr.once('socket', (sock) => {
      const connected = () => clearTimeout(connectTimer);
      if (!sock.connecting) connected(); else sock.once('secureConnect', connected);
    });
    cr.setTimeout(readTimeout, () => cr.destroy(timeoutError('UND_ERR_SOCKET_TIMEOUT', `no data for ${readTimeout} ms`)));
    cr.once('error', (e) => { clearTimeout(connectTimer); reject(transportError(req.doc, what, e)); });
    cr.once('close', () => clearTimeout(connectTimer));
    cr.once('response', (res: IncomingMessage) => {
      clearTimeout(connectTimer);
      const h: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
      resolve({ status: res.statusCode ?? 0, headers: h, body: res });
    });
    cr.end(body);
  });
}

/** Reads (or streams to req.onChunk) a body within its cap; the same for both engines. */
async function readBody(req: HttpRequest, res: Opened, max: number, what: string, signal: AbortSignal): Promise<HttpResponse> {
  // Destroying a body we refuse emits 'error' on the stream; the refusal is reported by our own throw.
  res.body.on('error', () => { /* handled below */ });
  const out: HttpResponse = { status: res.status, headers: res.headers, body: EMPTY };
  const declared = Number(out.headers['content-length']);
  if (Number.isFinite(declared) && declared > max) {
    res.body.destroy();
    throw new BodyTooLargeError(req.doc, max);
  }
  const chunks: Buffer[] = [];
  let total = 0;
  const stream = req.onChunk && res.status >= 200 && res.status < 300 ? req.onChunk : null;
  // A failing sink (disk full...) is the caller's error, not a network fault: it must not be retried.
  let sinkError: { e: unknown } | null = null;
  const sink = async (fn: () => void | Promise<void>) => {
    try { await fn(); } catch (e) { sinkError = { e }; throw e; }
  };
  try {
    if (stream && req.onStart) await sink(req.onStart);
    for await (const c of res.body) {
      const chunk = c as Buffer;
      total += chunk.length;
      if (total > max) {
        res.body.destroy();
        throw new BodyTooLargeError(req.doc, max);
      }
      if (stream) await sink(() => stream(chunk));
      else chunks.push(chunk);
      // An error answer to a streaming request (a package) is only read for its message: keep 64 KiB.
      if (req.onChunk && !stream && total >= ERROR_BODY_KEEP) {
        res.body.destroy();
        break;
      }
    }
  } catch (e) {
    if (e instanceof BodyTooLargeError) throw e;
    res.body.destroy();
    if (sinkError) throw (sinkError as { e: unknown }).e;
    // The total timeout cut the body: say so (node:http reports only 'aborted').
    if (signal.aborted) throw transportError(req.doc, `${what} (reading the body)`, { code: 'ETIMEDOUT', message: errorText(signal.reason) });
    throw transportError(req.doc, `${what} (reading the body)`, e);
  }
  out.body = Buffer.concat(chunks);
  return out;
}

const EMPTY = Buffer.alloc(0);

function flattenHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

function transportError(doc: string, what: string, e: unknown): TransportError {
  const err = e as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  const code = err?.code ?? err?.cause?.code ?? err?.name ?? 'ETRANSPORT';
  const msg = err?.cause?.message ?? err?.message ?? String(e);
  return new TransportError(doc, `${what} failed: ${code}: ${msg}`, String(code));
}
