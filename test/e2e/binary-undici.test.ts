// The undici that ships in the binary: build.mjs bundles src/platform/undici.ts on its own (with the undici
// stubs: compressed llhttp WebAssembly, diagnostics channels without NODE_DEBUG tracing, no HTTP/2...) and
// carries it brotli-compressed as a SEA asset (dist/waagent-undici.br inside dist/waagent), compiled on
// first use. The tests over source (platform-proxy) run the installed undici, not this copy; here the copy
// itself (the asset the binary carries) is run through a forward proxy on 127.0.0.1: plain requests,
// absolute-URI requests and a CONNECT tunnel (the path https storage takes). Only loopback is ever contacted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { createServer, get, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { Script } from 'node:vm';
import { brotliDecompressSync } from 'node:zlib';
import type * as Undici from 'undici';
import { AGENT_BIN, PROJECT } from '../helpers/skip.ts';

const BUNDLE = join(PROJECT, 'dist', 'waagent.cjs');
const ASSET = join(PROJECT, 'dist', 'waagent-undici.br');
const skip = existsSync(BUNDLE) && existsSync(ASSET) ? false : 'dist/waagent.cjs is not built (npm test builds it)';

type Lazy = { Agent: typeof Undici.Agent; ProxyAgent: typeof Undici.ProxyAgent; request: (url: string, o: Record<string, unknown>) => Promise<Undici.Dispatcher.ResponseData> };

/** The compressed undici bundle: the asset build.mjs made, which must be inside the binary as it is. */
function lazyUndiciSource(): string {
  const br = readFileSync(ASSET);
  assert.ok(readFileSync(AGENT_BIN).includes(br), 'the compressed undici is inside dist/waagent');
  const text = brotliDecompressSync(br).toString('utf8');
  assert.ok(text.includes('waagent-sea: HTTP/2 is not supported'), 'the asset is the stubbed undici bundle');
  return text;
}

function listen(s: Server): Promise<number> {
  return new Promise((res) => s.listen(0, '127.0.0.1', () => res((s.address() as AddressInfo).port)));
}

test('the binary\'s compressed undici: direct, absolute-URI and CONNECT through a 127.0.0.1 proxy', { skip, timeout: 30_000 }, async () => {
  const bundle = readFileSync(BUNDLE, 'utf8');
  // Not also in the main script in plain form (that would pay for it twice).
  assert.ok(!bundle.includes('llhttp_alloc'), 'undici\'s HTTP/1 client is not in the main script');
  assert.ok(bundle.includes("getRawAsset(\"undici.br\")") || bundle.includes("getRawAsset('undici.br')"), 'the main script loads it from the asset');
  const src = lazyUndiciSource();
  const mod = { exports: {} as Lazy };
  const fn = new Script(`(function (exports, require, module) {${src}\n})`).runInThisContext() as (e: unknown, r: NodeJS.Require, m: unknown) => void;
  fn(mod.exports, createRequire(BUNDLE), mod);
  const { Agent, ProxyAgent, request } = mod.exports;

  const origin = createServer((q, r) => r.end(`hello ${q.url}`));
  const seen: string[] = [];
  const proxy = createServer((q, r) => {
    seen.push(`GET ${q.url}`);
    get(new URL(q.url!), (x: IncomingMessage) => { r.writeHead(x.statusCode!); x.pipe(r); }).on('error', () => r.destroy());
  });
  const tunnels: Socket[] = [];
  proxy.on('connect', (q: IncomingMessage, s: Socket, head: Buffer) => {
    seen.push(`CONNECT ${q.url}`);
    tunnels.push(s);
    const [host, port] = q.url!.split(':');
    assert.equal(host, '127.0.0.1');
    const t = connect(Number(port), host, () => { s.write('HTTP/1.1 200 Connection established\r\n\r\n'); t.write(head); t.pipe(s); s.pipe(t); });
    t.on('error', () => s.destroy());
    s.on('error', () => t.destroy());
  });
  const op = await listen(origin);
  const pp = await listen(proxy);
  const o = `http://127.0.0.1:${op}`;
  const p = `http://127.0.0.1:${pp}`;
  const cases: Array<[string, Undici.Dispatcher]> = [
    ['direct', new Agent({ pipelining: 0 })],
    ['absolute-uri', new ProxyAgent({ uri: p, proxyTunnel: false, pipelining: 0 })],
    ['tunnel', new ProxyAgent({ uri: p, proxyTunnel: true, pipelining: 0 })],
  ];
  try {
    for (const [name, d] of cases) {
      const r = await request(`${o}/x?${name}`, { dispatcher: d, method: 'GET' });
      assert.equal(r.statusCode, 200, name);
      assert.equal(await r.body.text(), `hello /x?${name}`, name);
    }
    assert.deepEqual(seen, [`GET ${o}/x?absolute-uri`, `CONNECT 127.0.0.1:${op}`]);
  } finally {
    // Torn down even after a failure, so that a broken build fails this test instead of hanging it.
    await Promise.all(cases.map(([, d]) => d.destroy()));
    for (const t of tunnels) t.destroy();
    origin.closeAllConnections();
    proxy.closeAllConnections();
    origin.close();
    proxy.close();
  }
});
