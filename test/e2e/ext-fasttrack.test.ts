// A Fast Track (vmSettings) goal state end to end in the VM-in-a-box (root, namespaces): the simulator's
// HostGAPlugin serves vmSettings dated after ExtensionsConfig, so the agent must select it (docs/protocol.md
// §2.4), fetch artifacts with the verify header through the HostGAPlugin when direct storage fails, run a
// single-config handler (protected settings decrypted) and a multi-config one from the vmSettings JSON,
// report the vmSettings inSvdSeqNo and advertise FastTrack; a new vmSettings (new ETag) runs again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtBox, LIB, sha256, skip } from './ext-helpers.ts';

test('Fast Track goal state in the box (root, namespaces): vmSettings newer than ExtensionsConfig is executed', { skip, timeout: 300_000 }, async (t) => {
  const x = await ExtBox.start('ext-fasttrack.json');
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    const etag = (await x.box.fabric!.state()).etag;
    await x.reported(`etag_${etag}`);
    const processed = x.events().filter((e) => e.event === 'processed');
    assert.deepEqual(processed.map((e) => [e.id, e.source]), [[`etag_${etag}`, 'FastTrack']], 'the vmSettings goal state, not incarnation_1, was executed');
    assert.deepEqual(x.newCommands().map((c) => `${c.handler} ${c.op} ${c.env['ext']} seq=${c.env['seq']}`), [
      'Waagent.Test.Probe install - seq=0', 'Waagent.Test.Probe enable - seq=0',
      'Waagent.Test.MC install only seq=5', 'Waagent.Test.MC enable only seq=5',
    ]);
    // vmSettings carries publicSettings as a JSON string: written as an object all the same.
    const settings = JSON.parse(x.box.readFile(`${LIB}/Waagent.Test.Probe-1.0.0/config/0.settings`)) as { runtimeSettings: Array<{ handlerSettings: { publicSettings: unknown } }> };
    assert.deepEqual(settings.runtimeSettings[0]!.handlerSettings.publicSettings, { message: 'fast' });
    assert.ok(x.box.exists(`${LIB}/fast_track.json`), 'the Fast Track timestamp is kept');

    const blob = await x.lastStatus();
    const p = x.handler(blob, 'Waagent.Test.Probe')!;
    assert.equal(p.status, 'Ready', JSON.stringify(p));
    assert.equal(p.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message,
      `seq=0 protectedSha256=${sha256(JSON.stringify({ secret: 'fasttrack-secret' }))} message=fast`);
    assert.equal(x.handler(blob, 'Waagent.Test.MC', 'only')!.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message,
      'seq=5 protected=none message=mc over vmSettings');
    // Ours reports it as a string, as for ExtensionsConfig; the Python agent passes vmSettings' number through.
    assert.equal(blob.aggregateStatus.vmArtifactsAggregateStatus?.goalStateAggregateStatus.inSvdSeqNo, x.mode === 'upstream' ? 1 : '1', 'vmSettings inSvdSeqNo');
    assert.ok(blob.supportedFeatures?.some((f) => f.Key === 'FastTrack'), 'FastTrack advertised while the plugin serves vmSettings');

    // The package's direct URI fails: it came through the HostGAPlugin, verified against the artifacts blob.
    const arts = (await x.box.fabric!.requests({ endpoint: 'hgap', path: '/extensionArtifact' }))
      .filter((r) => String(r.headers['x-ms-artifact-location'] ?? '').includes('/extensions/Waagent.Test.Probe__1.0.0'));
    assert.ok(arts.some((r) => r.status === 200));
    for (const r of arts) {
      assert.equal(r.headers['x-ms-verify-from-artifacts-blob'], 'true');
      assert.match(String(r.headers['x-ms-artifact-manifest-location']), /\/extensions\/Waagent\.Test\.Probe_manifest\.xml$/);
    }

    // ---- a settings change through Fast Track: new ETag, executed again --------------------------------
    await x.update({ extensions: [
      { name: 'Waagent.Test.Probe', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 1, publicSettings: { message: 'faster' }, protectedSettings: { secret: 'fasttrack-secret' } },
      { name: 'Waagent.Test.MC', version: '1.0.0', package: 'Waagent.Test.ProbeMC', multiConfig: [{ name: 'only', seqNo: 5, publicSettings: { message: 'mc over vmSettings' } }] },
    ] });
    const etag2 = (await x.box.fabric!.state()).etag;
    assert.notEqual(etag2, etag);
    await x.reported(`etag_${etag2}`);
    assert.deepEqual(x.newCommands().map((c) => `${c.handler} ${c.op} seq=${c.env['seq']}`), ['Waagent.Test.Probe enable seq=1', 'Waagent.Test.MC enable seq=5']);
    const b2 = await x.lastStatus();
    assert.equal(x.handler(b2, 'Waagent.Test.Probe')!.runtimeSettingsStatus!.sequenceNumber, 1);
    assert.equal(b2.aggregateStatus.vmArtifactsAggregateStatus?.goalStateAggregateStatus.inSvdSeqNo, x.mode === 'upstream' ? 2 : '2');
    assert.ok(x.events().every((e) => e.event !== 'processed' || String(e.id).startsWith('etag_')), 'no WireServer goal state was executed');
  } finally {
    await x.close();
  }
});
