// The executor's ArtifactSource over the platform ArtifactFetcher, with an in-memory transport (no network):
// manifest parsing, package streaming to the zip path, the manifest location header, failures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ArtifactFetcher } from '../../src/platform/artifacts.ts';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/platform/http.ts';
import { NO_RETRY } from '../../src/platform/retry.ts';
import { platformArtifactSource } from '../../src/extensions/artifacts.ts';
import type { ExtensionHandler } from '../../src/platform/types.ts';

const MANIFEST = `<?xml version="1.0" encoding="utf-8"?><PluginVersionManifest><Plugins>
<Plugin><Version>1.0.0</Version><Uris><Uri>https://blob/p1.zip</Uri></Uris></Plugin></Plugins>
<InternalPlugins><Plugin><Version>1.1.0</Version><Uris><Uri>https://blob/p2.zip</Uri></Uris></Plugin></InternalPlugins></PluginVersionManifest>`;

function fakeTransport(routes: Record<string, Buffer | number>): HttpTransport & { seen: HttpRequest[] } {
  const seen: HttpRequest[] = [];
  return {
    seen,
    async send(req: HttpRequest): Promise<HttpResponse> {
      seen.push(req);
      const r = routes[req.url];
      if (r === undefined || typeof r === 'number') return { status: typeof r === 'number' ? r : 404, headers: {}, body: Buffer.alloc(0) };
      if (req.onChunk) {
        await req.onStart?.();
        for (let i = 0; i < r.length; i += 7) await req.onChunk(r.subarray(i, i + 7));
        return { status: 200, headers: {}, body: Buffer.alloc(0) };
      }
      return { status: 200, headers: {}, body: r };
    },
  };
}

const handler: ExtensionHandler = { name: 'Pub.Ext', version: '1.0', state: 'enabled', manifestUris: ['https://m/manifest.xml'], encodedSignature: '',
  isMultiConfig: false, settings: [], useExactVersion: true, autoUpgrade: false };

test('manifest versions (Plugins and InternalPlugins) and a package streamed to the zip path', async () => {
  const pkg = Buffer.from('PK fake package bytes, not checked here');
  const t = fakeTransport({ 'https://m/manifest.xml': Buffer.from('\ufeff' + MANIFEST), 'https://blob/p1.zip': pkg });
  const src = platformArtifactSource(new ArtifactFetcher({ transport: t, hgap: null, policy: NO_RETRY }));
  const versions = await src.fetchManifest(handler);
  assert.deepEqual(versions.map((v) => [v.version, v.isInternal, v.uris]), [['1.0.0', false, ['https://blob/p1.zip']], ['1.1.0', true, ['https://blob/p2.zip']]]);
  const d = mkdtempSync(join(tmpdir(), 'ext-art-'));
  try {
    const dest = join(d, 'Pub.Ext__1.0.0.zip');
    assert.equal(await src.downloadPackage('https://blob/p1.zip', dest, handler, async () => readFileSync(dest)).then((b) => b.equals(pkg)), true);
    const req = t.seen.find((r) => r.url === 'https://blob/p1.zip')!;
    assert.equal(req.useProxy, true, 'storage traffic may use the proxy');
    await assert.rejects(src.downloadPackage('https://blob/missing.zip', join(d, 'x.zip'), handler, async () => 1), /404|failed/);
  } finally { rmSync(d, { recursive: true, force: true }); }
  await assert.rejects(src.fetchManifest({ ...handler, manifestUris: ['https://m/gone.xml'] }), /failed|404/);
});

test('an answer that fails the check (package not a zip / manifest not XML) is a failed attempt: the HostGAPlugin channel is tried, each attempt logged once', async () => {
  const { createZip } = await import('../../src/util/zipwrite.ts');
  const { readZip } = await import('../../src/util/zipread.ts');
  const { log } = await import('../../src/util/logger.ts');
  const good = createZip([{ name: 'HandlerManifest.json', data: '[]' }]);
  const t = fakeTransport({ 'https://m/manifest.xml': Buffer.from('<not xml'), 'https://blob/p1.zip': good.subarray(0, good.length - 10) });
  const viaPlugin: string[] = [];
  const hgap = {
    async fetchArtifact(url: string, o: { onChunk?: (c: Buffer) => void | Promise<void>; onStart?: () => void | Promise<void> }) {
      viaPlugin.push(url);
      const body = url.endsWith('.xml') ? Buffer.from(MANIFEST) : good;
      if (o.onChunk) { await o.onStart?.(); await o.onChunk(body); return { status: 200, headers: {}, body: Buffer.alloc(0) }; }
      return { status: 200, headers: {}, body };
    },
  };
  const warnings: string[] = [];
  const orig = log.warn.bind(log);
  log.warn = (m: string) => { warnings.push(m); };
  const fetcher = new ArtifactFetcher({ transport: t, hgap: hgap as never, policy: NO_RETRY, random: () => 0 });
  const src = platformArtifactSource(fetcher);
  const d = mkdtempSync(join(tmpdir(), 'ext-art-'));
  try {
    const versions = await src.fetchManifest(handler);
    assert.equal(versions.length, 2);
    assert.equal(fetcher.defaultChannel, 'hgap', 'the channel that worked becomes the default');
    fetcher.defaultChannel = 'direct';
    const dest = join(d, 'p.zip');
    const names = await src.downloadPackage('https://blob/p1.zip', dest, handler, async () => readZip(dest).map((e) => e.path));
    assert.deepEqual(names, ['HandlerManifest.json']);
    assert.deepEqual(viaPlugin, ['https://m/manifest.xml', 'https://blob/p1.zip']);
    assert.equal(warnings.length, 2, warnings.join('\n'));
    assert.match(warnings[0]!, /manifest: attempt failed: direct https:\/\/m\/manifest\.xml: .*/);
    assert.match(warnings[1]!, /package: attempt failed: direct https:\/\/blob\/p1\.zip: zip .*(truncated|not a zip)/);
    // Both channels unusable: one error naming both attempts.
    hgap.fetchArtifact = async () => ({ status: 200, headers: {}, body: Buffer.from('garbage') });
    fetcher.defaultChannel = 'direct';
    await assert.rejects(src.downloadPackage('https://blob/p1.zip', dest, handler, async () => readZip(dest)), /direct .*; hgap /);
  } finally {
    log.warn = orig;
    rmSync(d, { recursive: true, force: true });
  }
});
