// The lean HTTP/1.1 engine of direct requests (src/platform/rawhttp.ts) against a raw TCP server on
// 127.0.0.1 that answers with exact bytes: framings (chunked split anywhere, Content-Length, end of
// connection, none), interim answers, malformed answers, caps, streaming with a slow sink, early close.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { RawHttpError, parseResponseHead, rawExchange, requestHead, type RawRequest } from '../../src/platform/rawhttp.ts';
import { tcpHandles } from '../../src/platform/tcplink.ts';
import { HttpClient } from '../../src/platform/http.ts';

/** path -> how to answer (the raw request text is recorded). */
const answers = new Map<string, (s: Socket) => void>();
const seen: string[] = [];
const sockets = new Set<Socket>();
const server = createServer((s) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
  let buf = '';
  s.on('error', () => { /* the client may cut */ });
  s.on('data', (d) => {
    buf += d.toString('latin1');
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const len = Number(/\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
    if (buf.length < end + 4 + len) return;
    seen.push(buf);
    const path = buf.split(' ')[1]!;
    buf = '';
    (answers.get(path) ?? ((x: Socket) => x.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')))(s);
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const port = (server.address() as AddressInfo).port;
after(() => { for (const s of sockets) s.destroy(); server.close(); });

function baseReq(path: string, o: Partial<RawRequest> = {}): RawRequest {
  return { method: 'GET', url: new URL(`http://127.0.0.1:${port}${path}`), headers: {}, connectTimeoutMs: 2000, readTimeoutMs: 2000, totalTimeoutMs: 5000, maxBytes: 1 << 20, errorBodyKeep: 64, ...o };
}

/** Writes the pieces one by one with a pause between, so the client sees every split. */
function dribble(s: Socket, pieces: string[], close = true): void {
  let i = 0;
  const next = () => {
    if (i < pieces.length) { s.write(pieces[i++]!, 'latin1'); setTimeout(next, 2); } else if (close) s.end();
  };
  next();
}

// Every exchange over both engines: Node's TCP handle (the default for an IP address) and node:net.
for (const engine of ['handle', 'net'] as const) {
  const T = (name: string, fn: () => Promise<void>) => test(`${name} [${engine}]`, fn);
  const req = (path: string, o: Partial<RawRequest> = {}) => baseReq(path, { engine, ...o });

  T('chunked bodies are decoded wherever the chunks are split, with extensions and trailers', async () => {
    const wire = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n5;ext=1\r\n<Goal\r\n7\r\nState/>\r\n0\r\nTrailer: x\r\n\r\n';
    answers.set('/chunked', (s) => dribble(s, wire.split(''), false));
    const r = await rawExchange(req('/chunked'));
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), '<GoalState/>');
    assert.equal(r.headers['x-a'], '1, 2');
  });

  T('interim 1xx answers are skipped; 304 and HEAD end at the head even if the server keeps the connection', async () => {
    answers.set('/continue', (s) => s.end('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok'));
    const c = await rawExchange(req('/continue', { method: 'PUT', body: Buffer.from('x') }));
    assert.equal(c.status, 201);
    assert.equal(c.body.toString(), 'ok');
    answers.set('/304', (s) => s.write('HTTP/1.1 304 Not Modified\r\nETag: "1"\r\nContent-Length: 99\r\n\r\n'));
    const n = await rawExchange(req('/304'));
    assert.equal(n.status, 304);
    assert.equal(n.body.length, 0);
    answers.set('/head', (s) => s.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'));
    assert.equal((await rawExchange(req('/head', { method: 'HEAD' }))).status, 200);
    answers.set('/eof', (s) => dribble(s, ['HTTP/1.1 200 OK\r\n\r\n<Ver', 'sions/>']));
    assert.equal((await rawExchange(req('/eof'))).body.toString(), '<Versions/>');
  });

  T('the request head: Host, our own Content-Length (also 0 for an empty PUT), headers as given, no line breaks', async () => {
    answers.set('/put', (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    await rawExchange(req('/put', { method: 'PUT', headers: { 'x-ms-version': '2012-11-30', 'Content-Length': '999' }, body: Buffer.from('héllo') }));
    const head = seen.at(-1)!;
    assert.match(head, /^PUT \/put HTTP\/1\.1\r\nHost: 127\.0\.0\.1:\d+\r\nx-ms-version: 2012-11-30\r\nContent-Length: 6\r\n\r\nh/);
    await rawExchange(req('/put', { method: 'PUT' }));
    assert.match(seen.at(-1)!, /\r\nContent-Length: 0\r\n\r\n$/);
    assert.doesNotMatch(requestHead('GET', new URL('http://h/x?a=1'), {}, null), /Content-Length/);
    const before = seen.length;
    await assert.rejects(rawExchange(req('/put', { headers: { 'x-evil': 'a\r\nInjected: 1' } })), (e: unknown) => e instanceof RawHttpError && e.code === 'EHTTPHEADER');
    assert.equal(seen.length, before, 'nothing was sent');
  });

  T('string bodies: ASCII goes out as it is with the head; HttpClient encodes any other as UTF-8', async () => {
    answers.set('/str', (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    const ascii = '{"content":"eyJh","requestUri":"https://x/y?a=1"}';
    await rawExchange(req('/str', { method: 'PUT', body: ascii }));
    assert.ok(seen.at(-1)!.endsWith(`\r\nContent-Length: ${ascii.length}\r\n\r\n${ascii}`), seen.at(-1));
    const http = new HttpClient({ env: {} });
    for (const body of [ascii, '{"m": "h\u00e9llo \u2713"}']) {
      await http.send({ method: 'PUT', url: `http://127.0.0.1:${port}/str`, doc: 'test', body });
      const bytes = Buffer.from(body, 'utf8');
      // The server records latin1: each UTF-8 byte one character.
      assert.ok(seen.at(-1)!.endsWith(`\r\nContent-Length: ${bytes.length}\r\n\r\n${bytes.toString('latin1')}`), seen.at(-1));
    }
    await http.close();
  });

  T('malformed answers are errors with a code, not guesses', async () => {
    assert.throws(() => parseResponseHead('HTTP/2 200 OK'), /bad status line/);
    assert.throws(() => parseResponseHead('HTTP/1.1 200 OK\r\nno colon here'), /bad header line/);
    const cases: [string, string, RegExp][] = [
      ['/badlen', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello', /Content-Length/],
      ['/badchunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n', /chunk size/],
      ['/nocrlf', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhiXX0\r\n\r\n', /no line break after a chunk/],
      ['/hugehead', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70 << 10)}\r\n\r\n`, /head larger/],
    ];
    for (const [path, wire, re] of cases) {
      answers.set(path, (s) => s.end(wire));
      await assert.rejects(rawExchange(req(path)), (e: unknown) => e instanceof RawHttpError && re.test(e.message), path);
    }
  });

  T('a connection that ends early is ECONNRESET (before the head, or short of the declared length)', async () => {
    answers.set('/short', (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc'));
    await assert.rejects(rawExchange(req('/short')), (e: unknown) => e instanceof RawHttpError && e.code === 'ECONNRESET' && /whole body/.test(e.message));
    answers.set('/hangup', (s) => s.end());
    await assert.rejects(rawExchange(req('/hangup')), (e: unknown) => e instanceof RawHttpError && e.code === 'ECONNRESET' && /hang up/.test(e.message));
    answers.set('/silent', () => { /* never answers */ });
    await assert.rejects(rawExchange(req('/silent', { readTimeoutMs: 100 })), (e: unknown) => e instanceof RawHttpError && e.code === 'UND_ERR_SOCKET_TIMEOUT');
    answers.set('/trickle', (s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n'); const t = setInterval(() => s.write('x'), 20); s.on('close', () => clearInterval(t)); });
    await assert.rejects(rawExchange(req('/trickle', { totalTimeoutMs: 150 })), (e: unknown) => e instanceof RawHttpError && e.code === 'ETIMEDOUT');
    // Silence is measured from the last byte: a steady answer slower in all than the silence limit completes.
    answers.set('/steady', (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\n');
      let n = 0;
      const t = setInterval(() => { s.write('y'); if (++n === 8) { clearInterval(t); s.end(); } }, 40);
      s.on('close', () => clearInterval(t));
    });
    const steady = await rawExchange(req('/steady', { readTimeoutMs: 150, totalTimeoutMs: 5000 }));
    assert.equal(steady.body.toString(), 'yyyyyyyy');
  });

  T('caps: a declared or a streamed body over maxBytes is refused as too large', async () => {
    answers.set('/declared', (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n'));
    await assert.rejects(rawExchange(req('/declared', { maxBytes: 1000 })), (e: unknown) => e instanceof RawHttpError && e.tooLarge);
    answers.set('/stream', (s) => dribble(s, ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', `258\r\n${'y'.repeat(600)}\r\n`, `258\r\n${'y'.repeat(600)}\r\n`, '0\r\n\r\n']));
    await assert.rejects(rawExchange(req('/stream', { maxBytes: 1000 })), (e: unknown) => e instanceof RawHttpError && e.tooLarge);
  });

  T('streaming: a slow async sink gets every chunk in order (the connection waits for it); errors keep a bounded body', async () => {
    const big = Buffer.alloc(3 << 20);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7) & 0xff;
    answers.set('/pkg', (s) => { s.write(`HTTP/1.1 200 OK\r\nContent-Length: ${big.length}\r\n\r\n`); s.end(big); });
    const got: Buffer[] = [];
    let starts = 0;
    const r = await rawExchange(req('/pkg', {
      maxBytes: 4 << 20,
      onStart: () => { starts++; },
      onChunk: async (c) => { got.push(c); if (got.length % 5 === 0) await new Promise((res) => setTimeout(res, 1)); },
    }));
    assert.equal(r.body.length, 0);
    assert.equal(starts, 1);
    assert.ok(Buffer.concat(got).equals(big));

    answers.set('/sinkfail', (s) => { s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'); s.end('0123456789'); });
    const boom = new Error('disk full');
    await assert.rejects(rawExchange(req('/sinkfail', { onChunk: async () => { throw boom; } })), (e: unknown) => e instanceof RawHttpError && e.code === 'ESINK' && e.sinkError === boom);

    answers.set('/denied', (s) => s.end(`HTTP/1.1 403 Forbidden\r\nContent-Length: 500\r\n\r\n${'e'.repeat(500)}`));
    const d = await rawExchange(req('/denied', { onChunk: () => assert.fail('an error body is not streamed') }));
    assert.equal(d.status, 403);
    assert.ok(d.body.length >= 64 && d.body.length <= 500, `kept ${d.body.length} bytes`);
  });

  T('a refused connection is ECONNREFUSED', async () => {
    const s2 = createServer();
    await new Promise<void>((r) => s2.listen(0, '127.0.0.1', r));
    const p2 = (s2.address() as AddressInfo).port;
    await new Promise<void>((r) => s2.close(() => r()));
    await assert.rejects(rawExchange({ ...req('/'), url: new URL(`http://127.0.0.1:${p2}/`) }), (e: unknown) => e instanceof RawHttpError && e.code === 'ECONNREFUSED');
  });

  T('a large body (more than the socket takes at once) is sent whole; a peer that hangs up on it is an error with a code', async () => {
    const big = Buffer.alloc(4 << 20, 0x61);
    answers.set('/big', (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    const r = await rawExchange(req('/big', { method: 'PUT', body: big, totalTimeoutMs: 20_000 }));
    assert.equal(r.body.toString(), 'ok');
    assert.equal(seen.at(-1)!.length - seen.at(-1)!.indexOf('\r\n\r\n') - 4, big.length);
    const rude = createServer((s) => { s.on('error', () => undefined); s.destroy(); });
    await new Promise<void>((res) => rude.listen(0, '127.0.0.1', res));
    try {
      const p3 = (rude.address() as AddressInfo).port;
      await assert.rejects(rawExchange({ ...req('/', { method: 'PUT', body: Buffer.alloc(16 << 20) }), url: new URL(`http://127.0.0.1:${p3}/`) }),
        (e: unknown) => e instanceof RawHttpError && ['ECONNRESET', 'EPIPE'].includes(e.code), 'a reset while writing');
    } finally {
      await new Promise<void>((res) => rude.close(() => res()));
    }
  });
}

test('the pinned Node offers the TCP handle, and an IP address uses it by default; a host name goes through node:net', async () => {
  // A Node upgrade that changes the binding fails here (rawhttp.ts would fall back to node:net, which costs
  // the idle poll ~0.3 ms of CPU more: scripts/bench/poll-cost.ts).
  assert.ok(tcpHandles(), 'process.binding tcp_wrap / stream_wrap in the shape tcplink.ts uses');
  const net = process.getBuiltinModule('node:net') as typeof import('node:net');
  const connect = net.Socket.prototype.connect;
  let viaNet = 0;
  net.Socket.prototype.connect = function (this: import('node:net').Socket, ...args: unknown[]) { viaNet++; return (connect as (...a: unknown[]) => import('node:net').Socket).apply(this, args); } as typeof connect;
  try {
    answers.set('/which', (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    assert.equal((await rawExchange(baseReq('/which'))).body.toString(), 'ok');
    assert.equal(viaNet, 0, '127.0.0.1 went through node:net');
    assert.equal((await rawExchange(baseReq('/which', { url: new URL(`http://localhost:${port}/which`) }))).body.toString(), 'ok');
    assert.equal(viaNet, 1, 'localhost did not go through node:net');
  } finally {
    net.Socket.prototype.connect = connect;
  }
});

test('IPv6: an address in brackets connects over the handle too (where this host has ::1)', async (t) => {
  const s6 = createServer((s) => { s.on('data', () => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nv6')); s.on('error', () => undefined); });
  const ok = await new Promise<boolean>((r) => { s6.once('error', () => r(false)); s6.listen(0, '::1', () => r(true)); });
  if (!ok) { t.skip('no ::1 on this host'); return; }
  try {
    const p6 = (s6.address() as AddressInfo).port;
    for (const engine of ['handle', 'net'] as const) {
      const r = await rawExchange({ ...baseReq('/'), url: new URL(`http://[::1]:${p6}/`), engine });
      assert.equal(r.body.toString(), 'v6', engine);
    }
  } finally {
    await new Promise<void>((r) => s6.close(() => r()));
  }
});

test('an address node:net refuses at once (port 0) is an error of the exchange, not a crash later', async () => {
  for (const url of ['http://localhost:0/x', 'http://127.0.0.1:0/x']) {
    await assert.rejects(rawExchange({ ...baseReq('/x', { connectTimeoutMs: 50, readTimeoutMs: 50, totalTimeoutMs: 100 }), url: new URL(url) }), (e: unknown) => e instanceof RawHttpError, url);
  }
  // The timers of both exchanges are gone: nothing fires into a half-made exchange.
  await new Promise((r) => setTimeout(r, 150));
});
