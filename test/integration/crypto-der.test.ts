// The DER/PEM reader and key identities (src/crypto/der.ts, pem.ts, keys.ts) against node:crypto's
// X509Certificate on certificates and keys made by openssl in a temp dir, plus malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { X509Certificate, createPublicKey, randomBytes } from 'node:crypto';
import { parseCertificate } from '../../src/crypto/der.ts';
import { pemDecode, pemEncode } from '../../src/crypto/pem.ts';
import { keyIdentity, privateKeyIdentity, spkiIdentity } from '../../src/crypto/keys.ts';
import { CryptoError } from '../../src/crypto/errors.ts';
import { certificateOf, ensureTransportPair, thumbprint } from '../../src/crypto/certs.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { realRunner, type ExecOptions, type Runner } from '../../src/util/exec.ts';

const ossl = new OpenSsl('openssl');
const sh = (args: string[], input?: string) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] }).toString();

const dir = mkdtempSync(join(tmpdir(), 'crypto-der-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** Self-signed cert + PKCS#8 key made by openssl req. */
function pair(name: string, newkey: string[], days = 30): { crt: string; key: string } {
  const key = join(dir, `${name}.key`), crt = join(dir, `${name}.crt`);
  sh(['req', '-x509', '-nodes', '-subj', `/CN=${name}`, '-days', String(days), ...newkey, '-keyout', key, '-out', crt]);
  return { crt: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

const KINDS: [string, string[], number][] = [
  ['rsa2048', ['-newkey', 'rsa:2048'], 30],
  ['rsa4096', ['-newkey', 'rsa:4096'], 40000], // notAfter past 2049: GeneralizedTime
  ['p256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'], 40000],
  ['p384', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:secp384r1'], 30],
];
const made = new Map(KINDS.map(([n, k, d]) => [n, pair(n, k, d)]));

test('certificates: thumbprint, notAfter (UTCTime and GeneralizedTime) and SPKI equal X509Certificate', () => {
  for (const [name, days] of KINDS.map(([n, , d]) => [n, d] as const)) {
    const { crt } = made.get(name)!;
    const x = new X509Certificate(crt);
    const c = certificateOf(crt);
    assert.equal(thumbprint(crt), x.fingerprint.replace(/:/g, ''), name);
    assert.equal(c.notAfter.getTime(), new Date(x.validTo).getTime(), name);
    assert.equal(c.notAfter.getUTCFullYear() > 2049, days === 40000, `${name}: the GeneralizedTime case is exercised`);
    assert.deepEqual(Buffer.from(c.spki), x.publicKey.export({ type: 'spki', format: 'der' }), name);
    assert.deepEqual(Buffer.from(c.der), x.raw, name);
  }
});

test('keys: PKCS#8, PKCS#1 and SEC1 (also a compressed point) have their certificate\'s identity; another key does not', async () => {
  const ids = new Map<string, string>();
  for (const [name] of KINDS) {
    const { crt, key } = made.get(name)!;
    const want = spkiIdentity(certificateOf(crt).spki);
    ids.set(name, want);
    const forms = [key];
    if (name.startsWith('rsa')) forms.push(sh(['rsa', '-traditional'], key));
    else forms.push(sh(['ec'], key), sh(['ec', '-conv_form', 'compressed'], key));
    for (const f of forms) {
      assert.match(f, name.startsWith('rsa') ? /BEGIN (RSA )?PRIVATE KEY/ : /BEGIN (EC )?PRIVATE KEY/);
      assert.equal(privateKeyIdentity(f), want, `${name}: ${f.split('\n')[0]}`);
      assert.equal(await keyIdentity(ossl, f), want);
    }
    // The identity of the key's own public key, as node:crypto exports it.
    assert.equal(spkiIdentity(createPublicKey(key).export({ type: 'spki', format: 'der' })), want);
  }
  assert.equal(new Set(ids.values()).size, KINDS.length, 'different keys, different identities');
  assert.notEqual(privateKeyIdentity(made.get('rsa2048')!.key), ids.get('rsa4096'));
});

test('keys without an embedded public key go through openssl pkey -pubout, the key on stdin only', async () => {
  const calls: { argv: string[]; input?: string | Buffer }[] = [];
  const rec: Runner = { run: (argv: string[], o?: ExecOptions) => { calls.push({ argv, input: o?.input }); return realRunner.run(argv, o); } };
  const via = new OpenSsl('openssl', rec);
  const p256 = made.get('p256')!;
  const noPub = sh(['ec', '-no_public'], p256.key);
  assert.equal(privateKeyIdentity(noPub), null);
  assert.equal(await keyIdentity(via, noPub), spkiIdentity(certificateOf(p256.crt).spki));
  const ed = pair('ed25519', ['-newkey', 'ed25519']);
  assert.equal(privateKeyIdentity(ed.key), null);
  assert.equal(await keyIdentity(via, ed.key), spkiIdentity(certificateOf(ed.crt).spki));
  assert.equal(calls.length, 2);
  for (const c of calls) {
    assert.deepEqual(c.argv.slice(1), ['pkey', '-pubout']);
    assert.ok(!c.argv.join(' ').includes('PRIVATE'), 'no key material in argv');
    assert.match(String(c.input), /BEGIN (EC )?PRIVATE KEY/);
  }
  await assert.rejects(keyIdentity(via, '-----BEGIN DSA PRIVATE KEY-----\nAAAA\n-----END DSA PRIVATE KEY-----\n'),
    (e: unknown) => e instanceof CryptoError && /openssl could not derive its public key/.test(e.message) && !e.message.includes('AAAA'));
});

test('transport pair: renewed a day before notAfter, kept before that', async () => {
  const c = join(dir, 'TransportCert.pem'), k = join(dir, 'TransportPrivate.pem');
  const a = await ensureTransportPair(ossl, c, k);
  const end = certificateOf(a.certPem).notAfter.getTime();
  assert.equal((await ensureTransportPair(ossl, c, k, new Date(end - 2 * 86_400_000))).certPem, a.certPem);
  const b = await ensureTransportPair(ossl, c, k, new Date(end - 12 * 3_600_000));
  assert.notEqual(b.certPem, a.certPem);
  writeFileSync(c, 'garbage');
  assert.notEqual((await ensureTransportPair(ossl, c, k)).certPem, b.certPem, 'an unreadable certificate is replaced');
});

const isCryptoError = (e: unknown) => e instanceof CryptoError;

test('malformed DER: every truncation, random corruption and deep nesting give CryptoError, never another error', () => {
  const der = certificateOf(made.get('p256')!.crt).der;
  for (let n = 0; n < der.length; n++) assert.throws(() => parseCertificate(der.subarray(0, n)), isCryptoError, `truncated to ${n}`);
  assert.throws(() => parseCertificate(Buffer.concat([der, Buffer.from([0])])), /bytes after the DER element/);
  for (let i = 0; i < 300; i++) {
    const bad = Buffer.from(der);
    for (let j = 0; j < 3; j++) bad[Math.floor(Math.random() * bad.length)] = randomBytes(1)[0]!;
    try { parseCertificate(bad); } catch (e) { assert.ok(isCryptoError(e), `corruption ${i}: ${e}`); }
    try { spkiIdentity(bad); } catch (e) { assert.ok(isCryptoError(e), `corruption ${i}: ${e}`); }
  }
  // 10,000 nested SEQUENCEs, all lengths right: refused by the depth bound, not by the call stack.
  let nest: Buffer = Buffer.from([0x05, 0x00]);
  for (let i = 0; i < 10_000; i++) {
    const l = nest.length;
    const len = l < 0x80 ? [l] : l < 0x100 ? [0x81, l] : l < 0x10000 ? [0x82, l >> 8, l & 255] : [0x83, l >> 16, (l >> 8) & 255, l & 255];
    nest = Buffer.concat([Buffer.from([0x30, ...len]), nest]);
  }
  assert.throws(() => parseCertificate(nest), /nested deeper than 32 levels/);
  assert.throws(() => parseCertificate(Buffer.from([0x30, 0x80, 0, 0])), /unsupported DER tag or length/);
  assert.throws(() => parseCertificate(Buffer.from([0x30, 0x84, 0xff, 0xff, 0xff, 0xff])), /claims 4294967295 bytes/);
  for (const k of [made.get('rsa2048')!.key, sh(['ec'], made.get('p384')!.key)]) {
    const d = pemDecode(k, 'k').der;
    for (let n = 0; n < d.length; n += 7) assert.throws(() => privateKeyIdentity(pemEncode(pemDecode(k, 'k').label, d.subarray(0, n))), isCryptoError);
  }
});

test('malformed PEM gives CryptoError naming the source', () => {
  const crt = made.get('rsa2048')!.crt;
  assert.throws(() => certificateOf('no pem here', 'the transport certificate'), /^CryptoError: the transport certificate: no PEM BEGIN line$|the transport certificate: no PEM BEGIN line/);
  assert.throws(() => certificateOf(crt.replace(/-----END CERTIFICATE-----/, ''), 'x'), /x: PEM block "CERTIFICATE" has no END line/);
  assert.throws(() => certificateOf(crt.replace(/\n([A-Za-z0-9+/]{10})/, '\n$1!'), 'x'), /not valid base64/);
  assert.throws(() => certificateOf(made.get('rsa2048')!.key, 'x'), /PEM block is "PRIVATE KEY", expected "CERTIFICATE"/);
  assert.throws(() => privateKeyIdentity(crt), /not an unencrypted private key/);
  assert.throws(() => privateKeyIdentity('-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n'), isCryptoError);
  assert.throws(() => privateKeyIdentity('-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nAAAA\n-----END RSA PRIVATE KEY-----\n'), /headers/);
  assert.throws(() => certificateOf('x'.repeat((1 << 20) + 1)), /larger than/);
});
