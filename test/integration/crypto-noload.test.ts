// The certificate path (transport pair reuse, Certificates -> .crt/.prv, thumbprints, SSH keys from
// certificates), password salts and hashes, and the host key thumbprint, run in a fresh `node` process:
// afterwards node:crypto must not be in its process.moduleLoadList (it would stay resident, +3.3 MiB).
// A control run that loads node:crypto shows the check can fail.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';

const SRC = join(import.meta.dirname, '../../src');
const sh = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

function child(dir: string, control: boolean): { summary: { thumbprint: string; hasPrivateKey: boolean }[]; ssh: string; hash: string; hostkey: string; crypto: string[] } {
  const script = join(dir, control ? 'control.ts' : 'run.ts');
  writeFileSync(script, `
import { ensureTransportPair, thumbprint, sshPublicKeyFromCert } from ${JSON.stringify(join(SRC, 'crypto/certs.ts'))};
import { OpenSsl } from ${JSON.stringify(join(SRC, 'crypto/openssl.ts'))};
import { installCertificates } from ${JSON.stringify(join(SRC, 'platform/certificates.ts'))};
import { opensshFromCertificate } from ${JSON.stringify(join(SRC, 'crypto/sshkeygen.ts'))};
import { hashPassword, verifyPassword } from ${JSON.stringify(join(SRC, 'crypto/password.ts'))};
import { thumbprintOfLine } from ${JSON.stringify(join(SRC, 'provision/hostkey.ts'))};
import { realRunner } from ${JSON.stringify(join(SRC, 'util/exec.ts'))};
import { readFileSync } from 'node:fs';
const lib = ${JSON.stringify(join(dir, 'lib'))};
const ossl = new OpenSsl('openssl');
const pair = await ensureTransportPair(ossl, lib + '/TransportCert.pem', lib + '/TransportPrivate.pem');
if (pair.certPem !== readFileSync(${JSON.stringify(join(dir, 'transport.crt'))}, 'utf8')) throw new Error('the transport pair was not reused');
const summary = await installCertificates(ossl, lib, readFileSync(${JSON.stringify(join(dir, 'Certificates.xml'))}, 'utf8'), pair);
for (const s of summary) if (thumbprint(readFileSync(lib + '/' + s.thumbprint + '.crt', 'utf8')) !== s.thumbprint) throw new Error('thumbprint');
const crt = readFileSync(lib + '/' + summary[0].thumbprint + '.crt', 'utf8');
const ssh = await sshPublicKeyFromCert(crt);
if ((await opensshFromCertificate(realRunner, crt)) !== ssh) throw new Error('ssh keys differ');
const hash = await hashPassword(realRunner, 'Passw0rd!', { openssl: 'openssl' });
if (!(await verifyPassword(realRunner, 'Passw0rd!', hash, { openssl: 'openssl' }))) throw new Error('verify');
const hostkey = thumbprintOfLine(ssh);
${control ? "process.getBuiltinModule('node:crypto').createHash('sha1');" : ''}
console.log(JSON.stringify({ summary, ssh, hash, hostkey, crypto: process.moduleLoadList.filter((m) => /crypto/i.test(m)) }));
`);
  return JSON.parse(execFileSync(process.execPath, [script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }));
}

test('the certificate path, salts and digests never load node:crypto (checked in a child process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'crypto-noload-'));
  try {
    const lib = join(dir, 'lib');
    mkdirSync(lib, { mode: 0o700 });
    // The transport pair exists (the child must read and check it), and Certificates.xml is encrypted to it:
    // an RSA tenant with its key, and an EC certificate alone.
    sh(['req', '-x509', '-nodes', '-subj', '/CN=LinuxTransport', '-days', '30', '-newkey', 'rsa:2048', '-keyout', join(lib, 'TransportPrivate.pem'), '-out', join(lib, 'TransportCert.pem')]);
    writeFileSync(join(dir, 'transport.crt'), readFileSync(join(lib, 'TransportCert.pem')));
    sh(['req', '-x509', '-nodes', '-subj', '/CN=t', '-days', '30', '-newkey', 'rsa:2048', '-keyout', join(dir, 't.key'), '-out', join(dir, 't.crt')]);
    sh(['req', '-x509', '-nodes', '-subj', '/CN=e', '-days', '30', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-keyout', join(dir, 'e.key'), '-out', join(dir, 'e.crt')]);
    sh(['pkcs12', '-export', '-passout', 'pass:', '-inkey', join(dir, 't.key'), '-in', join(dir, 't.crt'), '-certfile', join(dir, 'e.crt'), '-out', join(dir, 'b.pfx')]);
    const cms = sh(['cms', '-encrypt', '-binary', '-in', join(dir, 'b.pfx'), '-outform', 'DER', '-aes128', join(lib, 'TransportCert.pem')]);
    writeFileSync(join(dir, 'Certificates.xml'), `<CertificateFile><Incarnation>1</Incarnation><Format>Pkcs7BlobWithPfxContents</Format><Data>${cms.toString('base64')}</Data></CertificateFile>`);

    const r = child(dir, false);
    assert.deepEqual(r.summary.map((s) => s.hasPrivateKey).sort(), [false, true]);
    assert.match(r.ssh, /^ssh-rsa AAAA/);
    assert.match(r.hash, /^\$6\$[A-Za-z0-9]{10}\$/);
    assert.match(r.hostkey, /^SHA256[A-Za-z0-9+/]{43}$/);
    assert.deepEqual(r.crypto, [], 'node:crypto was loaded');
    const c = child(dir, true);
    assert.ok(c.crypto.includes('NativeModule crypto'), 'the control run shows node:crypto');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
