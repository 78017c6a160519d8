// The platform layer against the fabric simulator on 127.0.0.1: full goal state, certificates with real
// openssl, vmSettings with 304, status upload on every channel, health reports, telemetry, IMDS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { baseScenario } from '../fabric/testing.ts';
import { ImdsClient } from '../../src/platform/imds.ts';
import { reportObservations } from '../../src/platform/healthservice.ts';
import { missingThumbprints } from '../../src/platform/selection.ts';
import { quickClock } from '../helpers/clock.ts';
import { withProtocol as withFabricProtocol, type ProtocolCtx } from '../helpers/protocol.ts';

/** Retries sleep for real but briefly (the policy's delays are exercised in unit tests with a fake clock). */
const clock = quickClock({ capMs: 5, random: Math.random });

/** The shared fixture (test/helpers/protocol.ts) over baseScenario(extra), asserting no protocol violation. */
function withProtocol(extra: Record<string, unknown>, fn: (c: ProtocolCtx) => Promise<void>, opts: { fastTrack?: boolean } = {}): Promise<void> {
  return withFabricProtocol(baseScenario(extra), fn, { clock, ...opts });
}

test('detect: full goal state, certificates round trip (real openssl), protected settings decrypt with the installed key', () => withProtocol({ vmSettings: false }, async ({ f, p, lib }) => {
  const r = await p.detect();
  const s = f.scenario();
  assert.equal(r.goalState.incarnation, String(f.incarnation()));
  assert.equal(r.goalState.containerId, s.vm.containerId);
  assert.equal(r.goalState.instanceId, s.vm.roleInstanceId);
  assert.ok(r.goalState.configName.length > 0);
  assert.equal(r.full?.hostingEnvironment?.roleName, s.vm.roleName);
  assert.ok(existsSync(join(lib, 'SharedConfig.xml')));
  assert.equal(statSync(join(lib, 'TransportPrivate.pem')).mode & 0o777, 0o600);
  // The simulator saw our transport certificate.
  assert.equal(f.transportCertSeen(), readFileSync(join(lib, 'TransportCert.pem'), 'utf8').split('\n').filter((l) => l && !l.includes('----')).join(''));
  const fabric = f.fabricCert();
  const c = r.certificates.find((x) => x.thumbprint === fabric.thumbprint);
  assert.deepEqual(c, { thumbprint: fabric.thumbprint, hasPrivateKey: true });
  assert.equal(readFileSync(join(lib, `${fabric.thumbprint}.crt`), 'utf8').trim(), fabric.certPem.trim());
  const ext = r.extensions.handlers.find((h) => h.name === 'Waagent.Test.ShellExt')!;
  assert.equal(r.extensions.source, 'Fabric');
  assert.equal(ext.version, '1.0.0');
  assert.equal(ext.state, 'enabled');
  const set = ext.settings[0]!;
  assert.equal(set.sequenceNumber, 3);
  assert.deepEqual(set.publicSettings, { message: 'from-test' });
  assert.equal(set.protectedSettingsCertThumbprint, fabric.thumbprint);
  const der = Buffer.from(set.protectedSettings!, 'base64');
  const plain = execFileSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-recip', join(lib, `${fabric.thumbprint}.crt`), '-inkey', join(lib, `${fabric.thumbprint}.prv`)], { input: der }).toString();
  assert.deepEqual(JSON.parse(plain), { secret: 'test-protected' });
  assert.ok(r.extensions.statusUploadBlob?.url.startsWith(f.urls.blob));
  // Manifest through the real client.
  const m = await p.wire.fetchManifest(ext.manifestUris[0]!);
  assert.ok(m.versions.some((v) => v.version === '1.0.0' && v.uris.length > 0));
  // Certificates: AES128_CBC is tried first and sufficed.
  const certReqs = f.requests({ path: 'comp=certificates' });
  assert.equal(certReqs.length, 1);
  assert.equal(certReqs[0]!.headers['x-ms-cipher-name'], 'AES128_CBC');
}));

test('idle poll is one goal-state GET (+ one vmSettings GET answered 304); new incarnation fetches documents again', () => withProtocol({}, async ({ f, p }) => {
  const first = await p.detect();
  // Both sources changed with equal created-on ticks: ExtensionsConfig wins ties (the Python agent's strict '>').
  assert.equal(first.extensions.source, 'Fabric');
  assert.equal(first.fastTrackSupported, true);
  const before = f.requests().length;
  const idle = await p.poll();
  assert.equal(idle.wireChanged, false);
  assert.equal(idle.extensionsChanged, false);
  const after = f.requests().slice(before);
  assert.deepEqual(after.map((r) => `${r.endpoint} ${r.method} ${r.url.replace(/\?.*$/, '')} ${r.status}`), [
    'wire GET /machine/ 200', 'hgap GET /vmSettings 304',
  ]);
  assert.ok(after[1]!.headers['if-none-match']);
  // A new incarnation with new settings: documents fetched again, the extensions goal state changes.
  await f.update({ extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 4, publicSettings: { message: 'second' }, protectedSettings: { secret: 'test-protected' } }] });
  const next = await p.poll();
  assert.equal(next.wireChanged, true);
  assert.equal(next.extensionsChanged, true);
  assert.equal(next.extensions.handlers[0]!.settings[0]!.sequenceNumber, 4);
  assert.deepEqual(next.extensions.handlers[0]!.settings[0]!.publicSettings, { message: 'second' });
  // Same certificates incarnation logic: a new incarnation refetches certificates exactly once more.
  assert.equal(f.requests({ path: 'comp=certificates' }).length, 2);
}));

for (const blobType of ['BlockBlob', 'PageBlob'] as const) {
  test(`status upload (${blobType}): via HostGAPlugin, then direct when the plugin fails`, () => withProtocol({
    statusBlobType: blobType,
    faults: [{ endpoint: 'hgap', path: '/status', action: 'status', status: 500, count: 0, skip: blobType === 'BlockBlob' ? 1 : 2 }],
  }, async ({ f, p }) => {
    await p.detect();
    const status = JSON.stringify({ version: '1.1', timestampUTC: '2026-01-01T00:00:00Z', aggregateStatus: { guestAgentStatus: { version: '3.0.0.0', status: 'Ready', formattedMessage: { lang: 'en-US', message: 'x'.repeat(700) } } } });
    const a = await p.uploadStatus(status);
    assert.deepEqual([a.ok, a.channel, a.blobType], [true, 'HostGAPlugin', blobType]);
    const b = await p.uploadStatus(status.replace('Ready', 'NotReady'));
    assert.deepEqual([b.ok, b.channel], [true, 'Direct']);
    const ups = f.statusUploads();
    assert.deepEqual(ups.map((u) => [u.channel, u.blobType]), [['hgap', blobType], ['direct', blobType]]);
    assert.deepEqual(ups[0]!.json, JSON.parse(status));
    assert.deepEqual(ups[1]!.json, JSON.parse(status.replace('Ready', 'NotReady')));
    const hg = f.requests({ endpoint: 'hgap', path: '/status' })[0]!;
    assert.equal(hg.headers['x-ms-containerid'], f.scenario().vm.containerId);
  }));
}

test('health reports: XML NotReady with substatus, Ready; JSON /provisioning/health; role properties; telemetry', () => withProtocol({ provisioningHealthJson: true }, async ({ f, p }) => {
  await p.detect();
  await p.wire.reportHealth({ state: 'NotReady', subStatus: 'Provisioning', description: 'Starting' });
  await p.wire.reportHealth({ state: 'Ready' });
  assert.equal(await p.wire.reportHealthJson({ state: 'NotReady', subStatus: 'ProvisioningFailed', description: 'bad & <worse>' }), true);
  const h = f.health();
  assert.deepEqual(h.map((x) => [x.channel, x.state, x.subStatus ?? '', x.description ?? '']), [
    ['xml', 'NotReady', 'Provisioning', 'Starting'], ['xml', 'Ready', '', ''], ['json', 'NotReady', 'ProvisioningFailed', 'bad & <worse>'],
  ]);
  assert.equal(h[0]!.incarnation, String(f.incarnation()));
  assert.equal(h[0]!.instanceId, f.scenario().vm.roleInstanceId);
  await p.wire.reportRoleProperties('SHA256abcdef');
  const t = await p.wire.sendTelemetry([{ providerId: '69B669B9-4AF8-4C50-BDC4-6006FA76E975', eventId: 1, params: [{ name: 'Name', value: 'WALinuxAgent' }, { name: 'OperationSuccess', value: true }] }]);
  assert.deepEqual(t, { sent: 1, dropped: 0, requests: 1, failed: 0 });
  const tr = f.requests({ path: 'comp=telemetrydata' });
  assert.equal(tr.length, 1);
  assert.match(tr[0]!.body, /<Param Name="Name" Value="WALinuxAgent" T="mt:wstr" \/>/);
  assert.equal(tr[0]!.headers['content-type'], 'text/xml;charset=utf-8');
}));

test('HostGAPlugin /health, /versions, /vmAgentLog; HealthService; thumbprints covered', () => withProtocol({}, async ({ f, p, http }) => {
  const r = await p.detect();
  assert.equal(await p.hgap.health(), true);
  assert.ok((await p.hgap.versions()).includes('2015-09-01'));
  await p.hgap.putAgentLog(Buffer.from('PK\x05\x06' + '\0'.repeat(18), 'binary'));
  const log = f.requests({ path: '/vmAgentLog' })[0]!;
  assert.equal(log.headers['x-ms-vmagentlog-deploymentid'], r.goalState.deploymentId);
  assert.equal(log.headers['x-ms-client-name'], 'WALinuxAgent');
  await reportObservations(http, f.urls.wire, [{ name: 'GuestAgentPluginHeartbeat', isHealthy: true, description: 'ok' }]);
  assert.match(f.requests({ path: '/HealthService' })[0]!.body, /"ObservationName":"GuestAgentPluginHeartbeat"/);
  assert.deepEqual(missingThumbprints(r.extensions, r.certificates), []);
  assert.deepEqual(missingThumbprints(r.extensions, []), [f.fabricCert().thumbprint]);
}));

test('IMDS: instance metadata with keys and osProfile; absent IMDS is a clear error', () => withProtocol({}, async ({ f, http }) => {
  const i = await new ImdsClient({ transport: http, baseUrl: f.urls.imds, clock: clock }).instance();
  assert.equal(i.vmId, f.scenario().vm.vmId);
  assert.equal(i.osProfile.adminUsername, 'tester');
  assert.equal(i.publicKeys.length, 1);
  assert.equal(i.publicKeys[0]!.keyData.split(' ').slice(0, 2).join(' '), f.sshKeys()[0]!.publicKey.split(' ').slice(0, 2).join(' '));
  assert.equal(f.requests({ endpoint: 'imds' })[0]!.headers['metadata'], 'true');
  const closedPort = f.urls.wire.replace(/:\d+$/, ':1');
  await assert.rejects(new ImdsClient({ transport: http, baseUrl: closedPort, clock: clock }).instance(), /IMDS: instance metadata not available/);
}));

test('a Certificates blob that does not decrypt: typed error, certificates already installed stay', () => withProtocol({ vmSettings: false }, async ({ f, p, lib }) => {
  const r = await p.detect();
  const tp = r.certificates[0]!.thumbprint;
  const before = readFileSync(join(lib, `${tp}.prv`));
  // Replace our transport pair by a stranger's: the fabric now encrypts to a cert whose key we do not hold.
  const stranger = mkdtempSync(join(tmpdir(), 'stranger-'));
  execFileSync('openssl', ['req', '-x509', '-nodes', '-subj', '/CN=other', '-days', '2', '-newkey', 'rsa:2048', '-keyout', join(stranger, 'k'), '-out', join(stranger, 'c')], { stdio: 'ignore' });
  writeFileSync(join(lib, 'TransportPrivate.pem'), readFileSync(join(stranger, 'k')));
  rmSync(stranger, { recursive: true, force: true });
  f.bumpIncarnation();
  const gs = (await p.wire.fetchGoalState()).goalState;
  await assert.rejects(p.wire.fetchCertificates(gs), /Certificates: /);
  const ciphers = f.requests({ path: 'comp=certificates' }).slice(1).map((x) => x.headers['x-ms-cipher-name']);
  assert.deepEqual(ciphers, ['AES128_CBC', 'DES_EDE3_CBC'], 'one fallback to DES_EDE3_CBC, then give up');
  assert.deepEqual(readFileSync(join(lib, `${tp}.prv`)), before);
}));
