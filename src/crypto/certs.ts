// Certificates for the Azure protocol: the transport pair the fabric encrypts to, CMS -> PFX -> PEM
// decryption (openssl), thumbprints (uppercase SHA-1 of the DER, as `openssl x509 -fingerprint` prints it
// without colons), key-to-certificate matching by public key, and certificate -> SSH public key (ssh-keygen).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { realRunner, ExecError, type Runner } from '../util/exec.ts';
import { OpenSsl, readBinary, withScratch, writePrivate } from './openssl.ts';
import { errorText } from '../util/errors.ts';
import { CryptoError } from './errors.ts';
import { parseCertificate, type Certificate } from './der.ts';
import { sha1, toHex } from './digest.ts';
import { keyIdentity, spkiIdentity } from './keys.ts';
import { pemDecode, pemEncode } from './pem.ts';

export { CryptoError };

// ---------------------------------------------------------------------------------------------------
// Transport certificate (docs/protocol.md §1.6.1)

export interface TransportPair {
  certPath: string;
  keyPath: string;
  certPem: string;
}

/**
 * Returns the transport pair at certPath/keyPath, generating it once (RSA-2048, CN=LinuxTransport, 730 days,
 * as the Python agent) when missing, unreadable, expired or when the key does not belong to the certificate.
 * Both files are 0600 and appear atomically (a crash never leaves a cert without its key).
 */
export async function ensureTransportPair(ossl: OpenSsl, certPath: string, keyPath: string, now = new Date()): Promise<TransportPair> {
  const existing = await readTransportPair(ossl, certPath, keyPath, now);
  if (existing) return existing;
  return generateTransportPair(ossl, certPath, keyPath);
}

async function readTransportPair(ossl: OpenSsl, certPath: string, keyPath: string, now: Date): Promise<TransportPair | null> {
  if (!existsSync(certPath) || !existsSync(keyPath)) return null;
  try {
    const certPem = readFileSync(certPath, 'utf8');
    const cert = certificateOf(certPem, 'the transport certificate');
    // Renew a day before expiry: a cert that expires mid-request would make the fabric refuse it.
    if (cert.notAfter.getTime() - now.getTime() < 86_400_000) return null;
    const keyId = await keyIdentity(ossl, readFileSync(keyPath, 'utf8'), 'the transport key');
    if (keyId !== spkiIdentity(cert.spki, 'the transport certificate')) return null;
    return { certPath, keyPath, certPem };
  } catch {
    return null;
  }
}

export async function generateTransportPair(ossl: OpenSsl, certPath: string, keyPath: string): Promise<TransportPair> {
  return withScratch(async (dir) => {
    const k = join(dir, 'key.pem');
    const c = join(dir, 'cert.pem');
    await ossl.run(['req', '-x509', '-nodes', '-subj', '/CN=LinuxTransport', '-days', '730', '-newkey', 'rsa:2048', '-keyout', k, '-out', c]);
    const certPem = readFileSync(c, 'utf8');
    // Key first: a cert on disk always has its key.
    writeFileAtomic(keyPath, readFileSync(k), { mode: 0o600 });
    writeFileAtomic(certPath, certPem, { mode: 0o600 });
    return { certPath, keyPath, certPem };
  }, dirname(keyPath));
}

/** x-ms-guest-agent-public-x509-cert: the PEM body (base64 DER) without the ---- lines, on one line. */
export function transportCertHeader(certPem: string): string {
  return certPem.split(/\r?\n/).filter((l) => !l.includes('----')).map((l) => l.trim()).join('');
}

// ---------------------------------------------------------------------------------------------------
// CMS and PKCS#12

/** Decrypts a DER CMS EnvelopedData addressed to the given cert/key (SKI or issuer+serial recipients). */
export async function decryptCms(ossl: OpenSsl, der: Uint8Array, certPath: string, keyPath: string, scratchParent?: string): Promise<Buffer> {
  return withScratch(async (dir) => {
    const inp = join(dir, 'in.der');
    const out = join(dir, 'out.bin');
    writePrivate(inp, der);
    try {
      await ossl.run(['cms', '-decrypt', '-inform', 'DER', '-in', inp, '-out', out, '-inkey', keyPath, '-recip', certPath]);
    } catch (e) {
      throw new CryptoError(`CMS decryption failed: ${firstLine(e)}`);
    }
    return readBinary(out);
  }, scratchParent);
}

/**
 * PFX (empty password) -> PEM text with certificates and unencrypted keys. Tries `-nomacver` first (Windows-made
 * "no password" PFX MACs may not verify), then without it (as the Python agent), then `-legacy` for old PBEs
 * (RC2-40) that OpenSSL 3 refuses by default.
 */
export async function pfxToPem(ossl: OpenSsl, pfx: Uint8Array, scratchParent?: string): Promise<string> {
  return withScratch(async (dir) => {
    const inp = join(dir, 'in.pfx');
    writePrivate(inp, pfx);
    const base = ['pkcs12', '-nodes', '-password', 'pass:', '-in', inp];
    let last: unknown;
    for (const extra of [['-nomacver'], [], ['-legacy', '-nomacver']]) {
      try {
        const r = await ossl.run([...base, ...extra], { maxOutput: 8 << 20 });
        if (r.stdout.includes('-----BEGIN')) return r.stdout;
        last = new Error('no PEM blocks in the output');
      } catch (e) {
        last = e;
      }
    }
    throw new CryptoError(`PKCS#12 conversion failed: ${firstLine(last)}`);
  }, scratchParent);
}

function firstLine(e: unknown): string {
  const m = e instanceof ExecError ? (e.result.stderr.trim().split('\n')[0] ?? e.message) : errorText(e);
  return m.slice(0, 300);
}

// ---------------------------------------------------------------------------------------------------
// PEM handling

export interface PemBlocks {
  certs: string[];
  keys: string[];
}

/** Splits PEM text into certificate and private-key blocks (Bag Attributes and other text dropped). */
export function splitPem(text: string): PemBlocks {
  const out: PemBlocks = { certs: [], keys: [] };
  const re = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;
  for (const m of text.matchAll(re)) {
    const kind = m[1]!;
    const block = m[0] + '\n';
    if (kind === 'CERTIFICATE') out.certs.push(block);
    else if (/PRIVATE KEY$/.test(kind) && !kind.includes('ENCRYPTED')) out.keys.push(block);
  }
  return out;
}

/** The first CERTIFICATE block of PEM text, parsed (CryptoError naming `what` when it is not one). */
export function certificateOf(certPem: string, what = 'certificate'): Certificate {
  return parseCertificate(pemDecode(certPem, what, ['CERTIFICATE']).der, what);
}

function thumbprintOf(cert: Certificate): string {
  return toHex(sha1(cert.der)).toUpperCase();
}

/** Uppercase hex SHA-1 of the certificate DER. */
export function thumbprint(certPem: string): string {
  return thumbprintOf(certificateOf(certPem));
}

export interface CertWithKey {
  thumbprint: string;
  certPem: string;
  /** The private key whose public key equals the certificate's, if the PFX had one. */
  keyPem?: string;
}

/**
 * Pairs keys with certificates by public key identity (src/crypto/keys.ts). Unmatched keys are returned
 * separately (the caller warns). `ossl` derives the public key of a key that does not carry it.
 */
export async function matchKeys(blocks: PemBlocks, ossl: OpenSsl): Promise<{ items: CertWithKey[]; unmatchedKeys: number }> {
  const keySpki = new Map<string, string>();
  let bad = 0;
  for (const k of blocks.keys) {
    try {
      keySpki.set(await keyIdentity(ossl, k), k);
    } catch {
      bad++;
    }
  }
  const used = new Set<string>();
  const seen = new Set<string>();
  const items: CertWithKey[] = [];
  for (const c of blocks.certs) {
    let x: Certificate;
    let spki: string;
    try {
      x = certificateOf(c);
      spki = spkiIdentity(x.spki);
    } catch { throw new CryptoError('a certificate in the PFX could not be parsed'); }
    const tp = thumbprintOf(x);
    if (seen.has(tp)) continue;
    seen.add(tp);
    const item: CertWithKey = { thumbprint: tp, certPem: c };
    const k = keySpki.get(spki);
    if (k) { item.keyPem = k; used.add(spki); }
    items.push(item);
  }
  return { items, unmatchedKeys: bad + [...keySpki.keys()].filter((s) => !used.has(s)).length };
}

/** The certificate's public key as an SSH public key line ("ssh-rsa AAAA..."), via ssh-keygen -i -m PKCS8. */
export async function sshPublicKeyFromCert(certPem: string, runner: Runner = realRunner, sshKeygen = 'ssh-keygen'): Promise<string> {
  const spkiPem = pemEncode('PUBLIC KEY', certificateOf(certPem).spki);
  return withScratch(async (dir) => {
    const f = join(dir, 'pub.pem');
    writePrivate(f, spkiPem);
    const r = await runner.run([sshKeygen, '-i', '-m', 'PKCS8', '-f', f], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new CryptoError(`ssh-keygen could not convert the public key: ${r.stderr.trim().slice(0, 200)}`);
    const line = r.stdout.trim().split('\n')[0] ?? '';
    if (!/^(ssh-|ecdsa-)/.test(line)) throw new CryptoError('ssh-keygen gave no SSH public key');
    return line;
  });
}
