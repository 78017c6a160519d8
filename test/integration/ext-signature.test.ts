// Package signature validation (WALinuxAgent 2.15 signature_validation_util.py) with the real openssl: a
// package signed by a test root verifies, a tampered package, a garbage signature and a signature from
// another root do not; signingInfo rules and messages; the OpenSSL >= 1.1.0 gate; the package_validated
// record; the test-only root seam is ignored outside a lo-only network namespace; and the gate's
// enforce/warn split (policy signatureRequired blocks, otherwise the package is used as 2.15 does).
// 2.15's tests/ga/test_signature_validation*.py cases covered here: validate successfully; signature does
// not match / package tampered; incorrect signing certificate; missing signing certificate; get openssl
// version; unsupported when the version cannot be read; expired certificates still validate (its sudo
// tests move the clock; here the signer is issued expired); manifest valid, case mismatch, type /
// publisher / version mismatch, no signingInfo, no signingInfo.type. (Its "expired at signing time" cases
// are skipped in 2.15 itself: timestamp validation does not exist yet.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { MICROSOFT_ROOT_2011_PEM, MICROSOFT_ROOT_2011_SHA256 } from '../../src/crypto/msroot.ts';
import { X509Certificate } from 'node:crypto';
import { HandlerLayout } from '../../src/extensions/layout.ts';
import type { HandlerManifest } from '../../src/extensions/manifest.ts';
import {
  isValidated, PackageValidationError, ROOT_CERT_FILE, saveValidated, SignatureValidator, testRootOverride, TEST_ROOT_ENV, validateSigningInfo,
} from '../../src/extensions/signature.ts';
import { ExtensionGate } from '../../src/extensions/policy/gate.ts';
import { PolicyBlockedError } from '../../src/extensions/policy/messages.ts';
import type { ExtensionHandler } from '../../src/platform/types.ts';
import type { ExecResult, Runner } from '../../src/util/exec.ts';
import { loadSigningMaterial, signPackage, type SigningMaterial } from '../fabric/signing.ts';
import { execOk, ExecError } from '../../src/util/exec.ts';

let d = '';
let m: SigningMaterial;
let other: SigningMaterial;
let rootFile = '';
const PKG = Buffer.from('PK\u0003\u0004 pretend this is a package zip');

before(async () => {
  d = mkdtempSync(join(tmpdir(), 'ext-sig-'));
  m = await loadSigningMaterial(join(d, 'keys'));
  other = await loadSigningMaterial(join(d, 'other-keys'));
  rootFile = join(d, 'root.pem');
  writeFileSync(rootFile, m.rootCertPem);
});
after(() => { rmSync(d, { recursive: true, force: true }); });

function validator(extra: Partial<ConstructorParameters<typeof SignatureValidator>[0]> = {}): SignatureValidator {
  const lib = join(d, 'lib');
  mkdirSync(lib, { recursive: true });
  return new SignatureValidator({ enabled: true, openssl: new OpenSsl('openssl'), libDir: lib, caFile: rootFile, ...extra });
}

function pkgFile(data: Uint8Array = PKG): string {
  const p = join(d, `pkg-${Math.random().toString(36).slice(2)}.zip`);
  writeFileSync(p, data);
  return p;
}

test('a package signed by the trusted root verifies; no signature file is left behind', async () => {
  const sig = await signPackage(PKG, m, d);
  const v = validator();
  await v.verifyPackage(pkgFile(), sig, 'Pub.Ext-1.0.0');
  assert.deepEqual(readdirSync(v.o.libDir).filter((n) => n.includes('signature')), []);
});

test('tampered package: SignatureValidationError with 2.15 message shape (return code, openssl details)', async () => {
  const sig = await signPackage(PKG, m, d);
  const tampered = Buffer.concat([PKG, Buffer.from('x')]);
  await assert.rejects(validator().verifyPackage(pkgFile(tampered), sig, 'Pub.Ext-1.0.0'), (e: Error) => {
    assert.ok(e instanceof PackageValidationError);
    assert.equal(e.code, 1007);
    assert.equal(e.operation, 'PackageSignatureResult');
    assert.match(e.message, /^\[SignatureValidationError\] Signature validation failed for package 'Pub.Ext-1.0.0'. \nReturn code: \d+\nError details:\n/);
    return true;
  });
});

test('a signature chaining to another root is rejected; so is Microsoft\'s root for our test signature', async () => {
  const sig = await signPackage(PKG, other, d);
  await assert.rejects(validator().verifyPackage(pkgFile(), sig, 'Pub.Ext-1.0.0'), PackageValidationError);
  const good = await signPackage(PKG, m, d);
  const ms = validator({ caFile: undefined });
  await assert.rejects(ms.verifyPackage(pkgFile(), good, 'Pub.Ext-1.0.0'), PackageValidationError);
  // Microsoft's root was written to Lib.Dir for the check.
  assert.equal(readFileSync(join(ms.o.libDir, ROOT_CERT_FILE), 'utf8'), MICROSOFT_ROOT_2011_PEM);
});

test('garbage and empty signatures are rejected without running into an exception', async () => {
  await assert.rejects(validator().verifyPackage(pkgFile(), Buffer.from('nope').toString('base64'), 'P.E-1'), (e: Error) => e instanceof PackageValidationError && /Return code/.test(e.message));
  await assert.rejects(validator().verifyPackage(pkgFile(), '', 'P.E-1'), (e: Error) => e instanceof PackageValidationError
    && e.message === "[SignatureValidationError] Signature validation failed for package 'P.E-1'. Error: the signature is empty or not base64" && e.operation === 'SignatureValidation');
});

test('no time check (2.15: -no_check_time): a signer certificate that expired years ago still verifies', async () => {
  // 2.15 tests this by moving the system clock; here the signer is issued already expired (openssl ca).
  const ca = mkdtempSync(join(d, 'ca-'));
  const p = (n: string) => join(ca, n);
  // The simulator's cached material keeps no root key: a separate root for this case.
  await execOk(['openssl', 'req', '-x509', '-nodes', '-newkey', 'rsa:2048', '-days', '3650', '-subj', '/CN=expiry test root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', p('root.key'), '-out', p('root.pem')]);
  await execOk(['openssl', 'req', '-nodes', '-newkey', 'rsa:2048', '-subj', '/CN=expired signer', '-keyout', p('s.key'), '-out', p('s.csr')]);
  writeFileSync(p('index.txt'), '');
  writeFileSync(p('ca.cnf'), `[ca]\ndefault_ca=c\n[c]\ndatabase=${p('index.txt')}\nnew_certs_dir=${ca}\nserial=${p('serial')}\ndefault_md=sha256\npolicy=pol\nunique_subject=no\n[pol]\ncommonName=supplied\n[ext]\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n`);
  writeFileSync(p('serial'), '1000\n');
  await execOk(['openssl', 'ca', '-batch', '-config', p('ca.cnf'), '-cert', p('root.pem'), '-keyfile', p('root.key'), '-in', p('s.csr'), '-out', p('s.pem'),
    '-startdate', '20150101000000Z', '-enddate', '20160101000000Z', '-extensions', 'ext', '-notext']);
  writeFileSync(p('pkg.zip'), PKG);
  await execOk(['openssl', 'cms', '-sign', '-binary', '-md', 'sha256', '-in', p('pkg.zip'), '-signer', p('s.pem'), '-inkey', p('s.key'), '-outform', 'DER', '-out', p('sig.der')]);
  const sig = readFileSync(p('sig.der')).toString('base64');
  // Without -no_check_time openssl refuses it: the case is real.
  await assert.rejects(execOk(['openssl', 'cms', '-verify', '-binary', '-inform', 'der', '-in', p('sig.der'), '-content', p('pkg.zip'), '-purpose', 'any', '-CAfile', p('root.pem'), '-out', '/dev/null']), ExecError);
  await validator({ caFile: p('root.pem') }).verifyPackage(pkgFile(), sig, 'Pub.Ext-1.0.0');
});

test('missing trust anchor: SignatureValidationError naming the missing file', async () => {
  const sig = await signPackage(PKG, m, d);
  await assert.rejects(validator({ caFile: join(d, 'missing_root_cert.pem') }).verifyPackage(pkgFile(), sig, 'P.E-1'), (e: Error) => e instanceof PackageValidationError && e.message.includes('signing certificate was not found'));
});

test('the Microsoft root carried in the binary is Microsoft Root Certificate Authority 2011 with the published fingerprint', () => {
  const c = new X509Certificate(MICROSOFT_ROOT_2011_PEM);
  assert.equal(c.fingerprint256.replace(/:/g, ''), MICROSOFT_ROOT_2011_SHA256);
  assert.match(c.subject, /CN=Microsoft Root Certificate Authority 2011/);
  assert.equal(c.ca, true);
});

function fakeOpenssl(versionOut: string): { o: OpenSsl; calls: string[][] } {
  const calls: string[][] = [];
  const runner: Runner = {
    async run(argv) {
      calls.push(argv);
      const r: ExecResult = { argv, code: 0, signal: null, stdout: versionOut, stderr: '', timedOut: false, truncated: false, durationMs: 1 };
      return r;
    },
  };
  return { o: new OpenSsl('openssl', runner), calls };
}

test('openssl version parsed as 2.15 does (its test_should_get_openssl_version cases); a failing command means unsupported', async () => {
  for (const [out, v] of [['OpenSSL version: OpenSSL 3.0.13 30 Jan 2024 (Library: OpenSSL 3.0.13 30 Jan 2024)', '3.0.13'], ['OpenSSL version: OpenSSL 1.1.1f  31 Mar 2020', '1.1.1'],
    ['OpenSSL version: OpenSSL 1.0.2zi-fips  1 Aug 2023', '1.0.2'], ['OpenSSL 1.1.1  1 Aug 2023', '1.1.1'], ['some junk output', '0.0.0']] as const) {
    assert.equal(await validator({ openssl: fakeOpenssl(out).o }).opensslVersion(), v, out);
  }
  const failing: Runner = { async run(argv) { return { argv, code: 1, signal: null, stdout: '', stderr: 'error', timedOut: false, truncated: false, durationMs: 1 }; } };
  assert.equal(await validator({ openssl: new OpenSsl('openssl', failing) }).opensslSupported(), false);
});

test('openssl gate: >= 1.1.0 supported (letters and fips suffixes ignored), older or unparsable not; asked once', async () => {
  for (const [out, ok] of [['OpenSSL 3.0.19 27 Jan 2026', true], ['OpenSSL 1.1.1f  31 Mar 2020', true], ['OpenSSL 1.1.1wa-fips', true], ['OpenSSL 1.1.0', true],
    ['OpenSSL 1.0.2k-fips  26 Jan 2017', false], ['LibreSSL 3.3.6', false]] as const) {
    const f = fakeOpenssl(out);
    const v = validator({ openssl: f.o });
    assert.equal(await v.opensslSupported(), ok, out);
    await v.opensslSupported();
    assert.equal(f.calls.length, 1);
  }
});

const manifest = (si: HandlerManifest['signingInfo']): HandlerManifest => ({
  commands: { install: 'i', uninstall: 'u', update: 'up', enable: 'e', disable: 'd' } as HandlerManifest['commands'],
  reportHeartbeat: false, updateWithInstall: false, continueOnUpdateFailure: false, supportsMultipleExtensions: false,
  resourceLimits: {} as HandlerManifest['resourceLimits'], signingInfo: si, warnings: [],
});

test('signingInfo: publisher/type/version must match, case-insensitively, with 2.15 messages', () => {
  validateSigningInfo(manifest({ type: 'customscript', publisher: 'MICROSOFT.Azure.Extensions', version: '2.1.6' }), 'Microsoft.Azure.Extensions.CustomScript', '2.1.6');
  const fails: Array<[HandlerManifest['signingInfo'], string]> = [
    [undefined, "[ManifestValidationError] HandlerManifest.json does not contain 'signingInfo'"],
    [{ publisher: 'Microsoft.Azure.Extensions', version: '2.1.6' }, "[ManifestValidationError] HandlerManifest.json does not contain attribute 'signingInfo.type'"],
    [{ type: 'Other', publisher: 'Microsoft.Azure.Extensions', version: '2.1.6' }, "[ManifestValidationError] expected extension type 'CustomScript' does not match downloaded package type 'Other'"],
    [{ type: 'CustomScript', publisher: 'Evil.Corp', version: '2.1.6' }, "[ManifestValidationError] expected extension publisher 'Microsoft.Azure.Extensions' does not match downloaded package publisher 'Evil.Corp'"],
    [{ type: 'CustomScript', publisher: 'Microsoft.Azure.Extensions', version: '2.1.5' }, "[ManifestValidationError] expected extension version '2.1.6' does not match downloaded package version '2.1.5'"],
  ];
  for (const [si, msg] of fails) {
    assert.throws(() => validateSigningInfo(manifest(si), 'Microsoft.Azure.Extensions.CustomScript', '2.1.6'), (e: Error) => e instanceof PackageValidationError && e.message === msg, msg);
  }
});

test('package_validated record: written 0600 beside the handler, a symlink does not count', () => {
  const roots = { libDir: join(d, 'rec'), extLogDir: join(d, 'log') };
  const layout = new HandlerLayout(roots, 'Pub.Ext', '1.0.0');
  mkdirSync(layout.dir, { recursive: true });
  assert.equal(isValidated(layout), false);
  saveValidated(layout);
  assert.equal(isValidated(layout), true);
  assert.equal(statSync(layout.packageValidatedPath).mode & 0o777, 0o600);
  rmSync(layout.packageValidatedPath);
  symlinkSync(join(d, 'keys', 'signing-root.json'), layout.packageValidatedPath);
  assert.equal(isValidated(layout), false);
});

test('test-only root seam: honoured only in a network namespace with lo alone, never on a machine with a NIC', () => {
  const nets = join(d, 'net');
  mkdirSync(join(nets, 'lo'), { recursive: true });
  const env = { [TEST_ROOT_ENV]: '/x/root.pem' };
  assert.equal(testRootOverride(env, nets), '/x/root.pem');
  mkdirSync(join(nets, 'eth0'));
  assert.equal(testRootOverride(env, nets), null);
  assert.equal(testRootOverride({}, nets), null);
  assert.equal(testRootOverride(env, join(d, 'no-sysfs')), null);
});

// ---- the gate: enforce vs warn ------------------------------------------------------------------

function handler(sig: string): ExtensionHandler {
  return { name: 'Pub.Ext', version: '1.0.0', state: 'enabled', manifestUris: [], encodedSignature: sig, isMultiConfig: false, settings: [], useExactVersion: true, autoUpgrade: false };
}

async function gateCase(opts: { sigRequired: boolean; tamper: boolean; signingInfo?: HandlerManifest['signingInfo'] }) {
  const base = mkdtempSync(join(d, 'gate-'));
  const roots = { libDir: join(base, 'lib'), extLogDir: join(base, 'log') };
  mkdirSync(roots.libDir, { recursive: true });
  const policy = join(base, 'policy.json');
  writeFileSync(policy, JSON.stringify({ policyVersion: '0.1.0', extensionPolicies: { signatureRequired: opts.sigRequired } }));
  const gate = new ExtensionGate({
    policy: { enabled: true, path: policy, displayPath: '/etc/waagent_policy.json' },
    signature: { enabled: true, openssl: new OpenSsl('openssl'), libDir: roots.libDir, caFile: rootFile },
  });
  gate.begin();
  const layout = new HandlerLayout(roots, 'Pub.Ext', '1.0.0');
  const sig = await signPackage(PKG, m, d);
  writeFileSync(layout.zipPath, opts.tamper ? Buffer.concat([PKG, Buffer.from('!')]) : PKG);
  let extracted = 0;
  const run = gate.extract(handler(sig), layout, () => {
    extracted++;
    mkdirSync(layout.dir, { recursive: true });
    return manifest(opts.signingInfo ?? { type: 'Ext', publisher: 'Pub', version: '1.0.0' });
  });
  return { gate, layout, run, extracted: () => extracted };
}

test('gate: a valid signature and signingInfo are recorded as validated', async () => {
  const c = await gateCase({ sigRequired: true, tamper: false });
  await c.run;
  assert.equal(c.extracted(), 1);
  assert.equal(isValidated(c.layout), true);
});

test('gate: signatureRequired + tampered package -> blocked with 1007, never extracted, zip removed', async () => {
  const c = await gateCase({ sigRequired: true, tamper: true });
  await assert.rejects(c.run, (e: Error) => e instanceof PolicyBlockedError && e.code === 1007 && e.message.startsWith('[SignatureValidationError] Signature validation failed'));
  assert.equal(c.extracted(), 0);
  assert.equal(existsSync(c.layout.zipPath), false);
});

test('gate: signature not required -> a tampered package is only warned about and used (2.15), not recorded', async () => {
  const c = await gateCase({ sigRequired: false, tamper: true });
  await c.run;
  assert.equal(c.extracted(), 1);
  assert.equal(isValidated(c.layout), false);
});

test('gate: signatureRequired + signingInfo of another extension -> blocked after extraction, not recorded', async () => {
  const c = await gateCase({ sigRequired: true, tamper: false, signingInfo: { type: 'Ext', publisher: 'Other', version: '1.0.0' } });
  await assert.rejects(c.run, (e: Error) => e instanceof PolicyBlockedError && /expected extension publisher 'Pub'/.test(e.message));
  assert.equal(isValidated(c.layout), false);
});

test('gate: signatureRequired and no signature -> signatureMissing before anything; installed and never validated -> same', () => {
  const base = mkdtempSync(join(d, 'gate2-'));
  const policy = join(base, 'policy.json');
  writeFileSync(policy, JSON.stringify({ policyVersion: '0.1.0', extensionPolicies: { signatureRequired: true } }));
  const gate = new ExtensionGate({ policy: { enabled: true, path: policy, displayPath: '/p.json' } });
  gate.begin();
  const layout = new HandlerLayout({ libDir: base, extLogDir: base }, 'Pub.Ext', '1.0.0');
  assert.throws(() => gate.requireSignature(handler(''), layout, true), (e: Error) => e instanceof PolicyBlockedError && e.operation === 'ExtensionSignaturePolicy' && e.code === 1009);
  gate.requireSignature(handler('c2ln'), layout, true);
  assert.throws(() => gate.requireSignature(handler('c2ln'), layout, false), PolicyBlockedError);
  mkdirSync(layout.dir, { recursive: true });
  saveValidated(layout);
  gate.requireSignature(handler(''), layout, false);
});

test('gate: both features off -> extract is called straight through, no openssl, no policy read', async () => {
  const gate = new ExtensionGate({ policy: { enabled: false, path: '/nonexistent', displayPath: '/nonexistent' }, signature: { enabled: false, openssl: fakeOpenssl('').o, libDir: d } });
  gate.begin();
  assert.equal(gate.admit(handler('x')), null);
  let n = 0;
  const layout = new HandlerLayout({ libDir: d, extLogDir: d }, 'Pub.Ext', '1.0.0');
  await gate.extract(handler('c2ln'), layout, () => { n++; return manifest(undefined); });
  assert.equal(n, 1);
});
