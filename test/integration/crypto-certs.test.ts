import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ensureTransportPair, transportCertHeader, thumbprint, splitPem, matchKeys, sshPublicKeyFromCert } from '../../src/crypto/certs.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { installCertificates, parseCertificatesXml } from '../../src/platform/certificates.ts';
import { CertificateError, DocumentError } from '../../src/platform/errors.ts';

const ossl = new OpenSsl('openssl');
const sh = (args: string[], input?: Buffer) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });

function tmp(): string { return mkdtempSync(join(tmpdir(), 'crypto-test-')); }

/** A tenant cert + key, made with openssl (the fixture is ours, built at test time). */
function tenant(dir: string, name: string, kind: 'rsa' | 'ec' = 'rsa'): { crt: string; key: string } {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  const newkey = kind === 'rsa' ? ['-newkey', 'rsa:2048'] : ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];
  sh(['req', '-x509', '-nodes', '-subj', `/CN=${name}`, '-days', '30', ...newkey, '-keyout', key, '-out', crt]);
  return { crt, key };
}

function certificatesXml(cms: Buffer, format = 'Pkcs7BlobWithPfxContents'): string {
  const b64 = cms.toString('base64').replace(/(.{64})/g, '$1\n');
  return `<?xml version="1.0" encoding="utf-8"?>\n<CertificateFile><Version>2012-11-30</Version><Incarnation>3</Incarnation><Format>${format}</Format><Data>${b64}</Data></CertificateFile>`;
}

/** PFX with empty password holding `withKey` (cert+key) and `certOnly` certs, CMS-encrypted to the transport cert. */
function envelope(dir: string, transportCert: string, withKey: { crt: string; key: string }, certOnly: string[], cipher = '-aes128', keyid = true, legacy = false): Buffer {
  const pfx = join(dir, 'bundle.pfx');
  const extra = certOnly.length ? ['-certfile', certOnly.join('')] : [];
  if (certOnly.length > 1) {
    writeFileSync(join(dir, 'others.pem'), certOnly.map((c) => readFileSync(c, 'utf8')).join(''));
    extra.splice(0, 2, '-certfile', join(dir, 'others.pem'));
  }
  sh(['pkcs12', '-export', ...(legacy ? ['-legacy'] : []), '-passout', 'pass:', '-inkey', withKey.key, '-in', withKey.crt, ...extra, '-out', pfx]);
  return sh(['cms', '-encrypt', '-binary', '-in', pfx, '-outform', 'DER', cipher, ...(keyid ? ['-keyid'] : []), transportCert]);
}

test('transport pair: generated once with 0600 files, reused, header is the one-line base64 DER', async () => {
  const d = tmp();
  try {
    const c = join(d, 'TransportCert.pem'), k = join(d, 'TransportPrivate.pem');
    const a = await ensureTransportPair(ossl, c, k);
    assert.equal(statSync(c).mode & 0o777, 0o600);
    assert.equal(statSync(k).mode & 0o777, 0o600);
    const subject = sh(['x509', '-in', c, '-noout', '-subject']).toString();
    assert.match(subject, /CN\s*=\s*LinuxTransport/);
    const b = await ensureTransportPair(ossl, c, k);
    assert.equal(b.certPem, a.certPem, 'second call reuses the pair');
    const h = transportCertHeader(a.certPem);
    assert.doesNotMatch(h, /[\s-]/);
    const der = sh(['x509', '-in', c, '-outform', 'DER']);
    assert.equal(h, der.toString('base64'));
    // A key that does not belong to the cert makes a new pair.
    const other = tenant(d, 'x');
    writeFileSync(k, readFileSync(other.key));
    const n = await ensureTransportPair(ossl, c, k);
    assert.notEqual(n.certPem, a.certPem);
    assert.equal(sh(['x509', '-in', c, '-noout', '-pubkey']).toString(), sh(['pkey', '-in', k, '-pubout']).toString());
    assert.deepEqual(readdirSync(d).filter((f) => f.startsWith('.')), [], 'no scratch left behind');
  } finally { rmSync(d, { recursive: true, force: true }); }
});

for (const [cipher, keyid] of [['-aes128', true], ['-des3', false], ['-aes256', true]] as const) {
  test(`certificates round trip with real openssl (${cipher}, ${keyid ? 'SKI' : 'issuer+serial'} recipient)`, async () => {
    const d = tmp();
    try {
      const lib = join(d, 'lib');
      execFileSync('mkdir', ['-m', '700', lib]);
      const pair = await ensureTransportPair(ossl, join(lib, 'TransportCert.pem'), join(lib, 'TransportPrivate.pem'));
      const t = tenant(d, 'tenant');
      const sshOnly = tenant(d, 'sshkey');
      const xml = certificatesXml(envelope(d, pair.certPath, t, [sshOnly.crt], cipher, keyid));
      const summary = await installCertificates(ossl, lib, xml, pair);
      const tpT = sh(['x509', '-in', t.crt, '-noout', '-fingerprint', '-sha1']).toString().split('=')[1]!.trim().replace(/:/g, '');
      const tpS = sh(['x509', '-in', sshOnly.crt, '-noout', '-fingerprint', '-sha1']).toString().split('=')[1]!.trim().replace(/:/g, '');
      assert.deepEqual(summary.sort((a, b) => a.thumbprint.localeCompare(b.thumbprint)),
        [{ thumbprint: tpT, hasPrivateKey: true }, { thumbprint: tpS, hasPrivateKey: false }].sort((a, b) => a.thumbprint.localeCompare(b.thumbprint)));
      assert.equal(statSync(join(lib, `${tpT}.crt`)).mode & 0o777, 0o400);
      assert.equal(statSync(join(lib, `${tpT}.prv`)).mode & 0o777, 0o400);
      assert.ok(!existsSync(join(lib, `${tpS}.prv`)));
      // The written key really is the tenant key: it decrypts what is encrypted to the tenant cert.
      const secret = Buffer.from('{"password":"s3cret"}');
      const enc = sh(['cms', '-encrypt', '-binary', '-outform', 'DER', '-aes256', t.crt], secret);
      const dec = execFileSync('openssl', ['cms', '-decrypt', '-inform', 'DER', '-recip', join(lib, `${tpT}.crt`), '-inkey', join(lib, `${tpT}.prv`)], { input: enc });
      assert.deepEqual(dec, secret);
      assert.ok(existsSync(join(lib, 'Certificates.xml')));
      assert.deepEqual(readdirSync(lib).filter((f) => f.startsWith('.')), [], 'no scratch left behind');
    } finally { rmSync(d, { recursive: true, force: true }); }
  });
}

test('undecryptable Certificates: typed error, previously installed certificates stay valid', async () => {
  const d = tmp();
  try {
    const lib = join(d, 'lib');
    execFileSync('mkdir', ['-m', '700', lib]);
    const pair = await ensureTransportPair(ossl, join(lib, 'TransportCert.pem'), join(lib, 'TransportPrivate.pem'));
    const t = tenant(d, 'tenant');
    const first = await installCertificates(ossl, lib, certificatesXml(envelope(d, pair.certPath, t, [])), pair);
    const before = readFileSync(join(lib, `${first[0]!.thumbprint}.prv`));
    const stranger = tenant(d, 'stranger');
    const bad = certificatesXml(envelope(d, stranger.crt, tenant(d, 'other'), []));
    await assert.rejects(installCertificates(ossl, lib, bad, pair), (e: unknown) => e instanceof CertificateError && /Certificates: CMS decryption failed/.test(e.message));
    assert.deepEqual(readFileSync(join(lib, `${first[0]!.thumbprint}.prv`)), before);
    await assert.rejects(installCertificates(ossl, lib, certificatesXml(Buffer.from('not a cms blob at all')), pair), CertificateError);
    assert.throws(() => parseCertificatesXml('<CertificateFile><Data>@@@</Data></CertificateFile>'), DocumentError);
    assert.throws(() => parseCertificatesXml('<CertificateFile><Data>'), /Certificates: malformed XML/);
    assert.deepEqual(await installCertificates(ossl, lib, '<CertificateFile><Format>Pkcs7BlobWithPfxContents</Format></CertificateFile>', pair), []);
    assert.deepEqual(await installCertificates(ossl, lib, '<CertificateFile><Format>Other</Format><Data>AAAA</Data></CertificateFile>', pair), []);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('legacy (RC2/3DES PBE) PFX is still read', async (t) => {
  const d = tmp();
  try {
    const lib = join(d, 'lib');
    execFileSync('mkdir', ['-m', '700', lib]);
    const pair = await ensureTransportPair(ossl, join(lib, 'TransportCert.pem'), join(lib, 'TransportPrivate.pem'));
    const ten = tenant(d, 'tenant');
    let cms: Buffer;
    try { cms = envelope(d, pair.certPath, ten, [], '-des3', true, true); } catch { t.skip('openssl has no legacy provider'); return; }
    const s = await installCertificates(ossl, lib, certificatesXml(cms), pair);
    assert.equal(s.length, 1);
    assert.equal(s[0]!.hasPrivateKey, true);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('keys are matched to certificates by public key (RSA and EC), thumbprint is uppercase SHA-1 of DER', async () => {
  const d = tmp();
  try {
    const a = tenant(d, 'a'), b = tenant(d, 'b', 'ec');
    const pem = readFileSync(b.key, 'utf8') + 'Bag Attributes\n    localKeyID: 01\n' + readFileSync(a.crt, 'utf8') + readFileSync(b.crt, 'utf8') + readFileSync(a.key, 'utf8');
    const blocks = splitPem(pem);
    assert.equal(blocks.certs.length, 2);
    assert.equal(blocks.keys.length, 2);
    const { items, unmatchedKeys } = await matchKeys(blocks, ossl);
    assert.equal(unmatchedKeys, 0);
    for (const [c, k] of [[a.crt, a.key], [b.crt, b.key]] as const) {
      const tp = thumbprint(readFileSync(c, 'utf8'));
      const der = sh(['x509', '-in', c, '-outform', 'DER']);
      assert.equal(tp, createHash('sha1').update(der).digest('hex').toUpperCase());
      assert.equal(items.find((i) => i.thumbprint === tp)?.keyPem?.trim(), readFileSync(k, 'utf8').trim());
    }
    const lone = await matchKeys({ certs: [], keys: [readFileSync(a.key, 'utf8')] }, ossl);
    assert.equal(lone.unmatchedKeys, 1);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('SSH public key from a certificate equals ssh-keygen -y of its key', async () => {
  const d = tmp();
  try {
    const a = tenant(d, 'a');
    const got = await sshPublicKeyFromCert(readFileSync(a.crt, 'utf8'));
    const want = execFileSync('ssh-keygen', ['-y', '-f', a.key]).toString().trim();
    assert.equal(got.split(' ').slice(0, 2).join(' '), want.split(' ').slice(0, 2).join(' '));
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('RemoteAccess: document parsed, UTF-16 password decrypted with the transport key', async () => {
  const { parseRemoteAccess, decryptRemoteAccessPassword } = await import('../../src/platform/remoteaccess.ts');
  const d = tmp();
  try {
    const pair = await ensureTransportPair(ossl, join(d, 'TransportCert.pem'), join(d, 'TransportPrivate.pem'));
    const pw = 'Jït-Passw0rd!';
    const enc = sh(['cms', '-encrypt', '-binary', '-outform', 'DER', '-aes128', pair.certPath], Buffer.from(pw, 'utf16le')).toString('base64');
    const doc = parseRemoteAccess(`<RemoteAccess><Version>1</Version><Incarnation>2</Incarnation><Users><User><Name>jit1</Name><Password>${enc.replace(/(.{64})/g, '$1\n')}</Password><Expiration>2030-01-01</Expiration><Groups><GroupName>Administrators</GroupName></Groups></User></Users></RemoteAccess>`);
    assert.equal(doc.incarnation, '2');
    assert.deepEqual(doc.users.map((u) => [u.name, u.expiration, u.groups]), [['jit1', '2030-01-01', ['Administrators']]]);
    assert.equal(await decryptRemoteAccessPassword(ossl, doc.users[0]!.encryptedPassword, pair), pw);
    assert.throws(() => parseRemoteAccess('<RemoteAccess><Users><User/></Users></RemoteAccess>'), /RemoteAccess: User #1 has no Name/);
    await assert.rejects(decryptRemoteAccessPassword(ossl, 'AAAA', pair), /CMS decryption failed/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
