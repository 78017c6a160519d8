// Storage traffic (manifests, direct status PUTs) goes through the configured proxy, with credentials;
// platform traffic (WireServer, HostGAPlugin) never does. The proxy is our own, on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { startFabric } from '../fabric/server.ts';
import { baseScenario } from '../fabric/testing.ts';
import { AzureProtocol } from '../../src/platform/protocol.ts';
import { HttpClient } from '../../src/platform/http.ts';
import { HttpError } from '../../src/platform/errors.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { quickClock } from '../helpers/clock.ts';

const clock = quickClock({ capMs: 5 });

interface Seen { method: string; target: string; auth: string | undefined }

/** A forward + CONNECT proxy requiring Basic credentials; forwards only to 127.0.0.1. */
async function startProxy(user: string, pass: string): Promise<{ url: (u: string, p: string) => string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const want = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    seen.push({ method: req.method ?? '', target: req.url ?? '', auth: req.headers['proxy-authorization'] });
    if (req.headers['proxy-authorization'] !== want) { res.writeHead(407, { 'proxy-authenticate': 'Basic realm="t"' }); res.end(); return; }
    const u = new URL(req.url ?? '');
    if (u.hostname !== '127.0.0.1') { res.writeHead(403); res.end(); return; }
    const headers = { ...req.headers };
    delete headers['proxy-authorization'];
    delete headers['proxy-connection'];
    const up = httpRequest({ host: '127.0.0.1', port: u.port, path: u.pathname + u.search, method: req.method, headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  server.on('connection', (s) => { sockets.add(s); s.on('close', () => sockets.delete(s)); });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    seen.push({ method: 'CONNECT', target: req.url ?? '', auth: req.headers['proxy-authorization'] });
    if (req.headers['proxy-authorization'] !== want) { client.end('HTTP/1.1 407 Proxy Authentication Required\r\n\r\n'); return; }
    const [host, port] = (req.url ?? '').split(':');
    if (host !== '127.0.0.1') { client.end('HTTP/1.1 403 Forbidden\r\n\r\n'); return; }
    const up = connect(Number(port), host, () => { client.write('HTTP/1.1 200 Connection Established\r\n\r\n'); up.write(head); up.pipe(client); client.pipe(up); });
    up.on('error', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (u, p) => `http://${encodeURIComponent(u)}:${encodeURIComponent(p)}@127.0.0.1:${port}`,
    seen,
    close: async () => { for (const s of sockets) s.destroy(); await new Promise((r) => server.close(r)); },
  };
}

test('proxy with credentials sees the storage traffic and never the platform traffic', async () => {
  const proxy = await startProxy('agent', 'p@ss:word');
  const f = await startFabric({ bind: 'loopback', scenario: baseScenario({ faults: [{ endpoint: 'hgap', path: '/status', action: 'status', status: 500, count: 0 }] }) });
  const lib = mkdtempSync(join(tmpdir(), 'platform-proxy-'));
  const http = new HttpClient({ env: { http_proxy: proxy.url('agent', 'p@ss:word'), https_proxy: proxy.url('agent', 'p@ss:word') } });
  try {
    const p = new AzureProtocol({ endpoint: f.urls.wire, hgapUrl: f.urls.hgap, libDir: lib, transport: http, clock, openssl: new OpenSsl('openssl') });
    const r = await p.detect();
    assert.equal(proxy.seen.length, 0, 'goal state, certificates, vmSettings: all direct');
    const manifestUrl = r.extensions.handlers[0]!.manifestUris[0]!;
    const m = await p.wire.fetchManifest(manifestUrl);
    assert.ok(m.versions.length > 0);
    const st = await p.uploadStatus('{"version":"1.1"}');
    assert.deepEqual([st.ok, st.channel], [true, 'Direct']);
    await p.wire.reportHealth({ state: 'Ready' });
    await p.poll();
    const wire = new URL(f.urls.wire).host, hgap = new URL(f.urls.hgap).host;
    assert.ok(proxy.seen.length >= 2);
    for (const s of proxy.seen) {
      assert.ok(!s.target.includes(wire) && !s.target.includes(hgap), `platform request went through the proxy: ${s.method} ${s.target}`);
      assert.equal(s.auth, `Basic ${Buffer.from('agent:p@ss:word').toString('base64')}`);
    }
    assert.deepEqual(proxy.seen.map((s) => s.method), ['GET', 'PUT']);
    assert.equal(proxy.seen[0]!.target, manifestUrl, 'absolute URI in the request line');
    assert.equal(f.statusUploads().at(-1)!.channel, 'direct');
  } finally {
    await http.close();
    await f.close();
    await proxy.close();
    rmSync(lib, { recursive: true, force: true });
  }
});

test('wrong proxy credentials fail the storage request (407); no_proxy bypasses the proxy', async () => {
  const proxy = await startProxy('agent', 'right');
  const f = await startFabric({ bind: 'loopback', scenario: baseScenario() });
  const lib = mkdtempSync(join(tmpdir(), 'platform-proxy2-'));
  const bad = new HttpClient({ env: { http_proxy: proxy.url('agent', 'wrong') } });
  const bypass = new HttpClient({ env: { http_proxy: proxy.url('agent', 'wrong'), no_proxy: 'example.test,127.0.0.0/8' } });
  try {
    const p = new AzureProtocol({ endpoint: f.urls.wire, hgapUrl: f.urls.hgap, libDir: lib, transport: bad, clock, openssl: new OpenSsl('openssl') });
    const r = await p.detect();
    const manifestUrl = r.extensions.handlers[0]!.manifestUris[0]!;
    await assert.rejects(p.wire.fetchManifest(manifestUrl), (e: unknown) => e instanceof HttpError && e.status === 407);
    assert.equal(proxy.seen.length, 1);
    const p2 = new AzureProtocol({ endpoint: f.urls.wire, hgapUrl: f.urls.hgap, libDir: lib, transport: bypass, clock, openssl: new OpenSsl('openssl') });
    await p2.detect();
    assert.ok((await p2.wire.fetchManifest(manifestUrl)).versions.length > 0);
    assert.equal(proxy.seen.length, 1, 'no_proxy: direct');
  } finally {
    await bad.close();
    await bypass.close();
    await f.close();
    await proxy.close();
    rmSync(lib, { recursive: true, force: true });
  }
});
