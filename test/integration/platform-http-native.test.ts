// Direct requests (every platform request) go through our own engine over node:net (rawhttp.ts), not
// undici and not node:http: what the WireServer and the HostGAPlugin see on the wire, the body framing,
// the timeouts, and that neither undici nor node:http/https/tls is even loaded.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { HttpClient, bodyText } from '../../src/platform/http.ts';
import { TransportError } from '../../src/platform/errors.ts';

interface Seen { method: string; url: string; headers: IncomingMessage['headers']; body: string; port: number; raw: string[] }
const seen: Seen[] = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString(), port: req.socket.remotePort ?? 0, raw: req.rawHeaders });
    const url = (req.url ?? '').replace(/\?.*$/, '');
    if (url === '/chunked') { res.setHeader('set-cookie', ['a=1', 'b=2']); res.write('<Goal'); res.write('State/>'); res.end(); return; }
    if (url === '/eof') {
      // HTTP/1.0-style: no length, no chunking, the body ends with the connection.
      req.socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nConnection: close\r\n\r\n<Versions/>');
      return;
    }
    if (url === '/trickle') {
      // A byte every 50 ms: never silent for the read timeout, but slower than the total timeout.
      res.writeHead(200);
      const t = setInterval(() => { if (!res.writableEnded) res.write('x'); }, 50);
      res.on('close', () => clearInterval(t));
      return;
    }
    if (url === '/status') { res.statusCode = 201; res.end(); return; }
    res.end('ok');
  });
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const client = new HttpClient({ env: {} });
after(async () => { await client.close(); server.closeAllConnections(); server.close(); });

test('a PUT body is sent with Content-Length (never chunked), headers as given, Connection: close, a new connection per request', async () => {
  seen.length = 0;
  const body = JSON.stringify({ content: Buffer.from('é status').toString('base64'), requestUri: 'x' });
  const r = await client.send({ method: 'PUT', url: `${base}/status`, doc: 'HostGAPlugin /status', body, headers: { 'x-ms-version': '2015-09-01', 'Content-Type': 'application/json' } });
  assert.equal(r.status, 201);
  await client.send({ method: 'GET', url: `${base}/machine/?comp=goalstate`, doc: 'GoalState', headers: { 'x-ms-version': '2012-11-30' } });
  const [put, get] = seen;
  assert.equal(put!.body, body);
  assert.equal(put!.headers['content-length'], String(Buffer.byteLength(body)));
  assert.equal(put!.headers['transfer-encoding'], undefined);
  assert.equal(put!.headers['connection'], 'close');
  assert.ok(put!.raw.includes('x-ms-version') && put!.raw.includes('Content-Type'), 'header names go out as the caller spelled them');
  assert.equal(get!.headers['content-length'], undefined, 'a GET without body has no Content-Length');
  assert.equal(get!.url, '/machine/?comp=goalstate');
  assert.notEqual(put!.port, get!.port, 'each request on its own connection');
});

test('chunked and connection-terminated bodies are read whole; repeated headers are joined', async () => {
  const c = await client.send({ method: 'GET', url: `${base}/chunked`, doc: 'GoalState' });
  assert.equal(bodyText(c), '<GoalState/>');
  assert.equal(c.headers['set-cookie'], 'a=1, b=2');
  const e = await client.send({ method: 'GET', url: `${base}/eof`, doc: 'Versions' });
  assert.equal(e.status, 200);
  assert.equal(bodyText(e), '<Versions/>');
  assert.equal(e.headers['content-type'], 'text/xml');
});

test('the total timeout ends an answer that trickles in, as a TransportError naming the document', async () => {
  await assert.rejects(client.send({ method: 'GET', url: `${base}/trickle`, doc: 'Slow', readTimeoutMs: 1000, totalTimeoutMs: 300 }),
    (e: unknown) => e instanceof TransportError && /^Slow: /.test(e.message) && /within 300 ms/.test(e.message));
});

test('direct requests do not load undici (only a proxy needs it)', () => {
  // A fresh process: this test file's own process may have loaded undici through other imports.
  const http = fileURLToPath(new URL('../../src/platform/http.ts', import.meta.url));
  const script = `
    import { createServer } from 'node:http';
    import { createRequire } from 'node:module';
    const { HttpClient } = await import(${JSON.stringify(http)});
    const s = createServer((q, r) => r.end('hi'));
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const c = new HttpClient({ env: {} });
    const res = await c.send({ method: 'GET', url: 'http://127.0.0.1:' + s.address().port + '/', doc: 'X' });
    await c.close(); s.close();
    const loaded = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/node_modules/undici/'));
    console.log(JSON.stringify({ body: res.body.toString(), undici: loaded.length }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual(JSON.parse(out.trim()), { body: 'hi', undici: 0 });
});

test('direct plain-http requests load neither node:http, node:https nor tls (the daemon keeps them out of memory)', () => {
  const http = fileURLToPath(new URL('../../src/platform/http.ts', import.meta.url));
  const script = `
    import { createServer } from 'node:net';
    const { HttpClient } = await import(${JSON.stringify(http)});
    const s = createServer((c) => c.on('data', () => c.end('HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi')));
    await new Promise((r) => s.listen(0, '127.0.0.1', r));
    const c = new HttpClient({ env: {} });
    const res = await c.send({ method: 'GET', url: 'http://127.0.0.1:' + s.address().port + '/', doc: 'X' });
    await c.close(); s.close();
    const loaded = process.moduleLoadList.filter((m) => /^NativeModule (http|https|tls|_http_client)$/.test(m));
    console.log(JSON.stringify({ body: res.body.toString(), loaded }));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual(JSON.parse(out.trim()), { body: 'hi', loaded: [] });
});
