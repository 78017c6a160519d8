// The "floor" of scripts/bench/daemon.ts: the least any Node-based agent that follows the spec must do per
// idle goal-state poll (docs/protocol.md §1.2: every request on a new connection with Connection: close, status
// uploaded every period), written with node:net only. Per period: GET the WireServer goal state, GET
// HostGAPlugin /vmSettings with If-None-Match only while the plugin supports it (after a 404 our agent asks
// again only after 6 h: src/platform/hostplugin.ts VMSETTINGS_RECHECK_MS), PUT HostGAPlugin /status with an
// envelope of the size our agent sends. Each answer is read fully (by Content-Length) and not parsed; only
// the start-up reads the container id, config name and status blob URL out of the documents, once.
//
//   <stripped pinned node> <V8 flags of the SEA> scripts/bench/floor-client.cjs STATUS_BYTES [handle]
//
// `handle`: the same exchanges over Node's TCP handle (process.binding('tcp_wrap'), as src/platform/tcplink.ts)
// instead of net.Socket: the floor of an agent that, like ours, does without net.Socket's stream layer
// (daemon.ts's agent `floorh`, printed for information next to the node:net floor the targets use).
//
// CommonJS on purpose: the SEA runs its bundle as CommonJS, so the floor pays for the same module loader.
//
// NETWORK SAFETY: 168.63.129.16 is reachable only inside the VM-in-a-box (test/sandbox/box.ts), a private
// network namespace with only `lo`. The client refuses to start where any other interface exists.
'use strict';
const net = require('node:net');
const fs = require('node:fs');

const WIRE = '168.63.129.16';
const HGAP_PORT = 32526;
const PERIOD_MS = 6000;
const VMSETTINGS_RECHECK_MS = 6 * 3600_000;
const REQUEST_TIMEOUT_MS = 15_000;
const MAX_ANSWER = 4 << 20;

function onlyLoopback() {
  let sys = [];
  let dev = [];
  try { sys = fs.readdirSync('/sys/class/net'); } catch { return false; }
  try {
    dev = fs.readFileSync('/proc/net/dev', 'utf8').split('\n').slice(2).map((l) => l.split(':')[0].trim()).filter(Boolean);
  } catch { return false; }
  return sys.length === 1 && sys[0] === 'lo' && dev.length === 1 && dev[0] === 'lo';
}

if (!onlyLoopback()) {
  process.stderr.write('floor-client: refusing to run: this network namespace has interfaces other than lo (run it only inside the VM-in-a-box)\n');
  process.exit(3);
}

const statusBytes = Number(process.argv[2]);
if (!Number.isInteger(statusBytes) || statusBytes < 200 || statusBytes > MAX_ANSWER) {
  process.stderr.write('floor-client: usage: floor-client.cjs STATUS_BYTES (200..4 MiB)\n');
  process.exit(2);
}

const HANDLE = process.argv[3] === 'handle';

/** One HTTP/1.1 exchange on a new connection; resolves { status, etag, body } once Content-Length bytes came. */
function request(port, method, path, headers, body) {
  return new Promise((resolve, reject) => {
    const sock = HANDLE ? handleSocket(port) : net.connect({ host: WIRE, port });
    let head = null;
    let status = 0;
    let etag = '';
    let want = -1;
    let buf = Buffer.alloc(0);
    const fail = (e) => { sock.destroy(); reject(e); };
    sock.setTimeout(REQUEST_TIMEOUT_MS, () => fail(new Error(`${method} ${path}: timed out`)));
    sock.on('error', fail);
    sock.on('data', (chunk) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      if (buf.length > MAX_ANSWER) return fail(new Error(`${method} ${path}: answer too large`));
      if (head === null) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        head = buf.subarray(0, end).toString('latin1');
        buf = buf.subarray(end + 4);
        status = Number(head.slice(9, 12));
        const cl = /\r\ncontent-length:\s*(\d+)/i.exec(head);
        want = cl ? Number(cl[1]) : -1;
        const et = /\r\netag:\s*([^\r]*)/i.exec(head);
        if (et) etag = et[1].trim();
      }
      if (want >= 0 && buf.length >= want) { sock.destroy(); resolve({ status, etag, body: buf.subarray(0, want) }); }
    });
    sock.on('end', () => {
      if (head !== null && want < 0) resolve({ status, etag, body: buf });
      else fail(new Error(`${method} ${path}: connection closed early`));
    });
    let text = `${method} ${path} HTTP/1.1\r\nHost: ${WIRE}${port === 80 ? '' : `:${port}`}\r\nConnection: close\r\n`;
    for (const [k, v] of Object.entries(headers)) text += `${k}: ${v}\r\n`;
    if (body !== undefined) text += `Content-Length: ${Buffer.byteLength(body)}\r\n`;
    sock.end(body === undefined ? `${text}\r\n` : `${text}\r\n${body}`);
  });
}

/**
 * The part of net.Socket that request() uses (on 'data'/'end'/'error', setTimeout, end(text), destroy), over
 * Node's TCP handle: connect, read into one reused buffer (each read copied out), one write, close.
 */
function handleSocket(port) {
  const tcp = process.binding('tcp_wrap');
  const sw = process.binding('stream_wrap');
  const state = sw.streamBaseState;
  const on = {};
  const h = new tcp.TCP(tcp.constants.SOCKET);
  let closed = false;
  let pending = null;
  let timer = null;
  const close = () => { if (!closed) { closed = true; clearTimeout(timer); h.onread = () => undefined; h.close(); } };
  const emit = (ev, arg) => { if (on[ev]) on[ev](arg); };
  const send = (text) => {
    const w = new sw.WriteWrap();
    w.handle = h;
    w.oncomplete = (status) => { if (status < 0) { close(); emit('error', new Error(`write ${status}`)); } };
    const err = h.writeLatin1String(w, text);
    if (err) { close(); emit('error', new Error(`write ${err}`)); }
  };
  const req = new tcp.TCPConnectWrap();
  req.oncomplete = (status) => {
    if (closed) return;
    if (status < 0) { close(); emit('error', new Error(`connect ${status}`)); return; }
    h.setNoDelay(true);
    h.useUserBuffer(readBuf);
    h.onread = () => {
      if (closed) return;
      const n = state[sw.kReadBytesOrError];
      if (n < 0) { close(); if (n === -4095) emit('end'); else emit('error', new Error(`read ${n}`)); return; }
      if (n > 0) emit('data', Buffer.from(readBuf.subarray(0, n)));
    };
    h.readStart();
    if (pending !== null) send(pending);
  };
  const err = h.connect(req, WIRE, port);
  if (err) setImmediate(() => emit('error', new Error(`connect ${err}`)));
  return {
    on(ev, fn) { on[ev] = fn; },
    setTimeout(ms, fn) { timer = setTimeout(() => { if (!closed) fn(); }, ms); },
    end(text) { pending = text; },
    destroy: close,
  };
}
const readBuf = Buffer.allocUnsafeSlow(16 << 10);

const WIRE_HEADERS = { 'x-ms-agent-name': 'WALinuxAgent', 'x-ms-version': '2012-11-30', 'User-Agent': 'WALinuxAgent/floor' };

function between(text, open, close) {
  const i = text.indexOf(open);
  const j = i < 0 ? -1 : text.indexOf(close, i + open.length);
  if (j < 0) throw new Error(`start-up: ${open} not found`);
  return text.slice(i + open.length, j).replace(/&amp;/g, '&');
}

let ids = null;
let vmSettingsEtag = '';
let vmSettingsAfter = 0;

/** Once: the ids HostGAPlugin wants and the status blob URL (ExtensionsConfig). Not part of the idle poll. */
async function startUp() {
  const gs = (await request(80, 'GET', '/machine/?comp=goalstate', WIRE_HEADERS)).body.toString('utf8');
  const extUrl = new URL(between(gs, '<ExtensionsConfig>', '</ExtensionsConfig>'));
  const ec = (await request(80, 'GET', extUrl.pathname + extUrl.search, WIRE_HEADERS)).body.toString('utf8');
  ids = {
    containerId: between(gs, '<ContainerId>', '</ContainerId>'),
    configName: between(gs, '<ConfigName>', '</ConfigName>'),
    statusUrl: between(ec.slice(ec.indexOf('<StatusUploadBlob')), '>', '</StatusUploadBlob>'),
  };
  await request(HGAP_PORT, 'GET', '/versions', { 'x-ms-containerid': ids.containerId });
}

function hgapHeaders(extra) {
  return { 'x-ms-version': '2015-09-01', 'x-ms-containerid': ids.containerId, 'x-ms-host-config-name': ids.configName, ...extra };
}

/** A status envelope of exactly `statusBytes` (as our agent's: sorted keys, base64 content, blob headers). */
function statusEnvelope() {
  const date = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const doc = `{"version":"1.1","timestampUTC":"${date}","aggregateStatus":{"guestAgentStatus":{"status":"Ready"}}}`;
  const make = (n) => JSON.stringify({
    content: Buffer.alloc(n, 0x20).fill(doc, 0, Math.min(n, doc.length)).toString('base64'),
    headers: [['Content-Length', String(n)], ['x-ms-blob-type', 'BlockBlob'], ['x-ms-date', date], ['x-ms-version', '2014-02-14']]
      .map(([headerName, headerValue]) => ({ headerName, headerValue })),
    requestUri: ids.statusUrl,
  });
  let n = Math.max(doc.length, Math.floor((statusBytes - make(doc.length).length) * 3 / 4) + doc.length);
  while (n > doc.length && make(n).length > statusBytes) n--;
  return make(n);
}

async function poll() {
  await request(80, 'GET', '/machine/?comp=goalstate', WIRE_HEADERS);
  if (Date.now() >= vmSettingsAfter) {
    const vs = await request(HGAP_PORT, 'GET', '/vmSettings', hgapHeaders({
      'x-ms-client-correlationid': correlationId(), ...(vmSettingsEtag ? { 'If-None-Match': vmSettingsEtag } : {}),
    }));
    if (vs.status === 404) vmSettingsAfter = Date.now() + VMSETTINGS_RECHECK_MS;
    else if (vs.etag) vmSettingsEtag = vs.etag;
  }
  const st = await request(HGAP_PORT, 'PUT', '/status', hgapHeaders({ 'Content-Type': 'application/json' }), statusEnvelope());
  if (st.status !== 200) throw new Error(`PUT /status answered ${st.status}: ${st.body.toString('utf8').slice(0, 200)}`);
}

/**
 * A correlation id in UUID v4 form without node:crypto: it only has to differ between requests, and loading
 * node:crypto (OpenSSL's initialization) costs ~2 MiB of RSS, which is not irreducible for an agent that
 * leaves certificates to the openssl CLI.
 */
function correlationId() {
  const h = () => Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
  return `${h()}${h()}-${h()}-4${h().slice(1)}-${(8 + Math.floor(Math.random() * 4)).toString(16)}${h().slice(1)}-${h()}${h()}${h()}`;
}

const reported = new Set();
function report(e) {
  const msg = e && e.message ? e.message : String(e);
  // Bounded: each distinct message once.
  if (reported.size < 100 && !reported.has(msg)) { reported.add(msg); process.stderr.write(`floor-client: ${msg}\n`); }
}

async function main() {
  for (let i = 0; ids === null; i++) {
    try { await startUp(); } catch (e) {
      report(e);
      if (i >= 50) { process.stderr.write('floor-client: start-up failed 50 times, giving up\n'); process.exit(1); }
      await new Promise((r) => setTimeout(r, PERIOD_MS));
    }
  }
  for (;;) {
    try { await poll(); } catch (e) { report(e); }
    await new Promise((r) => setTimeout(r, PERIOD_MS));
  }
}

process.on('SIGTERM', () => process.exit(0));
main();
