// One TCP connection over Node's own TCP handle (the `tcp_wrap` binding under net.Socket), for rawhttp.ts's
// requests to an IP address: the WireServer, the HostGAPlugin and IMDS, i.e. every request of the idle poll.
//
// Why not net.Socket: measured with scripts/bench/poll-cost.ts (--cold 64, the caches flushed before each
// call, as after the daemon's 6 s of sleep), the idle poll's GET + PUT cost 0.78 ms of CPU through node:net
// and 0.47 ms over the handle. net.Socket wraps every connection in a Duplex stream (readable and writable
// state, a lookup step, nextTick'ed events, the destroy machinery); one request on a fresh connection,
// read whole, needs none of it. Name resolution is net's: rawhttp.ts uses node:net for host names.
//
// The binding is not a public API. It is used through `process.binding`, which Node keeps for these modules
// (DEP0111 is documentation-only: it warns only under --pending-deprecation) and in the same shape since
// Node 12; the Node is pinned by package.json and built into the binary, and test/integration/
// platform-rawhttp.test.ts runs every exchange over both engines, so a Node upgrade that changes it fails
// the tests, not the field. When the binding is missing, `tcpHandles()` says so and rawhttp.ts uses node:net.
interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number };
}
interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kArrayBufferOffset: number;
  kLastWriteWasAsync: number;
}
interface TcpHandle {
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  setNoDelay(on: boolean): number;
  useUserBuffer(buf: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  writeLatin1String(req: WriteReq, data: string): number;
  close(cb?: () => void): void;
  /** Must always be a function: Node aborts the process on anything else. */
  onread: (ab: ArrayBuffer | undefined) => void;
}
interface ConnectReq { oncomplete: (status: number) => void; address: string; port: number }
interface WriteReq { handle: TcpHandle; oncomplete: (status: number) => void; data: unknown }

interface Bindings { tcp: TcpWrapBinding; stream: StreamWrapBinding }
let bindings: Bindings | null | undefined;

/** The handle bindings, or null when this Node does not offer them in the shape used here. */
export function tcpHandles(): Bindings | null {
  if (bindings !== undefined) return bindings;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const tcp = binding('tcp_wrap') as TcpWrapBinding;
    const stream = binding('stream_wrap') as StreamWrapBinding;
    const ok = typeof tcp.TCP === 'function' && typeof tcp.TCPConnectWrap === 'function' && typeof tcp.constants?.SOCKET === 'number' &&
      typeof stream.WriteWrap === 'function' && stream.streamBaseState instanceof Int32Array &&
      typeof stream.kReadBytesOrError === 'number' && typeof stream.kArrayBufferOffset === 'number' && typeof stream.kLastWriteWasAsync === 'number' &&
      typeof tcp.TCP.prototype.useUserBuffer === 'function' && typeof tcp.TCP.prototype.writeLatin1String === 'function';
    bindings = ok ? { tcp, stream } : null;
  } catch {
    bindings = null;
  }
  return bindings;
}

/** What a link reports. Each of onEnd and onError comes at most once, and nothing after either. */
export interface LinkEvents {
  onConnect(): void;
  /**
   * The bytes of one read. With a `readBuffer`, a view of it, valid only during the call (copy what is kept);
   * without one, a buffer of its own that nobody reuses.
   */
  onData(data: Buffer): void;
  /** The peer closed its side. */
  onEnd(): void;
  /** `code` as Node's (ECONNREFUSED...), `message` as net's ("connect ECONNREFUSED 10.0.0.1:80"). */
  onError(code: string, message: string): void;
}

export interface Link {
  /** Queues bytes (a string is sent as latin1); `flushed` runs once they were handed to the kernel. */
  write(data: string | Uint8Array, flushed?: () => void): void;
  pause(): void;
  resume(): void;
  /** Closes the connection at once; no event after it. */
  destroy(): void;
}

const UV_EOF = -4095;
/** A closed handle's onread (Node asserts a function there: null would abort the process). */
const IGNORE = () => undefined;

// The handle's and the requests' callbacks are shared functions that find their link on the object they are
// called on (as Node's own net.js does with its owner symbol): no closures per connection.
type Owned<T> = T & { link: TcpLink };
function onRead(this: Owned<TcpHandle>, ab: ArrayBuffer | undefined): void { this.link.read(ab); }
function onConnected(this: Owned<ConnectReq>, status: number): void { this.link.connected(status); }
function onWritten(this: Owned<WriteReq> & { flushed: (() => void) | undefined }, status: number): void {
  this.link.written(status, this.flushed);
}

/**
 * Opens a connection to `address` (an IPv4 or IPv6 literal, never a name) and `port`. Events arrive from the
 * event loop, never during this call.
 */
export function openTcpLink(b: Bindings, address: string, ipv6: boolean, port: number, ev: LinkEvents, readBuffer?: Buffer): Link {
  return new TcpLink(b, address, ipv6, port, ev, readBuffer);
}

class TcpLink implements Link {
  #b: Bindings;
  #h: Owned<TcpHandle>;
  #ev: LinkEvents;
  #readBuffer: Buffer | undefined;
  #address: string;
  #port: number;
  #closed = false;
  #paused = false;
  #reading = false;

  constructor(b: Bindings, address: string, ipv6: boolean, port: number, ev: LinkEvents, readBuffer: Buffer | undefined) {
    this.#b = b;
    this.#ev = ev;
    this.#readBuffer = readBuffer;
    this.#address = address;
    this.#port = port;
    const h = this.#h = new b.tcp.TCP(b.tcp.constants.SOCKET) as Owned<TcpHandle>;
    h.link = this;
    h.onread = onRead;
    const req = new b.tcp.TCPConnectWrap() as Owned<ConnectReq>;
    req.link = this;
    req.address = address;
    req.port = port;
    req.oncomplete = onConnected;
    const err = ipv6 ? h.connect6(req, address, port) : h.connect(req, address, port);
    // A connect refused at once (an unusable address): reported from the event loop, as any other outcome.
    if (err) setImmediate(() => this.#fail('connect', err, true));
  }

  connected(status: number): void {
    if (this.#closed) return;
    if (status < 0) { this.#fail('connect', status, true); return; }
    this.#h.setNoDelay(true);
    if (this.#readBuffer) this.#h.useUserBuffer(this.#readBuffer);
    this.#startReading();
    if (!this.#closed) this.#ev.onConnect();
  }

  read(ab: ArrayBuffer | undefined): void {
    if (this.#closed) return;
    const { stream } = this.#b;
    const n = stream.streamBaseState[stream.kReadBytesOrError]!;
    if (n < 0) {
      if (n === UV_EOF) { this.destroy(); this.#ev.onEnd(); } else this.#fail('read', n);
      return;
    }
    if (n === 0) return;
    this.#ev.onData(this.#readBuffer ? this.#readBuffer.subarray(0, n) : Buffer.from(ab!, stream.streamBaseState[stream.kArrayBufferOffset]!, n));
  }

  written(status: number, flushed: (() => void) | undefined): void {
    if (status < 0) this.#fail('write', status);
    else if (flushed && !this.#closed) flushed();
  }

  write(data: string | Uint8Array, flushed?: () => void): void {
    if (this.#closed) return;
    const { stream } = this.#b;
    const w = new stream.WriteWrap() as Owned<WriteReq> & { flushed: (() => void) | undefined };
    w.handle = this.#h;
    w.link = this;
    w.flushed = flushed;
    // Kept on the request until it completes (libuv writes from this memory when the kernel's buffer is full).
    w.data = data;
    w.oncomplete = onWritten;
    const e = typeof data === 'string' ? this.#h.writeLatin1String(w, data) : this.#h.writeBuffer(w, data);
    if (e) { setImmediate(() => this.#fail('write', e)); return; }
    // Written at once: Node calls no oncomplete then.
    if (!stream.streamBaseState[stream.kLastWriteWasAsync] && flushed) flushed();
  }

  pause(): void {
    this.#paused = true;
    if (this.#reading && !this.#closed) { this.#h.readStop(); this.#reading = false; }
  }

  resume(): void {
    this.#paused = false;
    this.#startReading();
  }

  destroy(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#h.onread = IGNORE;
    this.#h.close();
  }

  #startReading(): void {
    if (this.#closed || this.#paused || this.#reading) return;
    const err = this.#h.readStart();
    if (err) { this.#fail('read', err); return; }
    this.#reading = true;
  }

  #fail(op: string, status: number, withAddress = false): void {
    if (this.#closed) return;
    this.destroy();
    const code = errorName(status);
    this.#ev.onError(code, `${op} ${code}${withAddress ? ` ${this.#address}:${this.#port}` : ''}`);
  }
}

/** Node's name of a libuv error (node:util loaded only on a failure: nothing at start-up loads it). */
function errorName(status: number): string {
  try { return (process.getBuiltinModule('node:util') as typeof import('node:util')).getSystemErrorName(status); } catch { return `E${-status}`; }
}
