// One plain-HTTP/1.1 exchange on a new TCP connection: over Node's TCP handle (tcplink.ts) to an IP address,
// over node:net to a host name (net resolves it). This is the engine of every direct http:// request: the
// WireServer, the HostGAPlugin and IMDS (docs/protocol.md §1.2: plain http, `Connection: close`), i.e. the
// requests of the daemon's idle poll. Why not node:http: measured with
// scripts/bench/daemon-cycle.ts on 127.0.0.1, an idle cycle (goal state, vmSettings, status PUT) costs ~3.9 ms
// of CPU through node:http's ClientRequest/IncomingMessage/stream layers and ~1 ms over a bare socket; and the
// http/https modules (tls with them) need not be loaded at all by the daemon.
//
// What is handled (RFC 9112, client side, the subset a server may answer with): status line and headers (names
// lower-cased, repeats joined with ', '), 1xx interim answers skipped, bodies framed by chunked transfer coding,
// Content-Length, or the end of the connection; none for HEAD, 204 and 304. Limits: 64 KiB of head, the caller's
// body cap, connect / read-silence / total timeouts. Anything malformed is an error with a code, never a guess.
import { nodeNet } from '../util/builtins.ts';
import { AgentError } from '../util/errors.ts';
import { openTcpLink, tcpHandles, type Link, type LinkEvents } from './tcplink.ts';

export interface RawRequest {
  method: string;
  /** Parsed URL (http: only). */
  url: URL;
  headers: Record<string, string>;
  /** A string body must be ASCII: it is sent as it is, in one write with the head (no Buffer made of it). */
  body?: Uint8Array | string;
  connectTimeoutMs: number;
  /** Longest silence of the connection (waiting for the head, and between body bytes). */
  readTimeoutMs: number;
  /** Hard cap on the whole exchange. */
  totalTimeoutMs: number;
  /**
   * Body sink for a 2xx answer: each chunk as it arrives (the connection is paused while a returned promise
   * is pending). Not called for other statuses: their bodies are kept.
   */
  onChunk?: (chunk: Buffer) => void | Promise<void>;
  /** Before the first body byte of a 2xx answer given to onChunk. */
  onStart?: () => void | Promise<void>;
  /** Body cap (kept or streamed). */
  maxBytes: number;
  /** A non-2xx body of a streaming request is kept only up to this many bytes (it is read for its message). */
  errorBodyKeep: number;
  /**
   * The connection: by default Node's TCP handle (tcplink.ts) for an IP address when this Node offers it, and
   * node:net otherwise (a host name: net resolves it). Tests pin one to run the same exchange over both.
   */
  engine?: 'handle' | 'net';
}

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  /** Kept body (empty when streamed to onChunk). */
  body: Buffer;
}

/** A failure of the exchange; `code` is a Node-style code (ECONNREFUSED...) or one of ours (EHTTP...). */
export class RawHttpError extends AgentError {
  static override readonly errorName: string = 'RawHttpError';
  readonly code: string;
  /** Set when the body cap was passed (not a network fault: asking again gives the same body). */
  readonly tooLarge: boolean;
  /** Set when the caller's onStart/onChunk threw: that error, to be rethrown as it is. */
  readonly sinkError: unknown;
  constructor(code: string, message: string, o: { tooLarge?: boolean; sinkError?: unknown } = {}) {
    super(message);
    this.code = code;
    this.tooLarge = o.tooLarge ?? false;
    this.sinkError = o.sinkError;
  }
}

const HEAD_MAX = 64 << 10;
const EMPTY = Buffer.alloc(0);
const CRLFCRLF = Buffer.from('\r\n\r\n');
// Patterns used for every request and answer, compiled once (a literal in a function is a new object per call).
const LINE_BREAK = /[\r\n]/;
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;
const WHITESPACE = /\s/;
const CHUNKED_LAST = /(^|,)\s*chunked\s*$/i;
const DIGITS = /^\d{1,15}$/;
const BRACKETS = /^\[|\]$/g;
/** A URL's IPv4 host as the URL parser leaves it (it rewrites every numeric form to dotted decimal). */
const IPV4 = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;
/** Bodies up to this size go to the socket's buffer at once; a larger one's flush counts as activity. */
const LARGE_BODY = 64 << 10;

/**
 * The one buffer every non-streamed exchange reads into (onread): its data is handled within the callback and
 * copied where kept, so one buffer serves any number of connections.
 */
let shared: Buffer | null = null;
function readBuffer(): Buffer {
  shared ??= Buffer.allocUnsafeSlow(READ_BUFFER);
  return shared;
}
const READ_BUFFER = 16 << 10;

/** Request head bytes: request line, Host, the caller's headers, Content-Length when there is a body. */
export function requestHead(method: string, url: URL, headers: Record<string, string>, bodyLength: number | null): string {
  let head = `${method} ${url.pathname || '/'}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n`;
  for (const k in headers) {
    const v = headers[k]!;
    // A CR or LF in a header would let a value start a new header (or a new request): refuse it.
    if (LINE_BREAK.test(k) || LINE_BREAK.test(v)) throw new RawHttpError('EHTTPHEADER', `header ${JSON.stringify(k)} contains a line break`);
    const lk = k.toLowerCase();
    // The framing headers are ours: they must match the bytes we send.
    if (lk === 'host' || lk === 'transfer-encoding' || lk === 'content-length') continue;
    head += `${k}: ${v}\r\n`;
  }
  // PUT/POST always carry a length, also for an empty body (some servers answer 411 otherwise).
  if (bodyLength !== null) head += `Content-Length: ${bodyLength}\r\n`;
  return `${head}\r\n`;
}

type Framing = { kind: 'none' } | { kind: 'length'; left: number } | { kind: 'chunked' } | { kind: 'close' };

/** Chunked transfer decoding as a small state machine fed with arbitrary slices. */
class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';
  private line = '';
  private left = 0;
  get done(): boolean { return this.state === 'done'; }

  /** Decoded data slices of `buf` (views, no copy); throws on a malformed framing. */
  feed(buf: Buffer, out: Buffer[]): void {
    let i = 0;
    while (i < buf.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.left, buf.length - i);
        out.push(buf.subarray(i, i + n));
        i += n;
        this.left -= n;
        if (this.left === 0) { this.state = 'data-crlf'; this.line = ''; }
        continue;
      }
      // size, data-crlf and trailer are line-oriented.
      const nl = buf.indexOf(10, i);
      const end = nl < 0 ? buf.length : nl + 1;
      this.line += buf.toString('latin1', i, end);
      i = end;
      if (this.line.length > 4096) throw new RawHttpError('EHTTPCHUNK', 'chunked body: a line longer than 4 KiB');
      if (nl < 0) break;
      const text = this.line.replace(/\r?\n$/, '');
      this.line = '';
      if (this.state === 'data-crlf') {
        if (text !== '') throw new RawHttpError('EHTTPCHUNK', 'chunked body: no line break after a chunk');
        this.state = 'size';
      } else if (this.state === 'size') {
        const m = /^([0-9a-fA-F]{1,12})[ \t]*(?:;.*)?$/.exec(text);
        if (!m) throw new RawHttpError('EHTTPCHUNK', `chunked body: bad chunk size line ${JSON.stringify(text.slice(0, 40))}`);
        this.left = parseInt(m[1]!, 16);
        this.state = this.left === 0 ? 'trailer' : 'data';
      } else if (text === '') {
        this.state = 'done';
      }
    }
  }
}

interface Head { status: number; headers: Record<string, string> }

/**
 * Parses a response head (without the blank line). Throws RawHttpError on anything malformed. One pass over
 * the text by index: no array of lines, and each name and value cut out once.
 */
export function parseResponseHead(text: string): Head {
  let end = text.indexOf('\r\n');
  if (end < 0) end = text.length;
  const m = STATUS_LINE.exec(text.slice(0, end));
  if (!m) throw new RawHttpError('EHTTPPARSE', `bad status line ${JSON.stringify(text.slice(0, Math.min(end, 60)))}`);
  const headers: Record<string, string> = {};
  while (end < text.length) {
    const start = end + 2;
    end = text.indexOf('\r\n', start);
    if (end < 0) end = text.length;
    const c = text.indexOf(':', start);
    const name = c > start && c < end ? text.slice(start, c) : '';
    if (!name || WHITESPACE.test(name)) throw new RawHttpError('EHTTPPARSE', `bad header line ${JSON.stringify(text.slice(start, Math.min(end, start + 60)))}`);
    const k = name.toLowerCase();
    const v = text.slice(c + 1, end).trim();
    const before = headers[k];
    headers[k] = before === undefined ? v : `${before}, ${v}`;
  }
  return { status: Number(m[1]), headers };
}

function framingOf(method: string, h: Head): Framing {
  if (method === 'HEAD' || h.status === 204 || h.status === 304) return { kind: 'none' };
  const te = h.headers['transfer-encoding'];
  if (te !== undefined) {
    if (CHUNKED_LAST.test(te)) return { kind: 'chunked' };
    // Another coding last means the body ends with the connection (RFC 9112 §6.3).
    return { kind: 'close' };
  }
  const cl = h.headers['content-length'];
  if (cl !== undefined) {
    if (DIGITS.test(cl)) return { kind: 'length', left: Number(cl) };
    // Repeated identical values are allowed ("5, 5"); anything else is a framing we cannot trust.
    const vals = new Set(cl.split(',').map((s) => s.trim()));
    const v = vals.size === 1 ? [...vals][0]! : '';
    if (!DIGITS.test(v)) throw new RawHttpError('EHTTPPARSE', `bad Content-Length ${JSON.stringify(cl.slice(0, 40))}`);
    return { kind: 'length', left: Number(v) };
  }
  return { kind: 'close' };
}

/** Sends one request and reads the whole answer (or streams its body). The connection is always closed. */
export function rawExchange(r: RawRequest): Promise<RawResponse> {
  let head: string;
  try {
    head = requestHead(r.method, r.url, r.headers, r.body !== undefined || r.method === 'PUT' || r.method === 'POST' ? (r.body?.length ?? 0) : null);
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise<RawResponse>((resolve, reject) => { new Exchange(r, head, resolve, reject).start(); });
}

/** The timer of an exchange (a shared function with the exchange as its argument: no closure per request). */
function exchangeTimer(x: Exchange): void { x.onTimer(); }

/**
 * One exchange: its state in fields and its steps in methods (not closures made per request: the idle poll runs
 * two exchanges every period, and each closure is one more object to allocate and collect). It is the events
 * sink of its connection.
 */
class Exchange implements LinkEvents {
  #settled = false;
  #sock: Link | null = null;
  #headBuf: Buffer = EMPTY;
  #parsed: Head | null = null;
  #framing: Framing = { kind: 'close' };
  #chunked: ChunkedDecoder | null = null;
  #streaming = false;
  #keepLimit = Infinity;
  #kept: Buffer[] = [];
  #total = 0;
  // Sink calls are chained so that chunks reach the caller in order, one at a time (streaming only).
  #sinkChain: Promise<void> | null = null;
  #sinkPending = 0;
  #bodyDone = false;
  // One plain timer for all three timeouts (connect, silence, total), set once per exchange: data moving only
  // notes the time, and when the timer fires it either ends the exchange with the timeout that passed or is
  // set again for the nearest one still ahead. No refresh per chunk (docs/architecture.md "idle cost").
  // Not socket.setTimeout: its unreferenced timer, cleared when the socket closes, left libuv's timer armed
  // for its old expiry, so the idle daemon woke once more per poll for nothing; and one timer, not two.
  #started = Date.now();
  #deadline: number;
  #connected = false;
  #lastActivity: number;
  #timer: ReturnType<typeof setTimeout> | null = null;
  #r: RawRequest;
  #head: string;
  #resolve: (res: RawResponse) => void;
  #reject: (e: unknown) => void;

  constructor(r: RawRequest, head: string, resolve: (res: RawResponse) => void, reject: (e: unknown) => void) {
    this.#r = r;
    this.#head = head;
    this.#resolve = resolve;
    this.#reject = reject;
    this.#deadline = this.#started + r.totalTimeoutMs;
    this.#lastActivity = this.#started;
  }

  start(): void {
    const r = this.#r;
    this.#timer = setTimeout(exchangeTimer, Math.min(r.connectTimeoutMs, r.totalTimeoutMs), this);
    const port = Number(r.url.port || 80);
    const host = r.url.hostname.replace(BRACKETS, '');
    // A body kept whole (every request of the idle poll) is read into the shared buffer and handed over at
    // once; whatever is kept is copied out of it (deliver, the head below). A streamed body (packages) is read
    // in buffers of its own, which the sink may keep, and the connection pauses while the sink works.
    const buffer = r.onChunk ? undefined : readBuffer();
    const handles = r.engine === 'net' ? null : tcpHandles();
    const ipv6 = r.url.hostname.startsWith('[');
    try {
      this.#sock = handles && (ipv6 || IPV4.test(host)) ? openTcpLink(handles, host, ipv6, port, this, buffer) : netLink(host, port, this, buffer);
    } catch (e) {
      // (node:net refuses some addresses at once, e.g. port 0.)
      const err = e as NodeJS.ErrnoException;
      this.#finish(new RawHttpError(err.code ?? 'ESOCKET', err.message));
    }
  }

  onTimer(): void {
    if (this.#settled) return;
    const r = this.#r;
    const now = Date.now();
    // Node may run a timer a millisecond before its due time: within 1 ms counts as due.
    if (now >= this.#deadline - 1) { this.#finish(new RawHttpError('ETIMEDOUT', `no complete answer within ${r.totalTimeoutMs} ms`)); return; }
    const due = this.#connected ? this.#lastActivity + r.readTimeoutMs : this.#started + r.connectTimeoutMs;
    if (now >= due - 1) {
      this.#finish(this.#connected ? new RawHttpError('UND_ERR_SOCKET_TIMEOUT', `no data for ${r.readTimeoutMs} ms`) : new RawHttpError('UND_ERR_CONNECT_TIMEOUT', `connect timeout after ${r.connectTimeoutMs} ms`));
      return;
    }
    this.#timer = setTimeout(exchangeTimer, Math.min(due, this.#deadline) - now, this);
  }

  onConnect(): void {
    this.#connected = true;
    this.#lastActivity = Date.now();
    // Head and body in one write: one segment for the small requests of the protocol. The flush of a body
    // larger than the socket's buffer takes a while (a log upload): its end is activity too.
    const body = this.#r.body;
    const bodyLength = body?.length ?? 0;
    const data = typeof body === 'string' ? this.#head + body : bodyLength ? Buffer.concat([Buffer.from(this.#head, 'latin1'), body!]) : this.#head;
    this.#sock!.write(data, bodyLength > LARGE_BODY ? () => { this.#lastActivity = Date.now(); } : undefined);
  }

  onEnd(): void {
    if (this.#settled) return;
    if (this.#parsed && this.#framing.kind === 'close') { this.#bodyDone = true; this.#finish(null); return; }
    this.#finish(this.#closedEarly());
  }

  onError(code: string, message: string): void {
    if (!this.#settled) this.#finish(new RawHttpError(code, message));
  }

  onData(data: Buffer): void {
    if (this.#settled) return;
    this.#lastActivity = Date.now();
    try {
      let buf = data;
      while (!this.#parsed) {
        const headBuf = this.#headBuf.length ? Buffer.concat([this.#headBuf, buf]) : buf;
        const end = headBuf.indexOf(CRLFCRLF);
        if ((end < 0 ? headBuf.length : end) > HEAD_MAX) throw new RawHttpError('EHTTPPARSE', `response head larger than ${HEAD_MAX} bytes`);
        // A head cut short waits for the next read: kept as a copy (`data` may be the shared read buffer).
        if (end < 0) { this.#headBuf = headBuf === buf ? Buffer.from(buf) : headBuf; return; }
        const h = parseResponseHead(headBuf.toString('latin1', 0, end));
        buf = headBuf.subarray(end + 4);
        this.#headBuf = EMPTY;
        // 1xx interim answers (100 Continue...) come before the real one: skip them.
        if (h.status >= 100 && h.status < 200) { if (buf.length === 0) return; continue; }
        this.#startBody(h);
      }
      if (buf.length && !this.#bodyDone) this.#onBody(buf);
      if (this.#bodyDone) this.#finish(null);
    } catch (e) {
      this.#finish(e as Error);
    }
  }

  // Errors are built only when they are the outcome (an Error captures a stack: not for every close).
  #closedEarly(): RawHttpError {
    return new RawHttpError('ECONNRESET', this.#parsed ? 'the connection closed before the whole body arrived' : 'the connection closed before an answer (socket hang up)');
  }

  #response(): RawResponse {
    const kept = this.#kept;
    return { status: this.#parsed!.status, headers: this.#parsed!.headers, body: kept.length === 1 ? kept[0]! : Buffer.concat(kept) };
  }

  #finish(err: Error | null): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer!);
    this.#sock?.destroy();
    if (err) { this.#reject(err); return; }
    // Nothing streamed: no sink to wait for.
    if (!this.#sinkChain) { this.#resolve(this.#response()); return; }
    // Resolve after the last chunk reached the sink (and propagate a sink failure).
    this.#sinkChain.then(
      () => this.#resolve(this.#response()),
      (e) => this.#reject(new RawHttpError('ESINK', 'body sink failed', { sinkError: e })),
    );
  }

  /** Runs a sink call after the ones before it, with the connection paused while any is pending. */
  #sink(call: () => void | Promise<void>): void {
    this.#sinkPending++;
    if (this.#sinkPending === 1) this.#sock!.pause();
    const chain = (this.#sinkChain ?? Promise.resolve()).then(call).finally(() => { if (--this.#sinkPending === 0 && !this.#settled) this.#sock!.resume(); });
    this.#sinkChain = chain;
    // A failing sink ends the exchange at once (its error is reported by finish's chain).
    chain.catch(() => { if (!this.#settled) this.#finish(null); });
  }

  #deliver(p: Buffer): void {
    if (p.length === 0) return;
    this.#total += p.length;
    if (this.#total > this.#r.maxBytes) throw new RawHttpError('EHTTPTOOLARGE', `body larger than ${this.#r.maxBytes} bytes`, { tooLarge: true });
    if (this.#streaming) {
      // A buffer of this read's own, which nothing reuses: valid for the sink as long as it wants. (No copy:
      // a 200 MiB package download allocated every byte twice and left the daemon's malloc heap ~0.6 MiB
      // larger, scripts/bench/extract.ts.) A sink that keeps chunks should copy them, or it keeps the whole
      // read buffer alive.
      const onChunk = this.#r.onChunk!;
      this.#sink(() => onChunk(p));
    } else if (this.#total - p.length < this.#keepLimit) {
      this.#kept.push(Buffer.from(p));
      if (this.#total >= this.#keepLimit) this.#bodyDone = true;
    }
  }

  #onBody(buf: Buffer): void {
    const framing = this.#framing;
    if (framing.kind === 'length') {
      const n = Math.min(framing.left, buf.length);
      framing.left -= n;
      this.#deliver(buf.subarray(0, n));
      if (framing.left === 0) this.#bodyDone = true;
    } else if (framing.kind === 'chunked') {
      const out: Buffer[] = [];
      this.#chunked!.feed(buf, out);
      for (const p of out) { this.#deliver(p); if (this.#bodyDone) return; }
      if (this.#chunked!.done) this.#bodyDone = true;
    } else if (framing.kind === 'close') {
      this.#deliver(buf);
    }
  }

  #startBody(h: Head): void {
    const r = this.#r;
    this.#parsed = h;
    const framing = this.#framing = framingOf(r.method, h);
    if (framing.kind === 'chunked') this.#chunked = new ChunkedDecoder();
    if (framing.kind === 'length' && framing.left > r.maxBytes) throw new RawHttpError('EHTTPTOOLARGE', `body larger than ${r.maxBytes} bytes`, { tooLarge: true });
    const ok = h.status >= 200 && h.status < 300;
    this.#streaming = !!r.onChunk && ok;
    if (r.onChunk && !ok) this.#keepLimit = r.errorBodyKeep;
    if (this.#streaming && r.onStart) this.#sink(r.onStart);
    if (framing.kind === 'none' || (framing.kind === 'length' && framing.left === 0)) this.#bodyDone = true;
  }
}

/** The same connection over node:net (a host name, or a Node without the handle binding). */
function netLink(host: string, port: number, ev: LinkEvents, buffer: Buffer | undefined): Link {
  const sock = buffer
    ? nodeNet().connect({ host, port, noDelay: true, onread: { buffer, callback: (n: number) => { ev.onData(buffer.subarray(0, n)); return true; } } })
    : nodeNet().connect({ host, port, noDelay: true });
  // Each of end, error and close ends the exchange; only the first counts. `on`, not `once`: each event comes
  // at most once per socket, and `once` wraps each listener in another closure.
  let ended = false;
  sock.on('connect', () => ev.onConnect());
  if (!buffer) sock.on('data', (d: Buffer) => ev.onData(d));
  sock.on('end', () => { if (!ended) { ended = true; ev.onEnd(); } });
  sock.on('error', (e: NodeJS.ErrnoException) => { if (!ended) { ended = true; ev.onError(e.code ?? 'ESOCKET', e.message); } });
  sock.on('close', () => { if (!ended) { ended = true; ev.onEnd(); } });
  return {
    write: (data, flushed) => { if (flushed) sock.write(data, 'latin1', flushed); else sock.write(data, 'latin1'); },
    pause: () => { sock.pause(); },
    resume: () => { sock.resume(); },
    destroy: () => { sock.destroy(); },
  };
}
