// RemoteAccess (JIT users, docs/protocol.md §1.9): the document and its passwords, which are CMS envelopes to
// the transport certificate holding UTF-16 text. The OS side (creating the accounts) is a feature's job.
import { DocumentError } from './errors.ts';
import { all, expectRoot, firstText, parseDoc } from './xmldoc.ts';
import { decryptCms, type TransportPair } from '../crypto/certs.ts';
import type { OpenSsl } from '../crypto/openssl.ts';
import { addSecret } from '../util/logger.ts';

export interface RemoteAccessUser {
  name: string;
  /** base64 CMS; SECRET once decrypted. */
  encryptedPassword: string;
  /** As sent (e.g. 2019-01-01); the account expires one day after it. */
  expiration: string;
  groups: string[];
}

export interface RemoteAccessDocument {
  incarnation: string;
  users: RemoteAccessUser[];
}

export function parseRemoteAccess(text: string): RemoteAccessDocument {
  const doc = 'RemoteAccess';
  const root = parseDoc(text, doc);
  expectRoot(root, doc, 'RemoteAccess');
  const users = all(root, 'User').map((u, i) => {
    const name = firstText(u, 'Name') ?? '';
    if (!name) throw new DocumentError(doc, `User #${i + 1} has no Name`, 'Users/User/Name');
    return {
      name,
      encryptedPassword: (firstText(u, 'Password') ?? '').replace(/\s+/g, ''),
      expiration: firstText(u, 'Expiration') ?? '',
      groups: all(u, 'GroupName').map((g) => g.text.trim()).filter(Boolean),
    };
  });
  return { incarnation: firstText(root, 'Incarnation') ?? '', users };
}

/** Decrypts one password (UTF-16LE inside the envelope). The value is registered as a secret for the logger. */
export async function decryptRemoteAccessPassword(ossl: OpenSsl, encrypted: string, pair: TransportPair, scratchParent?: string): Promise<string> {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encrypted)) throw new DocumentError('RemoteAccess', 'Password is not base64', 'Password');
  const plain = await decryptCms(ossl, Buffer.from(encrypted, 'base64'), pair.certPath, pair.keyPath, scratchParent);
  const hasBom = plain.length >= 2 && plain[0] === 0xff && plain[1] === 0xfe;
  const text = plain.subarray(hasBom ? 2 : 0).toString('utf16le');
  addSecret(text);
  return text;
}
