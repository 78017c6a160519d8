// Extensions against storage that misbehaves, end to end in the VM-in-a-box (root, namespaces), with the
// fabric simulator's body faults (a complete HTTP answer whose body is unusable):
// (a) a package cut short / garbage / with one byte changed (bad CRC) on one channel => the agent takes
//     it through the other one and enables the extension. The channel that worked becomes the default,
//     so the faults alternate: direct storage -> HostGAPlugin /extensionArtifact -> direct -> plugin;
// (c) a manifest that is garbage on the URI tried first (both channels) => the other URI is used;
// (b) in its own box: the package unusable on both channels at first => the handler is reported failed,
//     then a later poll (download-only retry, 1 min backoff) enables it without a new goal state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtBox, LIB, ops, skip, type StatusBlob } from './ext-helpers.ts';

const VM = {
  vmId: '2b7c3d4e-5f60-4a1b-8c2d-3e4f5a6b7c8d', containerId: '9e8d7c6b-5a49-4382-9716-a5b4c3d2e1f0', roleName: 'storvm', hostname: 'storvm',
};
const probe = (name: string, over: Record<string, unknown> = {}) => ({
  name, version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { message: `${name} enabled` }, ...over,
});
const pkg = (name: string) => `/extensions/${name}__1.0.0`;

test('storage faults in the box (root, namespaces): unusable package on one channel => the other (both directions); garbage manifest on one URI => the other URI', { skip, timeout: 300_000 }, async (t) => {
  const x = await ExtBox.start({
    name: 'ext-storage', vm: VM, user: { name: 'azureuser' }, vmSettings: false,
    extensions: [probe('Waagent.Test.Short'), probe('Waagent.Test.Garbled'), probe('Waagent.Test.BadCrc'), probe('Waagent.Test.BadManifest', { failoverManifest: true })],
    faults: [
      { endpoint: 'blob', path: pkg('Waagent.Test.Short'), action: 'short', count: 0 },
      { endpoint: 'hgap', path: pkg('Waagent.Test.Garbled'), action: 'garble', count: 0 },
      { endpoint: 'blob', path: pkg('Waagent.Test.BadCrc'), action: 'flip', count: 0 },
      // Whichever manifest URI is tried first (they are shuffled) gets garbage on both channels.
      { endpoint: 'blob', path: 'Waagent.Test.BadManifest_manifest.xml', action: 'garble', count: 1 },
      { endpoint: 'hgap', path: 'Waagent.Test.BadManifest_manifest.xml', action: 'garble', count: 1 },
    ],
  });
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    const names = ['Waagent.Test.Short', 'Waagent.Test.Garbled', 'Waagent.Test.BadCrc', 'Waagent.Test.BadManifest'];
    assert.deepEqual(ops(x.newCommands()), names.flatMap((n) => [`${n} 1.0.0 install`, `${n} 1.0.0 enable`]));
    const blob: StatusBlob = await x.lastStatus();
    for (const n of names) {
      const h = x.handler(blob, n)!;
      assert.equal(h.status, 'Ready', `${n}: ${JSON.stringify(h)}`);
      assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, `seq=0 protected=none message=${n} enabled`);
    }
    const f = x.box.fabric!;
    const plugin = async (path: string) => (await f.requests({ endpoint: 'hgap', path: '/extensionArtifact' }))
      .filter((r) => String(r.headers['x-ms-artifact-location'] ?? '').includes(path));
    // (a) each package: the faulted channel's answer was complete (200) but unusable; the other one was used.
    for (const [n, bad] of [['Waagent.Test.Short', 'blob'], ['Waagent.Test.Garbled', 'hgap'], ['Waagent.Test.BadCrc', 'blob']] as const) {
      const direct = await f.requests({ endpoint: 'blob', path: pkg(n) });
      const viaPlugin = await plugin(pkg(n));
      const [faulted, good] = bad === 'blob' ? [direct, viaPlugin] : [viaPlugin, direct];
      assert.ok(faulted.length >= 1 && faulted.every((r) => r.status === 200 && r.fault), `${n}: faulted ${bad} answers ${JSON.stringify(faulted.map((r) => [r.status, r.fault]))}`);
      assert.ok(good.some((r) => r.status === 200 && !r.fault), `${n} came through the other channel`);
    }
    // Each failed attempt is logged once, with its reason.
    const log = x.log();
    for (const [n, ch, why] of [['Short', 'direct', /truncated|not a zip|past the end|ends inside/], ['Garbled', 'hgap', /not a zip|truncated|corrupt/], ['BadCrc', 'direct', /CRC-32 mismatch|corrupt compressed data|inflated/]] as const) {
      const lines = log.split('\n').filter((l) => l.includes(`Waagent.Test.${n} package: attempt failed: ${ch}`));
      assert.equal(lines.length, 1, `${n}: the failed ${ch} attempt is logged once:\n${log.slice(-3000)}`);
      assert.match(lines[0]!, why);
    }
    // (c) the manifest: the URI tried first failed on both channels, then the other URI answered.
    const asked = [...(await f.requests({ endpoint: 'blob', path: 'Waagent.Test.BadManifest_manifest.xml' })).map((r) => ({ seq: r.seq, uri: r.url, fault: r.fault })),
      ...(await plugin('Waagent.Test.BadManifest_manifest.xml')).map((r) => ({ seq: r.seq, uri: String(r.headers['x-ms-artifact-location']).replace(/^https?:\/\/[^/]+/, ''), fault: r.fault }))]
      .sort((p, q) => p.seq - q.seq);
    t.diagnostic(`manifest requests: ${JSON.stringify(asked)}`);
    assert.equal(asked.length, 3, 'two failed attempts (both channels of one URI), one good answer');
    assert.ok(asked[0]!.fault && asked[1]!.fault && !asked[2]!.fault);
    assert.equal(asked[0]!.uri, asked[1]!.uri);
    assert.notEqual(asked[2]!.uri, asked[0]!.uri, 'the other URI was used');
    assert.equal(log.split('\n').filter((l) => l.includes('Waagent.Test.BadManifest manifest: attempt failed:')).length, 2);
    // Nothing half-done left: no zip, no temp dir.
    assert.deepEqual((await x.libEntries()).filter((n) => n.startsWith('.') || n.endsWith('.zip')), []);
    for (const n of names) assert.equal(x.box.readFile(`${LIB}/${n}-1.0.0/config/HandlerState`), 'Enabled');
  } finally {
    await x.close();
  }
});

test('storage faults in the box (root, namespaces): package unusable on both channels at first => failed, then enabled by a later poll without a new goal state', { skip, timeout: 300_000 }, async (t) => {
  const n = 'Waagent.Test.Later';
  const x = await ExtBox.start({
    name: 'ext-storage-retry', vm: VM, user: { name: 'azureuser' }, vmSettings: false,
    extensions: [probe(n)],
    faults: [
      { endpoint: 'blob', path: pkg(n), action: 'short', count: 1 },
      { endpoint: 'hgap', path: pkg(n), action: 'flip', count: 1 },
    ],
  });
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    assert.deepEqual(ops(x.newCommands()), []);
    const failed = x.handler(await x.lastStatus(), n)!;
    assert.equal(failed.status, 'NotReady');
    assert.match(failed.formattedMessage!.message, /^Failed to download artifacts: .*Failed to download Waagent\.Test\.Later-1\.0\.0 from all URIs/s);
    const f = x.box.fabric!;
    const incarnation = (await f.state()).incarnation;
    // The retry comes after about a minute (1 min backoff, +-10 %), on a poll of the same goal state.
    const started = Date.now();
    let h = failed;
    while (h.status !== 'Ready' && Date.now() - started < 150_000) {
      await new Promise((r) => setTimeout(r, 1000));
      h = x.handler(await x.lastStatus(), n) ?? h;
    }
    assert.equal(h.status, 'Ready', `enabled by a later poll: ${JSON.stringify(h)}\n${x.log().slice(-3000)}`);
    t.diagnostic(`enabled ${Math.round((Date.now() - started) / 1000)} s after the failure was reported`);
    assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, `seq=0 protected=none message=${n} enabled`);
    assert.deepEqual(ops(x.newCommands()), [`${n} 1.0.0 install`, `${n} 1.0.0 enable`]);
    assert.equal((await f.state()).incarnation, incarnation, 'no new goal state');
    assert.match(x.log(), /retrying the download of Waagent\.Test\.Later/);
    assert.equal((await f.requests({ endpoint: 'blob', path: pkg(n) })).length, 2, 'the package was fetched again only once');
  } finally {
    await x.close();
  }
});
