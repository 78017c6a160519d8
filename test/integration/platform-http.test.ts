import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpClient, selectProxy, bypassedByNoProxy, bodyText, USER_AGENT } from '../../src/platform/http.ts';
import { BodyTooLargeError, TransportError } from '../../src/platform/errors.ts';

const seen: IncomingMessage[] = [];
const server = createServer((req: IncomingMessage, res: ServerResponse) => {
  seen.push(req);
  const url = (req.url ?? '').replace(/\?.*$/, '');
  if (url === '/echo') { res.setHeader('content-type', 'text/plain'); res.end(JSON.stringify(req.headers)); return; }
  if (url === '/bom') { res.end(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('<a/>')])); return; }
  if (url === '/big') { res.end(Buffer.alloc(5000, 0x41)); return; }
  if (url === '/big-chunked') { res.write(Buffer.alloc(3000, 0x41)); res.write(Buffer.alloc(3000, 0x41)); res.end(); return; }
  if (url === '/truncated') { res.writeHead(200, { 'content-length': '100' }); res.write('only ten..'); setTimeout(() => res.socket?.destroy(), 20); return; }
  if (url === '/reset') { req.socket.destroy(); return; }
  if (url === '/silent') { return; /* never answers */ }
  if (url === '/stream') { res.write('abc'); res.end('def'); return; }
  res.statusCode = 404; res.end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
const client = new HttpClient({ env: {} });
after(async () => { await client.close(); server.closeAllConnections(); server.close(); });

test('sends User-Agent WALinuxAgent/<version> and Connection: close; strips a BOM', async () => {
  const r = await client.send({ method: 'GET', url: `${base}/echo`, doc: 'Echo', headers: { 'x-ms-version': '2012-11-30' } });
  const h = JSON.parse(bodyText(r));
  assert.equal(h['user-agent'], USER_AGENT);
  assert.match(USER_AGENT, /^WALinuxAgent\/\d+\.\d+\.\d+\.\d+$/);
  assert.equal(h['connection'], 'close');
  assert.equal(h['x-ms-version'], '2012-11-30');
  const b = await client.send({ method: 'GET', url: `${base}/bom`, doc: 'Bom' });
  assert.equal(bodyText(b), '<a/>');
  const u = await client.send({ method: 'GET', url: `${base}/echo`, doc: 'Echo', headers: { 'User-Agent': 'custom+health' } });
  assert.equal(JSON.parse(bodyText(u))['user-agent'], 'custom+health');
});

test('bodies are capped (declared and streamed lengths); streaming to a callback', async () => {
  await assert.rejects(client.send({ method: 'GET', url: `${base}/big`, doc: 'Big', maxBytes: 1000 }), (e: unknown) => e instanceof BodyTooLargeError && /Big: response body is larger than the limit of 1000/.test(e.message));
  await assert.rejects(client.send({ method: 'GET', url: `${base}/big-chunked`, doc: 'Chunked', maxBytes: 4000 }), BodyTooLargeError);
  const chunks: Buffer[] = [];
  const r = await client.send({ method: 'GET', url: `${base}/stream`, doc: 'Stream', onChunk: (c) => { chunks.push(c); } });
  assert.equal(r.body.length, 0);
  assert.equal(Buffer.concat(chunks).toString(), 'abcdef');
});

test('truncated body, reset connection, refused connection and silence are TransportErrors naming the document', async () => {
  await assert.rejects(client.send({ method: 'GET', url: `${base}/truncated`, doc: 'GoalState' }), (e: unknown) => e instanceof TransportError && /^GoalState: /.test(e.message));
  await assert.rejects(client.send({ method: 'GET', url: `${base}/reset`, doc: 'Certificates' }), (e: unknown) => e instanceof TransportError && /^Certificates: /.test(e.message));
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as AddressInfo).port;
  closed.close();
  await assert.rejects(client.send({ method: 'GET', url: `http://127.0.0.1:${port}/`, doc: 'Versions' }), (e: unknown) => e instanceof TransportError && e.code === 'ECONNREFUSED');
  await assert.rejects(client.send({ method: 'GET', url: `${base}/silent`, doc: 'Slow', readTimeoutMs: 200 }), (e: unknown) => e instanceof TransportError && /Slow: /.test(e.message));
});

test('SAS signatures never appear in transport error messages', async () => {
  await assert.rejects(client.send({ method: 'GET', url: `${base}/reset?sv=1&sig=TOPSECRET`, doc: 'StatusBlob' }), (e: unknown) => e instanceof Error && !e.message.includes('TOPSECRET'));
});

test('proxy selection: platform endpoints never proxied; conf before env; scheme; no_proxy; default port', () => {
  const env = { http_proxy: 'http://u:p@proxy.test:3128', https_proxy: 'http://sproxy.test:8080', no_proxy: 'internal.test, 10.0.0.0/8,192.168.1.5' };
  assert.equal(selectProxy('http://168.63.129.16/machine/?comp=goalstate', {}, env), null);
  assert.equal(selectProxy('http://169.254.169.254/metadata/instance', {}, env), null);
  assert.equal(selectProxy('http://wire.example:32526/status', {}, env, ['wire.example']), null);
  assert.equal(selectProxy('http://blob.test/x', {}, env), 'http://u:p@proxy.test:3128');
  assert.equal(selectProxy('https://blob.test/x', {}, env), 'http://sproxy.test:8080');
  assert.equal(selectProxy('https://a.internal.test/x', {}, env), null);
  assert.equal(selectProxy('http://10.1.2.3/x', {}, env), null);
  assert.equal(selectProxy('http://11.1.2.3/x', {}, env), 'http://u:p@proxy.test:3128');
  assert.equal(selectProxy('http://192.168.1.5/x', {}, env), null);
  assert.equal(selectProxy('https://blob.test/x', { host: 'conf.proxy', port: 9000 }, env), 'http://conf.proxy:9000');
  assert.equal(selectProxy('https://blob.test/x', { host: 'http://me:pw@conf.proxy', port: 9000 }, {}), 'http://me:pw@conf.proxy:9000');
  // DEVIATION from the Python agent: a proxy URL without a port uses the scheme's default port.
  assert.equal(selectProxy('http://blob.test/x', {}, { HTTP_PROXY: 'http://noport.test' }), 'http://noport.test');
  assert.equal(selectProxy('https://blob.test/x', {}, { HTTPS_PROXY: 'https://noport.test' }), 'https://noport.test');
  assert.equal(selectProxy('http://blob.test/x', {}, { http_proxy: 'noscheme.test:81' }), 'http://noscheme.test:81');
  assert.equal(selectProxy('http://blob.test/x', {}, { http_proxy: 'socks5://s.test:1080' }), null);
  assert.equal(selectProxy('http://blob.test/x', {}, {}), null);
  assert.equal(bypassedByNoProxy('x.test', '*'), true);
  assert.equal(bypassedByNoProxy('10.0.0.1', '10.0.0.0/33'), false);
});
