// PEM text <-> DER bytes (RFC 7468): one `-----BEGIN <label>-----` ... `-----END <label>-----` block,
// strict base64 in between. Bounded: the text and the label have size limits and every pattern is linear.
import { CryptoError } from './errors.ts';

/** Larger than any certificate chain or key the agent handles; a bound, not a tuning knob. */
export const MAX_PEM_CHARS = 1 << 20;

export interface PemBlock {
  label: string;
  der: Uint8Array;
}

const BEGIN = /-----BEGIN ([A-Z0-9 ]{1,40})-----/;

/**
 * The first PEM block of `text`. `what` names the source in errors ("the transport certificate").
 * With `labels`, a block of another type is an error. Legacy encrypted PEM (Proc-Type headers) is refused.
 */
export function pemDecode(text: string, what: string, labels?: readonly string[]): PemBlock {
  if (text.length > MAX_PEM_CHARS) throw new CryptoError(`${what}: PEM text is larger than ${MAX_PEM_CHARS} characters`);
  const m = BEGIN.exec(text);
  if (!m) throw new CryptoError(`${what}: no PEM BEGIN line`);
  const label = m[1]!;
  if (labels && !labels.includes(label)) throw new CryptoError(`${what}: PEM block is "${label}", expected ${labels.map((l) => `"${l}"`).join(' or ')}`);
  const bodyStart = m.index + m[0].length;
  const endLine = `-----END ${label}-----`;
  const end = text.indexOf(endLine, bodyStart);
  if (end < 0) throw new CryptoError(`${what}: PEM block "${label}" has no END line`);
  const body = text.slice(bodyStart, end);
  if (body.includes(':')) throw new CryptoError(`${what}: PEM block "${label}" has headers (legacy encrypted PEM is not supported)`);
  const b64 = body.replace(/[ \t\r\n]+/g, '');
  if (b64.length === 0 || b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new CryptoError(`${what}: PEM block "${label}" is not valid base64`);
  }
  const buf = Buffer.from(b64, 'base64');
  return { label, der: new Uint8Array(buf.buffer, buf.byteOffset, buf.length) };
}

/** DER -> PEM with 64-character lines and a final newline. */
export function pemEncode(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der.buffer, der.byteOffset, der.length).toString('base64');
  let out = `-----BEGIN ${label}-----\n`;
  for (let i = 0; i < b64.length; i += 64) out += b64.slice(i, i + 64) + '\n';
  return out + `-----END ${label}-----\n`;
}
