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
interface WriteReq { handle: TcpHandle; oncomplete: (status: number) => void; async: boolean; data: unknown }

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
const IGNORE = () => undefined;

/**
 * Opens a connection to `address` (an IPv4 or IPv6 literal, never a name) and `port`. Events arrive from the
 * event loop, never during this call.
 */
export function openTcpLink(b: Bindings, address: string, ipv6: boolean, port: number, ev: LinkEvents, readBuffer?: Buffer): Link {
  const { tcp, stream } = b;
  const state = stream.streamBaseState;
  const h = new tcp.TCP(tcp.constants.SOCKET);
  let closed = false;
  let paused = false;
  let reading = false;
  const close = () => {
    if (closed) return;
    closed = true;
    // (Node asserts a function here: null would abort the process.)
    h.onread = IGNORE;
    h.close();
  };
  const fail = (op: string, status: number, where = '') => {
    if (closed) return;
    close();
    const code = errorName(status);
    ev.onError(code, `${op} ${code}${where}`);
  };
  const startReading = () => {
    if (closed || paused || reading) return;
    const err = h.readStart();
    if (err) { fail('read', err); return; }
    reading = true;
  };
  h.onread = (ab) => {
    if (closed) return;
    const n = state[stream.kReadBytesOrError]!;
    if (n < 0) {
      if (n === UV_EOF) { close(); ev.onEnd(); } else fail('read', n);
      return;
    }
    if (n === 0) return;
    ev.onData(readBuffer ? readBuffer.subarray(0, n) : Buffer.from(ab!, state[stream.kArrayBufferOffset]!, n));
  };
  const req = new tcp.TCPConnectWrap();
  req.address = address;
  req.port = port;
  req.oncomplete = (status: number) => {
    if (closed) return;
    if (status < 0) { fail('connect', status, ` ${address}:${port}`); return; }
    h.setNoDelay(true);
    if (readBuffer) h.useUserBuffer(readBuffer);
    startReading();
    if (!closed) ev.onConnect();
  };
  const err = ipv6 ? h.connect6(req, address, port) : h.connect(req, address, port);
  // A connect refused at once (an unusable address): reported from the event loop, as any other outcome.
  if (err) setImmediate(() => fail('connect', err, ` ${address}:${port}`));
  return {
    write(data, flushed) {
      if (closed) return;
      const w = new stream.WriteWrap();
      w.handle = h;
      // Kept on the request until it completes (libuv writes from this memory when the kernel's buffer is full).
      w.data = data;
      w.oncomplete = (status: number) => {
        if (status < 0) fail('write', status);
        else if (flushed && !closed) flushed();
      };
      const e = typeof data === 'string' ? h.writeLatin1String(w, data) : h.writeBuffer(w, data);
      if (e) { setImmediate(() => fail('write', e)); return; }
      if (!state[stream.kLastWriteWasAsync] && flushed) flushed();
    },
    pause() {
      paused = true;
      if (reading && !closed) { h.readStop(); reading = false; }
    },
    resume() {
      paused = false;
      startReading();
    },
    destroy: close,
  };
}

/** Node's name of a libuv error (node:util loaded only on a failure: nothing at start-up loads it). */
function errorName(status: number): string {
  try { return (process.getBuiltinModule('node:util') as typeof import('node:util')).getSystemErrorName(status); } catch { return `E${-status}`; }
}
