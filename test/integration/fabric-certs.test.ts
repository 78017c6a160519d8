// The Certificates answer and protected settings, opened with plain openssl exactly as the
// Python agent and extensions do (no code of ours on the decrypting side).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { startFabric, type Fabric } from '../fabric/server.ts';
import { parseXml, textAt, path } from '../../src/util/xml.ts';
import { WS_HEADERS, baseScenario, http } from '../fabric/testing.ts';

let f: Fabric;
let tmp: string;
let transportCert: string;
let transportKey: string;
let transportB64: string;

function openssl(args: string[], input?: string | Buffer): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fabric-certs-'));
  transportCert = join(tmp, 'TransportCert.pem');
  transportKey = join(tmp, 'TransportPrivate.pem');
  // The agent's own command (docs/protocol.md 1.6.1).
  openssl(['req', '-x509', '-nodes', '-subj', '/CN=LinuxTransport', '-days', '730', '-newkey', 'rsa:2048',
    '-keyout', transportKey, '-out', transportCert]);
  transportB64 = readFileSync(transportCert, 'utf8').split('\n').filter((l) => l && !l.includes('----')).join('');
  f = await startFabric({
    scenario: baseScenario({
      sshKeys: [
        { id: 'test-key-a', ovf: 'inline', imds: true },
        { id: 'test-key-thumb', ovf: 'thumbprint', imds: false },
      ],
    }),
    bind: 'loopback', quiet: true,
  });
});
after(async () => {
  await f.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function certificatesUrl(): Promise<string> {
  const gs = parseXml((await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS)).text, 'gs');
  return textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'Certificates')!;
}

/** The agent's pipeline: MIME wrapper → openssl cms -decrypt → pkcs12 -nodes (docs/protocol.md 1.6.4). */
function decryptLikeTheAgent(data: string, dir: string): string {
  const p7m = join(dir, 'Certificates.p7m');
  writeFileSync(p7m, `MIME-Version:1.0\nContent-Disposition: attachment; filename="${p7m}"\nContent-Type: application/x-pkcs7-mime; name="${p7m}"\nContent-Transfer-Encoding: base64\n\n${data}`);
  const pfx = join(dir, 'Certificates.pfx');
  execFileSync('openssl', ['cms', '-decrypt', '-in', p7m, '-inkey', transportKey, '-recip', transportCert, '-out', pfx], { stdio: 'pipe' });
  return openssl(['pkcs12', '-nodes', '-password', 'pass:', '-in', pfx]);
}

for (const [cipher, oid] of [['AES128_CBC', 'aes-128-cbc'], ['DES_EDE3_CBC', 'des-ede3-cbc']] as const) {
  test(`Certificates with ${cipher}: CMS to the transport cert (SKI recipient), PFX with the tenant key and the SSH thumbprint cert`, async () => {
    const r = await http('GET', await certificatesUrl(), {
      ...WS_HEADERS, 'x-ms-guest-agent-public-x509-cert': transportB64, 'x-ms-cipher-name': cipher,
    });
    assert.equal(r.status, 200);
    const doc = parseXml(r.text, 'certificates');
    assert.equal(doc.local, 'CertificateFile');
    assert.equal(textAt(doc, 'Format'), 'Pkcs7BlobWithPfxContents');
    assert.equal(textAt(doc, 'Incarnation'), String(f.incarnation()));
    const data = textAt(doc, 'Data')!;
    const lines = data.split('\n');
    assert.ok(lines.length > 10, 'Data is line-wrapped');
    assert.ok(lines.slice(0, -1).every((l) => l.length === 64));

    const print = openssl(['cms', '-cmsout', '-print', '-inform', 'DER'], Buffer.from(data, 'base64'));
    assert.match(print, new RegExp(oid.replace(/-/g, '.'), 'i'), `content cipher ${oid}`);
    assert.match(print, /subjectKeyIdentifier/, 'recipient named by subjectKeyIdentifier');

    const dir = mkdtempSync(join(tmp, 'dec-'));
    const pem = decryptLikeTheAgent(data, dir);
    const certs = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const keys = pem.match(/-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----/g) ?? [];
    assert.equal(certs.length, 2);
    assert.equal(keys.length, 1, 'only the tenant certificate comes with its key');
    const thumbs = certs.map((c) => new X509Certificate(c).fingerprint.replace(/:/g, ''));
    const sshThumb = f.sshKeys().find((k) => k.id === 'test-key-thumb')!;
    assert.deepEqual(new Set(thumbs), new Set([f.fabricCert().thumbprint, sshThumb.thumbprint]));

    // The thumbprint cert carries the SSH key: the agent's ssh-keygen -i -m PKCS8 path gives the same key.
    const sshCert = certs[thumbs.indexOf(sshThumb.thumbprint)]!;
    writeFileSync(join(dir, 'ssh.crt'), sshCert);
    const pub = openssl(['x509', '-in', join(dir, 'ssh.crt'), '-pubkey', '-noout']);
    writeFileSync(join(dir, 'ssh.pub'), pub);
    const ssh = execFileSync('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', join(dir, 'ssh.pub')], { encoding: 'utf8' }).trim();
    assert.equal(ssh, sshThumb.publicKey.split(' ').slice(0, 2).join(' '));
    assert.equal(f.transportCertSeen(), transportB64);
  });
}

test('ovf-env names the thumbprint key by its Fingerprint, with no Value', () => {
  const ovf = parseXml(f.ovfEnv(), 'ovf');
  const keys = path(ovf, 'ProvisioningSection', 'LinuxProvisioningConfigurationSet', 'SSH', 'PublicKeys')!.children;
  const byFp = keys.find((k) => textAt(k, 'Fingerprint'));
  assert.equal(textAt(byFp, 'Fingerprint'), f.sshKeys().find((k) => k.id === 'test-key-thumb')!.thumbprint);
  assert.equal(textAt(byFp, 'Value'), undefined);
});

test('Certificates without the transport header or with an unknown cipher is 400', async () => {
  const url = await certificatesUrl();
  assert.equal((await http('GET', url, { ...WS_HEADERS, 'x-ms-cipher-name': 'AES128_CBC' })).status, 400);
  const r = await http('GET', url, { ...WS_HEADERS, 'x-ms-guest-agent-public-x509-cert': transportB64, 'x-ms-cipher-name': 'ROT13' });
  assert.equal(r.status, 400);
  assert.match(r.text, /x-ms-cipher-name/);
  const bad = await http('GET', url, { ...WS_HEADERS, 'x-ms-guest-agent-public-x509-cert': 'bm90IGEgY2VydA==', 'x-ms-cipher-name': 'AES128_CBC' });
  assert.equal(bad.status, 400);
});

test('issuerSerial recipients when the scenario asks for them', async () => {
  await f.update({ certRecipient: 'issuerSerial' });
  try {
    const r = await http('GET', await certificatesUrl(), { ...WS_HEADERS, 'x-ms-guest-agent-public-x509-cert': transportB64, 'x-ms-cipher-name': 'AES128_CBC' });
    const data = textAt(parseXml(r.text, 'c'), 'Data')!;
    const print = openssl(['cms', '-cmsout', '-print', '-inform', 'DER'], Buffer.from(data, 'base64'));
    assert.match(print, /issuerAndSerialNumber/);
    assert.match(decryptLikeTheAgent(data, mkdtempSync(join(tmp, 'dec-'))), /BEGIN PRIVATE KEY/);
  } finally {
    await f.update({ certRecipient: 'ski' });
  }
});

test('protected settings decrypt with the tenant key (openssl cms -inform DER, as extensions do)', async () => {
  const gs = parseXml((await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS)).text, 'gs');
  const url = textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'ExtensionsConfig')!;
  const ec = parseXml((await http('GET', url, WS_HEADERS)).text, 'ec');
  const rs = path(ec, 'PluginSettings', 'Plugin', 'RuntimeSettings')!;
  const hs = (JSON.parse(rs.text) as { runtimeSettings: Array<{ handlerSettings: { protectedSettings: string; protectedSettingsCertThumbprint: string } }> }).runtimeSettings[0]!.handlerSettings;
  const crt = join(tmp, `${hs.protectedSettingsCertThumbprint}.crt`);
  const prv = join(tmp, `${hs.protectedSettingsCertThumbprint}.prv`);
  writeFileSync(crt, f.fabricCert().certPem);
  writeFileSync(prv, f.fabricCert().keyPem, { mode: 0o600 });
  const der = Buffer.from(hs.protectedSettings, 'base64');
  const plain = execFileSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-recip', crt, '-inkey', prv], { input: der, encoding: 'utf8' });
  assert.deepEqual(JSON.parse(plain), { secret: 'test-protected' });
  const viaSmime = execFileSync('openssl', ['smime', '-decrypt', '-inform', 'DER', '-recip', crt, '-inkey', prv], { input: der, encoding: 'utf8' });
  assert.equal(viaSmime, plain);
  // The same ciphertext goes to vmSettings (one envelope per settings value).
  assert.ok(!JSON.stringify(f.summary()).includes(hs.protectedSettings));
});

test('certificates modes: absent (no URL), notPfx and emptyFormat (Format), wrongKey (the agent cannot decrypt)', async () => {
  const url = await certificatesUrl();
  const hdrs = { ...WS_HEADERS, 'x-ms-guest-agent-public-x509-cert': transportB64, 'x-ms-cipher-name': 'AES128_CBC' };
  try {
    await f.update({ certificates: 'absent' });
    const gs = parseXml((await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS)).text, 'gs');
    assert.equal(textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'Certificates'), undefined);
    assert.ok(textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'ExtensionsConfig'));
    assert.equal((await http('GET', url, hdrs)).status, 404);

    await f.update({ certificates: 'notPfx' });
    assert.equal(textAt(parseXml((await http('GET', url, hdrs)).text, 'c'), 'Format'), 'CertificatesNonPfxPackage');

    await f.update({ certificates: 'emptyFormat' });
    const empty = parseXml((await http('GET', url, hdrs)).text, 'c');
    assert.equal(textAt(empty, 'Format'), '');
    assert.match(decryptLikeTheAgent(textAt(empty, 'Data')!, mkdtempSync(join(tmp, 'dec-'))), /BEGIN PRIVATE KEY/);

    await f.update({ certificates: 'wrongKey' });
    const wrong = parseXml((await http('GET', url, hdrs)).text, 'c');
    assert.equal(textAt(wrong, 'Format'), 'Pkcs7BlobWithPfxContents');
    assert.throws(() => decryptLikeTheAgent(textAt(wrong, 'Data')!, mkdtempSync(join(tmp, 'dec-'))), /Command failed: openssl cms -decrypt/);
  } finally {
    await f.update({ certificates: 'pfx' });
  }
});

test('a cold key cache shared by simulators started together: every one ends up with the same keys (first writer wins)', async () => {
  const { loadKeyMaterial } = await import('../fabric/certs.ts');
  const dir = mkdtempSync(join(tmpdir(), 'fabric-keycache-'));
  try {
    // Three loads racing on an empty cache, each generating its own keys with openssl meanwhile.
    const all = await Promise.all([0, 1, 2].map(() => loadKeyMaterial(dir, ['race'])));
    const prints = all.map((k) => [k.fabric.thumbprint, k.decoy.thumbprint, k.ssh.get('race')?.thumbprint].join(' '));
    assert.equal(new Set(prints).size, 1, `keys differ between simulators: ${prints.join(' | ')}`);
    const again = await loadKeyMaterial(dir, ['race']);
    assert.equal([again.fabric.thumbprint, again.decoy.thumbprint, again.ssh.get('race')?.thumbprint].join(' '), prints[0], 'the cache holds the keys every racer returned');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
