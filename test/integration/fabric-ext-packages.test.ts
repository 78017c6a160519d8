// Simulator additions for the end-to-end extension tests (loopback only): probe packages built from
// symlinked scripts, the hostile package's `../` entries, and a vmSettings goal state dated after the
// ExtensionsConfig one so the agent's selection (docs/protocol.md §2.4) can pick Fast Track.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFabric } from '../fabric/server.ts';
import { FABRIC_DIR, WS_HEADERS, baseScenario, hgapHeaders, http } from '../fabric/testing.ts';
import { readZip } from '../../src/util/zipread.ts';
import { parseXml, path, textAt } from '../../src/util/xml.ts';

function ext(name: string, pkg: string, versions = ['1.0.0']): Record<string, unknown> {
  return { name, version: versions[0], versions, package: pkg, seqNo: 0, publicSettings: { message: 'x' } };
}

test('fabric packages: a symlinked script is zipped as its target (executable); __parent__ becomes ".."', async () => {
  const f = await startFabric({ bind: 'loopback', quiet: true, scenario: baseScenario({
    vmSettings: false,
    extensions: [ext('Waagent.Test.Probe', 'Waagent.Test.Probe', ['1.0.0', '1.1.0']), ext('Waagent.Test.Evil', 'Waagent.Test.Evil')],
  }) });
  try {
    const probe = await http('GET', `${f.urls.blob}/extensions/Waagent.Test.Probe__1.1.0`);
    assert.equal(probe.status, 200);
    const entries = readZip(probe.body);
    const script = entries.find((e) => e.path === 'bin/probe.sh');
    assert.ok(script, entries.map((e) => e.path).join(' '));
    assert.deepEqual(Buffer.from(script.data), readFileSync(join(FABRIC_DIR, 'extensions', 'Waagent.Test.Probe', 'probe.sh')));
    assert.equal((script.mode ?? 0) & 0o111, 0o111, 'the target file mode (0755) is kept');
    assert.ok(entries.some((e) => e.path === 'HandlerManifest.json'));

    const evil = await http('GET', `${f.urls.blob}/extensions/Waagent.Test.Evil__1.0.0`);
    assert.equal(evil.status, 200);
    // Our reader refuses such an archive outright: look for the raw entry names instead.
    const text = evil.body.toString('latin1');
    assert.ok(text.includes('../escaped-one-up.txt'), 'an entry climbing one level');
    assert.ok(text.includes('../../escaped-two-up.txt'), 'an entry climbing two levels');
    assert.throws(() => readZip(evil.body), /\.\./);
  } finally {
    await f.close();
  }
});

test('fabric vmSettings.newerBySeconds: vmSettings dated after ExtensionsConfig by exactly that much', async () => {
  const f = await startFabric({ bind: 'loopback', quiet: true, scenario: baseScenario({
    vmSettings: { enabled: true, source: 'FastTrack', newerBySeconds: 30 },
  }) });
  try {
    const gs = parseXml((await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS)).text, 'gs');
    const ecUrl = textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'ExtensionsConfig')!;
    const ec = (await http('GET', ecUrl, WS_HEADERS)).text;
    const created = BigInt(/createdOnTicks="(\d+)"/.exec(ec)![1]!);
    const vs = await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f));
    assert.equal(vs.status, 200);
    const vmTicks = BigInt(/"extensionsLastModifiedTickCount": (\d+)/.exec(vs.text)![1]!);
    assert.equal(vmTicks - created, 30n * 10_000_000n);
    // A new extensions goal state keeps the offset; the ETag moves with it.
    const etag = vs.headers['etag'];
    await f.update({ extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 4, publicSettings: { message: 'again' } }] });
    const vs2 = await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f));
    assert.notEqual(vs2.headers['etag'], etag);
    const ec2 = (await http('GET', ecUrl.replace(/incarnation=\d+/, `incarnation=${f.incarnation()}`), WS_HEADERS)).text;
    const created2 = BigInt(/createdOnTicks="(\d+)"/.exec(ec2)![1]!);
    assert.equal(BigInt(/"extensionsLastModifiedTickCount": (\d+)/.exec(vs2.text)![1]!) - created2, 30n * 10_000_000n);
  } finally {
    await f.close();
  }
  const def = await startFabric({ bind: 'loopback', quiet: true, scenario: baseScenario({ vmSettings: true }) });
  try {
    const vs = await http('GET', `${def.urls.hgap}/vmSettings`, hgapHeaders(def));
    const ec = await http('GET', `${def.urls.wire}/machine/?comp=goalstate`, WS_HEADERS);
    assert.equal(ec.status, 200);
    assert.ok(/"extensionsLastModifiedTickCount": \d+/.test(vs.text), 'default offset 0 still renders');
  } finally {
    await def.close();
  }
});
