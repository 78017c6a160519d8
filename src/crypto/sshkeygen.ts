// ssh-keygen wrappers: key generation, fingerprints, public keys from private keys and from
// PKCS#8/SPKI PEM, plus a strict parser of OpenSSH public key lines. Paths are host paths.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Runner } from '../util/exec.ts';
import { AgentError, errorText } from '../util/errors.ts';
import { parseCertificate } from './der.ts';
import { pemDecode, pemEncode } from './pem.ts';

export class SshKeyError extends AgentError {
  static override readonly errorName: string = 'SshKeyError';
}

export const HOST_KEY_TYPES = ['rsa', 'dsa', 'ecdsa', 'ed25519'] as const;
export type SshKeyType = (typeof HOST_KEY_TYPES)[number];

export function isSshKeyType(t: string): t is SshKeyType {
  return (HOST_KEY_TYPES as readonly string[]).includes(t);
}

const ssh = (bin?: string) => bin ?? 'ssh-keygen';

/** `ssh-keygen -q -N '' -t <type> -f <path>`: unencrypted pair at path / path.pub (ssh-keygen's modes). */
export async function generateKeyPair(runner: Runner, path: string, type: SshKeyType, opts: { comment?: string; bin?: string } = {}): Promise<void> {
  const argv = [ssh(opts.bin), '-q', '-N', '', '-t', type, '-f', path];
  if (opts.comment !== undefined) argv.push('-C', opts.comment);
  const r = await runner.run(argv, { timeoutMs: 120_000, input: '' });
  if (r.code !== 0) throw new SshKeyError(`ssh-keygen -t ${type} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
}

export interface Fingerprint {
  bits: number;
  /** As printed, e.g. `SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s`. */
  hash: string;
  comment: string;
  /** e.g. `RSA`, `ED25519`. */
  type: string;
}

export function parseFingerprintLine(line: string): Fingerprint {
  const m = /^(\d+)\s+(\S+)\s+(.*?)\s*\(([A-Z0-9-]+)\)\s*$/.exec(line.trim());
  if (!m) throw new SshKeyError(`unexpected ssh-keygen -l output: ${JSON.stringify(line.slice(0, 200))}`);
  return { bits: Number(m[1]), hash: m[2]!, comment: m[3]!, type: m[4]! };
}

/** `ssh-keygen -lf <pub>`. */
export async function fingerprint(runner: Runner, pubPath: string, opts: { bin?: string } = {}): Promise<Fingerprint> {
  const r = await runner.run([ssh(opts.bin), '-l', '-f', pubPath], { timeoutMs: 30_000 });
  if (r.code !== 0) throw new SshKeyError(`ssh-keygen -l failed for ${pubPath} (exit ${r.code}): ${(r.stdout + r.stderr).trim().slice(0, 300)}`);
  return parseFingerprintLine(r.stdout.split('\n')[0] ?? '');
}

/**
 * The form the Python agent computes for roleProperties' CertificateThumbprint (docs/protocol.md §1.11,
 * docs/os.md §4.12): the fingerprint's second field with the colons removed, e.g. `SHA256uNiVz...`.
 */
export function thumbprintOf(fp: Fingerprint): string {
  return fp.hash.replace(/:/g, '');
}

/** `ssh-keygen -y -P '' -f <private>`: the OpenSSH public key line of a private key file. */
export async function publicKeyFromPrivate(runner: Runner, privPath: string, opts: { bin?: string } = {}): Promise<string> {
  const r = await runner.run([ssh(opts.bin), '-y', '-P', '', '-f', privPath], { timeoutMs: 30_000, input: '' });
  if (r.code !== 0) throw new SshKeyError(`ssh-keygen -y failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  const line = r.stdout.trim().split('\n')[0] ?? '';
  parseOpensshPublicKey(line, { acceptAllKeyTypes: true });
  return line;
}

/** `ssh-keygen -i -m PKCS8`: a PEM public key (SubjectPublicKeyInfo, from `openssl x509 -pubkey`) to OpenSSH. */
export async function opensshFromPkcs8(runner: Runner, pem: string, opts: { bin?: string } = {}): Promise<string> {
  if (!/-----BEGIN PUBLIC KEY-----[\s\S]+-----END PUBLIC KEY-----/.test(pem)) throw new SshKeyError('not a PEM public key');
  // ssh-keygen -i needs a file: /dev/stdin fails when stdin is a socket (as Node's pipes are).
  const dir = mkdtempSync(join(tmpdir(), 'waagent-pk-'));
  let r;
  try {
    const f = join(dir, 'key.pem');
    writeFileSync(f, pem, { mode: 0o600 });
    r = await runner.run([ssh(opts.bin), '-i', '-m', 'PKCS8', '-f', f], { timeoutMs: 30_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (r.code !== 0) throw new SshKeyError(`ssh-keygen -i -m PKCS8 failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  const line = r.stdout.trim().split('\n')[0] ?? '';
  parseOpensshPublicKey(line, { acceptAllKeyTypes: true });
  return line;
}

/** The blob is a sequence of SSH strings (uint32 length + bytes) that must fill it exactly. */
function sshStrings(raw: Buffer): Buffer[] | null {
  const out: Buffer[] = [];
  let off = 0;
  while (off < raw.length) {
    if (off + 4 > raw.length || out.length >= 16) return null;
    const n = raw.readUInt32BE(off);
    if (off + 4 + n > raw.length) return null;
    out.push(raw.subarray(off + 4, off + 4 + n));
    off += 4 + n;
  }
  return out;
}

/**
 * OpenSSH public key of an X.509 certificate (`<Lib.Dir>/<FP>.crt`, a PublicKey given by Fingerprint,
 * docs/os.md §4.14 step 5): the DER reader extracts the SubjectPublicKeyInfo (what `openssl x509 -pubkey` prints),
 * ssh-keygen converts it as upstream does.
 */
export async function opensshFromCertificate(runner: Runner, certPem: string, opts: { bin?: string } = {}): Promise<string> {
  let spki: string;
  try {
    spki = pemEncode('PUBLIC KEY', parseCertificate(pemDecode(certPem, 'certificate', ['CERTIFICATE']).der).spki);
  } catch (e) {
    throw new SshKeyError(`not a usable X.509 certificate: ${errorText(e)}`);
  }
  return opensshFromPkcs8(runner, spki, opts);
}

export interface ParsedPublicKey {
  type: string;
  /** base64 of the key blob, as in the line. */
  blob: string;
  comment: string;
}

const KNOWN_TYPES = new Set([
  'ssh-rsa', 'ssh-dss', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
]);

/**
 * One OpenSSH public key line `<type> <base64> [comment]`, checked: single line, known type, valid
 * base64 whose embedded type string equals the declared one. Without acceptAllKeyTypes only `ssh-*`
 * types pass, as upstream (docs/os.md §4.14 step 4; the checklist keeps others opt-in).
 */
export function parseOpensshPublicKey(line: string, opts: { acceptAllKeyTypes?: boolean } = {}): ParsedPublicKey {
  const bad = (why: string) => new SshKeyError(`Bad public key: ${why}: ${JSON.stringify(line.slice(0, 40))}${line.length > 40 ? '…' : ''}`);
  if (typeof line !== 'string') throw new SshKeyError('Bad public key: not a string');
  const text = line.trim();
  if (text.length > 16384) throw bad('longer than 16 KiB');
  if (/[\r\n\0]/.test(text)) throw bad('more than one line');
  const [type, blob, ...rest] = text.split(/[ \t]+/);
  if (!type || !blob) throw bad('expected "<type> <base64> [comment]"');
  if (!KNOWN_TYPES.has(type)) throw bad(`unknown key type ${JSON.stringify(type.slice(0, 40))}`);
  if (!opts.acceptAllKeyTypes && !type.startsWith('ssh-')) throw bad(`key type ${type} is not enabled`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) throw bad('key data is not base64');
  const fields = sshStrings(Buffer.from(blob, 'base64'));
  if (!fields || fields.length < 2 || fields[0]!.toString('latin1') !== type) throw bad('key data does not match its type');
  if (type === 'ssh-ed25519' && fields[1]!.length !== 32) throw bad('ed25519 key data has the wrong length');
  return { type, blob, comment: rest.join(' ') };
}
