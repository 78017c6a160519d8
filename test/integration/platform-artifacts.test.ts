// Manifests and packages: direct first, HostGAPlugin fallback (which then becomes the default channel),
// packages streamed to a file that restarts on each attempt, error bodies never written to it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { baseScenario } from '../fabric/testing.ts';
import { parseManifest } from '../../src/platform/manifest.ts';
import { quickClock } from '../helpers/clock.ts';
import { withProtocol } from '../helpers/protocol.ts';

const clock = quickClock();

test('manifest: direct fails (404), the plugin serves it and becomes the default; package streamed to a file', async () => {
  await withProtocol(baseScenario({ faults: [
    { endpoint: 'blob', path: '_manifest.xml', action: 'status', status: 404, count: 0 },
    { endpoint: 'hgap', path: '/extensionArtifact', action: 'status', status: 500, count: 1, skip: 1 },
  ] }), async ({ f, p, lib }) => {
    const r = await p.detect();
    const h = r.extensions.handlers[0]!;
    const m = await p.artifacts.fetch({ uris: h.manifestUris, doc: 'ExtensionManifest' });
    assert.equal(m.channel, 'hgap');
    assert.equal(p.artifacts.defaultChannel, 'hgap');
    const manifest = parseManifest(m.body.toString('utf8'));
    const v = manifest.versions.find((x) => x.version === h.version)!;
    // Package: the plugin is now tried first; its first package answer is a 500 (retried inside the channel).
    const zip = join(lib, `${h.name}-${h.version}.zip`);
    let starts = 0;
    const pkg = await p.artifacts.fetch({
      uris: v.uris, doc: 'ExtensionPackage', maxBytes: 100 << 20, manifestLocation: m.uri,
      onStart: () => { starts++; writeFileSync(zip, ''); }, onChunk: (c) => { appendFileSync(zip, c); },
    });
    assert.equal(pkg.channel, 'hgap');
    assert.equal(pkg.body.length, 0, 'streamed, not kept');
    assert.equal(starts, 1, 'the 500 body was not streamed into the file');
    execFileSync('unzip', ['-tq', zip]);
    const arts = f.requests({ path: '/extensionArtifact' });
    assert.equal(arts.at(-1)!.headers['x-ms-artifact-manifest-location'], m.uri);
    assert.equal(arts.at(-1)!.headers['x-ms-artifact-location'], pkg.uri);
    assert.ok(readFileSync(zip).subarray(0, 2).equals(Buffer.from('PK')));
  }, { clock });
});

test('every URI and channel failing gives one typed error listing them (SAS redacted)', async () => {
  await withProtocol(baseScenario({ faults: [
    { endpoint: 'blob', path: '_manifest.xml', action: 'status', status: 404, count: 0 },
    { endpoint: 'hgap', path: '/extensionArtifact', action: 'status', status: 404, count: 0 },
  ] }), async ({ p }) => {
    const r = await p.detect();
    const uris = r.extensions.handlers[0]!.manifestUris.map((u) => `${u}?sv=1&sig=SECRET`);
    await assert.rejects(p.artifacts.fetch({ uris, doc: 'ExtensionManifest' }), (e: unknown) => e instanceof Error && /^ExtensionManifest: download failed/.test(e.message) && !e.message.includes('SECRET') && /direct/.test(e.message) && /hgap/.test(e.message));
    assert.equal(p.artifacts.defaultChannel, 'direct');
  }, { clock });
});
