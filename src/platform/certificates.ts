// The Certificates document (docs/protocol.md §1.6.3–1.6.4) -> <THUMBPRINT>.crt / .prv in Lib.Dir.
// Everything is decrypted in a private scratch directory and only then written, file by file, atomically:
// a blob that does not decrypt leaves the certificates of the previous goal state untouched.
import { join } from 'node:path';
import type { CertificateSummary } from './types.ts';
import { CertificateError, DocumentError } from './errors.ts';
import { expectRoot, firstText, parseDoc } from './xmldoc.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/logger.ts';
import { CryptoError, decryptCms, matchKeys, pfxToPem, splitPem, type TransportPair } from '../crypto/certs.ts';
import type { OpenSsl } from '../crypto/openssl.ts';
import { errorText } from '../util/errors.ts';

export const PFX_FORMAT = 'Pkcs7BlobWithPfxContents';

export interface CertificatesDocument {
  incarnation: string;
  format: string;
  /** DER of the CMS envelope; null = "no certificates" (no Data element, or another Format). */
  cms: Buffer | null;
}

export function parseCertificatesXml(text: string): CertificatesDocument {
  const doc = 'Certificates';
  const root = parseDoc(text, doc, 8 << 20);
  expectRoot(root, doc, 'CertificateFile');
  const format = firstText(root, 'Format') ?? '';
  const data = firstText(root, 'Data');
  const incarnation = firstText(root, 'Incarnation') ?? '';
  if (data === undefined || data === '' || (format !== '' && format !== PFX_FORMAT)) return { incarnation, format, cms: null };
  const compact = data.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) throw new DocumentError(doc, 'Data is not base64', 'Data');
  return { incarnation, format, cms: Buffer.from(compact, 'base64') };
}

export function certPath(libDir: string, thumbprint: string): string {
  return join(libDir, `${thumbprint}.crt`);
}

export function keyPath(libDir: string, thumbprint: string): string {
  return join(libDir, `${thumbprint}.prv`);
}

/**
 * Decrypts the document with the transport pair and writes each certificate and key. Returns the summary.
 * Modes: 0400 for .crt and .prv (what the Python agent sets at every handler start; extensions run as root).
 */
export async function installCertificates(ossl: OpenSsl, libDir: string, xmlText: string, pair: TransportPair): Promise<CertificateSummary[]> {
  const parsed = parseCertificatesXml(xmlText);
  if (!parsed.cms) {
    if (parsed.format) log.info(`Certificates: format '${parsed.format}' carries no certificates`);
    return [];
  }
  let pem: string;
  try {
    const pfx = await decryptCms(ossl, parsed.cms, pair.certPath, pair.keyPath, libDir);
    pem = await pfxToPem(ossl, pfx, libDir);
  } catch (e) {
    throw new CertificateError(e instanceof CryptoError ? e.message : `decryption failed: ${errorText(e)}`);
  }
  let matched;
  try {
    matched = await matchKeys(splitPem(pem), ossl);
  } catch (e) {
    throw new CertificateError(errorText(e));
  }
  if (matched.unmatchedKeys) log.warn(`Certificates: ${matched.unmatchedKeys} private key(s) match no certificate and were not saved`);
  for (const it of matched.items) {
    // Key first, so that a certificate on disk with hasPrivateKey always has its key next to it.
    if (it.keyPem) writeFileAtomic(keyPath(libDir, it.thumbprint), it.keyPem, { mode: 0o400 });
    writeFileAtomic(certPath(libDir, it.thumbprint), it.certPem, { mode: 0o400 });
  }
  // Only encrypted content: kept for tools that read it, like the Python agent does.
  writeFileAtomic(join(libDir, 'Certificates.xml'), xmlText, { mode: 0o600 });
  return matched.items.map((i) => ({ thumbprint: i.thumbprint, hasPrivateKey: !!i.keyPem }));
}
