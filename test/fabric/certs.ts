// The fabric's key material, made with the real openssl: the tenant ("fabric") certificate that
// protected settings are encrypted to, and one self-signed certificate per SSH key that ovf-env
// names by thumbprint. Generated once and cached in workDir (one JSON file per key, written
// atomically and first writer wins, so parallel simulators sharing a cache never see half a pair
// nor disagree on a key).
import { X509Certificate, createHash, createPublicKey } from 'node:crypto';
import { linkSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { exec, execOk } from '../../src/util/exec.ts';
import { writeFileAtomic } from '../../src/util/atomic.ts';

export interface CertKey {
  certPem: string;
  keyPem: string;
  /** Uppercase hex SHA-1 of the certificate DER (what Azure calls the thumbprint). */
  thumbprint: string;
}

export interface SshKeyMaterial extends CertKey {
  id: string;
  /** `ssh-rsa AAAA… <id>` derived from the certificate's public key. */
  publicKey: string;
}

export interface KeyMaterial {
  fabric: CertKey;
  /** A certificate nobody else has: scenario certificates "wrongKey" envelopes to it. */
  decoy: CertKey;
  ssh: Map<string, SshKeyMaterial>;
}

export class CertError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertError';
  }
}

const OPENSSL = 'openssl';

export function thumbprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint.replace(/:/g, '').toUpperCase();
}

/** OpenSSH `ssh-rsa` public key line from an RSA key/cert in PEM (wire format built by hand: tiny and exact). */
export function opensshPublicKey(pem: string, comment: string): string {
  const jwk = createPublicKey(pem).export({ format: 'jwk' });
  if (jwk.kty !== 'RSA' || !jwk.n || !jwk.e) throw new CertError('only RSA keys are supported for SSH');
  const mpint = (b64u: string): Buffer => {
    let b = Buffer.from(b64u, 'base64url');
    if (b[0]! & 0x80) b = Buffer.concat([Buffer.from([0]), b]);
    return b;
  };
  const str = (b: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([str(Buffer.from('ssh-rsa')), str(mpint(jwk.e)), str(mpint(jwk.n))]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}

async function generateCertKey(tmp: string, cn: string): Promise<CertKey> {
  const key = join(tmp, 'k.pem');
  const crt = join(tmp, 'c.pem');
  await execOk([OPENSSL, 'req', '-x509', '-nodes', '-newkey', 'rsa:2048', '-days', '3650', '-subj', `/CN=${cn}`,
    '-keyout', key, '-out', crt], { timeoutMs: 60_000 });
  const certPem = readFileSync(crt, 'utf8');
  const keyPem = readFileSync(key, 'utf8');
  return { certPem, keyPem, thumbprint: thumbprintOf(certPem) };
}

function readCached(file: string): CertKey | undefined {
  try {
    const c = JSON.parse(readFileSync(file, 'utf8')) as CertKey;
    if (typeof c.certPem === 'string' && typeof c.keyPem === 'string' && thumbprintOf(c.certPem) === c.thumbprint) return c;
  } catch { /* absent or damaged */ }
  return undefined;
}

/**
 * `file` (JSON) in workDir, made by `generate` in a private temp dir on first use. First writer wins:
 * with a cold cache, simulators started at the same time (one renders ovf-env.xml for a box's DVD,
 * another answers that box) must all end up with the SAME material, not each their own with the last
 * rename winning. link() fails if the file appeared meanwhile; a damaged file is replaced.
 */
export async function cachedJson<T>(file: string, read: (file: string) => T | undefined, generate: (tmp: string) => Promise<T>): Promise<T> {
  const have = read(file);
  if (have) return have;
  const tmp = mkdtempSync(join(dirname(file), '.gen-'));
  try {
    const made = join(tmp, 'made.json');
    const value = await generate(tmp);
    writeFileAtomic(made, JSON.stringify(value), { mode: 0o600 });
    try {
      linkSync(made, file);
      return value;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const winner = read(file);
    if (winner) return winner;
    renameSync(made, file);
    return value;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

function cached(workDir: string, name: string, cn: string): Promise<CertKey> {
  return cachedJson(join(workDir, `${name}.json`), readCached, (tmp) => generateCertKey(tmp, cn));
}

export async function loadKeyMaterial(workDir: string, sshIds: string[]): Promise<KeyMaterial> {
  mkdirSync(workDir, { recursive: true, mode: 0o700 });
  const [fabric, decoy] = await Promise.all([
    cached(workDir, 'fabric-tenant-cert', 'Windows Azure CRP Certificate Generator'),
    cached(workDir, 'fabric-decoy-recipient', 'LinuxTransport'),
  ]);
  const ssh = new Map<string, SshKeyMaterial>();
  await Promise.all(sshIds.map(async (id) => {
    const c = await cached(workDir, `ssh-${id}`, `waagent-fabric-ssh-${id}`);
    ssh.set(id, { ...c, id, publicKey: opensshPublicKey(c.certPem, id) });
  }));
  return { fabric, decoy, ssh };
}

/** Maps the `x-ms-cipher-name` values agents send to openssl cms cipher options. */
export const CIPHERS: Record<string, string> = { AES128_CBC: '-aes128', DES_EDE3_CBC: '-des3' };

/** base64 wrapped at 64 columns, as Azure sends `Data` (OpenSSL's S/MIME reader rejects one long line). */
export function wrap64(b64: string): string {
  return b64.replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
}

/**
 * Certificates `Data`: a PFX (empty password, legacy 3DES/SHA-1 as Azure's) holding the tenant
 * certificate + key and the SSH thumbprint certificates without keys, enveloped (CMS, DER) to the
 * transport certificate. Returns the base64 text, wrapped.
 */
export async function certificatesData(workDir: string, km: KeyMaterial, thumbprintKeyIds: string[], transportB64: string,
  cipher: string, recipient: 'ski' | 'issuerSerial'): Promise<string> {
  const opt = CIPHERS[cipher];
  if (!opt) throw new CertError(`unsupported x-ms-cipher-name ${JSON.stringify(cipher.slice(0, 40))}`);
  const der = Buffer.from(transportB64, 'base64');
  let transport: X509Certificate;
  try {
    transport = new X509Certificate(der);
  } catch {
    throw new CertError('x-ms-guest-agent-public-x509-cert is not a base64 DER certificate');
  }
  const tmp = mkdtempSync(join(workDir, '.cms-'));
  try {
    const tp = join(tmp, 'transport.pem');
    writeFileSync(tp, transport.toString());
    writeFileSync(join(tmp, 'fabric.crt'), km.fabric.certPem);
    writeFileSync(join(tmp, 'fabric.key'), km.fabric.keyPem, { mode: 0o600 });
    // Only keys that ovf-env names by thumbprint travel here; inline keys are not certificates.
    const extra = thumbprintKeyIds.map((id) => km.ssh.get(id)?.certPem ?? '').join('');
    const args = [OPENSSL, 'pkcs12', '-export', '-passout', 'pass:', '-inkey', join(tmp, 'fabric.key'),
      '-in', join(tmp, 'fabric.crt'), '-keypbe', 'PBE-SHA1-3DES', '-certpbe', 'PBE-SHA1-3DES', '-macalg', 'sha1',
      '-out', join(tmp, 'certs.pfx')];
    if (extra) {
      writeFileSync(join(tmp, 'extra.pem'), extra);
      args.push('-certfile', join(tmp, 'extra.pem'));
    }
    await execOk(args, { timeoutMs: 30_000 });
    const cms = [OPENSSL, 'cms', '-encrypt', '-binary', '-outform', 'DER', '-in', join(tmp, 'certs.pfx'), opt,
      '-out', join(tmp, 'certs.p7m')];
    // Azure's own answer names the recipient by subjectKeyIdentifier (RecipientInfo v2); a
    // certificate without that extension cannot be named so, and gets issuer+serial instead.
    const useSki = recipient === 'ski' && (await exec([...cms, '-keyid', tp], { timeoutMs: 30_000 })).code === 0;
    if (!useSki) await execOk([...cms, tp], { timeoutMs: 30_000 });
    return wrap64(readFileSync(join(tmp, 'certs.p7m')).toString('base64'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** Protected settings as Azure sends them: base64 of a DER CMS envelope to the tenant certificate. */
export async function encryptToCert(certPem: string, plaintext: string | Buffer): Promise<string> {
  const tmp = mkdtempSync(join(tmpdir(), 'fabric-enc-'));
  try {
    writeFileSync(join(tmp, 'recip.pem'), certPem);
    writeFileSync(join(tmp, 'in'), plaintext, { mode: 0o600 });
    await execOk([OPENSSL, 'cms', '-encrypt', '-binary', '-outform', 'DER', '-aes256', '-in', join(tmp, 'in'),
      '-out', join(tmp, 'out'), join(tmp, 'recip.pem')], { timeoutMs: 30_000 });
    return readFileSync(join(tmp, 'out')).toString('base64');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function sha256Hex(s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex');
}
