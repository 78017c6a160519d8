// The simulator's package signing: a throw-away test root CA and a signing certificate issued by it
// (made with the real openssl on first use, cached in the fabric's workDir like its other keys, first
// writer wins), and detached CMS signatures of package zips — the shape of Azure's `encodedSignature`
// (base64 DER), which agents check with `openssl cms -verify`. The root is NOT Microsoft's: the agent
// trusts it only through its test-only seam (WAAGENT_SEA_TEST_SIGNING_ROOT, honoured only inside the box).
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execOk } from '../../src/util/exec.ts';
import { cachedJson } from './certs.ts';

export interface SigningMaterial {
  rootCertPem: string;
  signerCertPem: string;
  signerKeyPem: string;
}

const OPENSSL = 'openssl';

async function generate(tmp: string): Promise<SigningMaterial> {
  const p = (n: string) => join(tmp, n);
  await execOk([OPENSSL, 'req', '-x509', '-nodes', '-newkey', 'rsa:2048', '-days', '3650', '-subj', '/CN=waagent-sea fabric test signing root',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', p('root.key'), '-out', p('root.pem')], { timeoutMs: 60_000 });
  await execOk([OPENSSL, 'req', '-nodes', '-newkey', 'rsa:2048', '-subj', '/CN=waagent-sea fabric test package signer', '-keyout', p('signer.key'), '-out', p('signer.csr')], { timeoutMs: 60_000 });
  writeFileSync(p('ext.cnf'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n');
  await execOk([OPENSSL, 'x509', '-req', '-in', p('signer.csr'), '-CA', p('root.pem'), '-CAkey', p('root.key'), '-set_serial', '2', '-days', '3650',
    '-extfile', p('ext.cnf'), '-out', p('signer.pem')], { timeoutMs: 60_000 });
  return { rootCertPem: readFileSync(p('root.pem'), 'utf8'), signerCertPem: readFileSync(p('signer.pem'), 'utf8'), signerKeyPem: readFileSync(p('signer.key'), 'utf8') };
}

function readCached(file: string): SigningMaterial | undefined {
  try {
    const m = JSON.parse(readFileSync(file, 'utf8')) as SigningMaterial;
    if (typeof m.rootCertPem === 'string' && typeof m.signerCertPem === 'string' && typeof m.signerKeyPem === 'string') return m;
  } catch { /* absent or damaged */ }
  return undefined;
}

/** The test root and signer (cached as `signing-root.json` in workDir). */
export async function loadSigningMaterial(workDir: string): Promise<SigningMaterial> {
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  return cachedJson(join(workDir, 'signing-root.json'), readCached, generate);
}

/** base64 of a detached DER CMS signature of `data` by the test signer. */
export async function signPackage(data: Uint8Array, m: SigningMaterial, scratchParent: string): Promise<string> {
  const tmp = mkdtempSync(join(scratchParent, '.sig-'));
  try {
    const p = (n: string) => join(tmp, n);
    writeFileSync(p('pkg.zip'), data);
    writeFileSync(p('signer.pem'), m.signerCertPem);
    writeFileSync(p('signer.key'), m.signerKeyPem, { mode: 0o600 });
    await execOk([OPENSSL, 'cms', '-sign', '-binary', '-md', 'sha256', '-in', p('pkg.zip'), '-signer', p('signer.pem'), '-inkey', p('signer.key'),
      '-outform', 'DER', '-out', p('sig.der')], { timeoutMs: 60_000 });
    return readFileSync(p('sig.der')).toString('base64');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
