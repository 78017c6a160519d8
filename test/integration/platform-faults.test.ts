// A fabric that misbehaves as scripted (503 twice, 429, 410 once, a reset, a truncated body) still ends
// with the right documents, and every extra request is accounted for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { baseScenario } from '../fabric/testing.ts';
import { GoalStateChangedError, DocumentError } from '../../src/platform/errors.ts';
import { quickClock } from '../helpers/clock.ts';
import { withProtocol } from '../helpers/protocol.ts';

const clock = quickClock({ capMs: 5, random: 0.5 });
const sleeps = clock.sleeps;

test('faults: 503 twice, 429, 410 once, reset, truncation -> right documents, counted requests', async () => {
  await withProtocol(baseScenario({
      faults: [
        { endpoint: 'wire', path: 'comp=versions', action: 'reset' },
        { endpoint: 'wire', path: 'comp=goalstate', action: 'status', status: 503, count: 2 },
        { endpoint: 'wire', path: 'type=extensionsConfig', action: 'status', status: 429 },
        { endpoint: 'wire', path: 'comp=certificates', action: 'truncate' },
        { endpoint: 'hgap', path: '/vmSettings', action: 'gone' },
        { endpoint: 'hgap', path: '/status', action: 'gone' },
      ],
    }), async ({ f, p, lib }) => {
    const r = await p.detect();
    // The right documents.
    assert.equal(r.goalState.containerId, f.scenario().vm.containerId);
    assert.equal(r.extensions.handlers[0]!.name, 'Waagent.Test.ShellExt');
    assert.equal(r.extensions.handlers[0]!.settings[0]!.sequenceNumber, 3);
    assert.equal(r.certificates.length > 0, true);
    assert.ok(existsSync(join(lib, `${f.fabricCert().thumbprint}.prv`)));
    assert.equal(r.fastTrackSupported, true);
    // Counted requests: each fault costs exactly one extra request.
    const count = (path: string) => f.requests({ path }).length;
    assert.equal(count('comp=versions'), 2, 'reset, then retried');
    assert.equal(count('comp=goalstate'), 4, '503, 503, 200, and one refresh after the 410 on vmSettings');
    assert.equal(count('type=extensionsConfig'), 2, '429 then 200');
    assert.equal(count('comp=certificates'), 2, 'truncated, then retried (same cipher)');
    assert.deepEqual(f.requests({ path: 'comp=certificates' }).map((x) => x.headers['x-ms-cipher-name']), ['AES128_CBC', 'AES128_CBC']);
    assert.equal(count('/vmSettings'), 2, '410, refresh, then 200');
    assert.ok(sleeps.length >= 4, 'every retry backed off');
    // Status: the plugin answers 410 once: no direct attempt this round, goal state refreshed; the next round works.
    const gsBefore = count('comp=goalstate');
    const a = await p.uploadStatus('{"version":"1.1"}');
    assert.deepEqual([a.ok, a.goalStateChanged], [false, true]);
    assert.equal(count('comp=goalstate'), gsBefore + 1);
    assert.equal(f.statusUploads().length, 0);
    const b = await p.uploadStatus('{"version":"1.1"}');
    assert.deepEqual([b.ok, b.channel], [true, 'HostGAPlugin']);
    assert.equal(f.statusUploads().length, 1);
    assert.deepEqual(f.violations(), []);
  }, { clock });
});

test('garbled goal state: a typed error naming the document; the next poll recovers', async () => {
  await withProtocol(baseScenario({ faults: [{ endpoint: 'wire', path: 'comp=goalstate', action: 'garble', skip: 1 }] }), async ({ p }) => {
    const first = await p.detect();
    await assert.rejects(p.poll(), (e: unknown) => e instanceof DocumentError && e.doc === 'GoalState');
    const again = await p.poll();
    assert.equal(again.goalState.incarnation, first.goalState.incarnation);
    assert.equal(again.wireChanged, false, 'the garbled answer did not replace the known goal state');
  }, { clock, fastTrack: false });
});

test('410 on a HostGAPlugin artifact: refresh the goal state and retry exactly once', async () => {
  await withProtocol(baseScenario({ faults: [{ endpoint: 'hgap', path: '/extensionArtifact', action: 'gone', count: 2 }] }), async ({ f, p }) => {
    const r = await p.detect();
    const manifestUrl = r.extensions.handlers[0]!.manifestUris[0]!;
    await assert.rejects(p.withRefresh(() => p.hgap.fetchArtifact(manifestUrl)), GoalStateChangedError, 'two 410s: one retry only');
    const res = await p.withRefresh(() => p.hgap.fetchArtifact(manifestUrl));
    assert.equal(res.status, 200);
    const arts = f.requests({ path: '/extensionArtifact' });
    assert.equal(arts.length, 3);
    assert.equal(arts[0]!.headers['x-ms-artifact-location'], manifestUrl);
    assert.equal(arts[0]!.headers['x-ms-containerid'], f.scenario().vm.containerId);
  }, { clock });
});
