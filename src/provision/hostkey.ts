// The SSH host key thumbprint for roleProperties (docs/protocol.md §1.11): what `ssh-keygen -lf <pub>`
// prints as the fingerprint, colons removed (`SHA256<base64>`). Computed in-process — the SHA-256 of
// the key blob, unpadded base64, exactly OpenSSH's definition — which saves a process start on the
// way to Ready.
import { sha256 } from '../crypto/digest.ts';
import { lstatSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';
import { parseOpensshPublicKey, SshKeyError } from '../crypto/sshkeygen.ts';
import { errorText } from '../util/errors.ts';

export function hostKeyPubPath(sshDir: string, type: string): string {
  return posix.join(sshDir, `ssh_host_${type === 'auto' ? 'rsa' : type}_key.pub`);
}

export function thumbprintOfLine(line: string): string {
  const k = parseOpensshPublicKey(line, { acceptAllKeyTypes: true });
  return 'SHA256' + Buffer.from(sha256(Buffer.from(k.blob, 'base64'))).toString('base64').replace(/=+$/, '');
}

/** Throws SshKeyError when the key of that type is missing or not an OpenSSH public key. */
export function hostKeyThumbprint(root: Sysroot, sshDir: string, type: string): string {
  const inner = hostKeyPubPath(sshDir, type);
  let text: string;
  try {
    const host = root.resolve(inner);
    if (lstatSync(host).size > 64 * 1024) throw new Error('larger than 64 KiB');
    text = readFileSync(host, 'utf8');
  } catch (e) {
    throw new SshKeyError(`${inner}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : errorText(e)}`);
  }
  return thumbprintOfLine(text.trim().split('\n')[0] ?? '');
}
