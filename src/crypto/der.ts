// A minimal DER reader and the part of X.509 the agent needs: the certificate's DER (its thumbprint),
// notAfter and SubjectPublicKeyInfo. Every TLV is checked against its enclosing length before anything
// is read from it; structure is walked with an explicit stack of bounded depth (no recursion), and every
// failure is a CryptoError naming what was malformed (never a RangeError or a silent misread).
// Tags used: 0x02 INTEGER, 0x03 BIT STRING, 0x04 OCTET STRING, 0x05 NULL, 0x06 OID, 0x17 UTCTime,
// 0x18 GeneralizedTime, 0x30 SEQUENCE, 0xa0/0xa1 context [0]/[1] constructed.
import { CryptoError } from './errors.ts';

/** Deeper than any certificate or key (X.509 names and extensions nest < 10); a bound against hostile input. */
export const MAX_DEPTH = 32;

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  head: number;
  /** Content [start, end). */
  start: number;
  end: number;
}

export const fail = (what: string, why: string) => new CryptoError(`${what}: ${why}`);

/** The TLV at `off`, which must lie entirely before `limit`; with `tag`, it must have that tag. */
export function tlv(d: Uint8Array, off: number, limit: number, what: string, tag?: number): Tlv {
  limit = Math.min(limit, d.length);
  if (off + 2 > limit) throw fail(what, `truncated DER at offset ${off}`);
  const t = d[off]!;
  let p = off + 1;
  let len = d[p++]!;
  if ((t & 0x1f) === 0x1f || len === 0x80 || len > 0x84) throw fail(what, `unsupported DER tag or length at offset ${off}`);
  if (len > 0x80) {
    const n = len - 0x80;
    if (p + n > limit) throw fail(what, `truncated DER at offset ${off}`);
    for (len = 0; p < off + 2 + n;) len = len * 256 + d[p++]!;
  }
  if (p + len > limit) throw fail(what, `DER element at offset ${off} claims ${len} bytes, ${limit - p} are left`);
  if (tag !== undefined && t !== tag) throw fail(what, `expected DER tag 0x${tag.toString(16)} at offset ${off}, found 0x${t.toString(16)}`);
  return { tag: t, head: off, start: p, end: p + len };
}

/**
 * Checks that `d` is exactly one DER element whose constructed parts consist exactly of elements, down
 * to MAX_DEPTH levels. Iterative: a stack of end offsets, so hostile nesting costs no call stack.
 */
export function checkDer(d: Uint8Array, what: string, tag: number): Tlv {
  const top = tlv(d, 0, d.length, what, tag);
  if (top.end !== d.length) throw fail(what, `${d.length - top.end} bytes after the DER element`);
  const ends = [d.length];
  for (let off = 0; ;) {
    while (off === ends[ends.length - 1]) if (ends.pop() === d.length) return top;
    const t = tlv(d, off, ends[ends.length - 1]!, what);
    off = t.end;
    if (t.tag & 0x20) {
      if (ends.length > MAX_DEPTH) throw fail(what, `DER nested deeper than ${MAX_DEPTH} levels`);
      ends.push(t.end);
      off = t.start;
    }
  }
}

/** Non-negative INTEGER content without leading zero bytes (key identities compare values). */
export function unsignedInt(d: Uint8Array, t: Tlv, what: string): Uint8Array {
  if (t.tag !== 0x02 || t.end === t.start || d[t.start]! & 0x80) throw fail(what, 'not a non-negative DER INTEGER');
  let s = t.start;
  while (s < t.end - 1 && d[s] === 0) s++;
  return d.subarray(s, t.end);
}

/** BIT STRING content without its unused-bits byte, which must be 0 (keys are whole bytes); tag 0x81 for [1] IMPLICIT. */
export function bitString(d: Uint8Array, t: Tlv, what: string, tag = 0x03): Uint8Array {
  if (t.tag !== tag || t.end === t.start || d[t.start] !== 0) throw fail(what, 'not a DER BIT STRING of whole bytes');
  return d.subarray(t.start + 1, t.end);
}

// ---------------------------------------------------------------------------------------------------
// X.509 (RFC 5280 §4.1)

export interface Certificate {
  /** The certificate's DER, exactly as given (its SHA-1 is the thumbprint). */
  der: Uint8Array;
  notAfter: Date;
  /** The SubjectPublicKeyInfo element (DER). */
  spki: Uint8Array;
}

/** Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signature }. */
export function parseCertificate(der: Uint8Array, what = 'certificate'): Certificate {
  const cert = checkDer(der, what, 0x30);
  const tbs = tlv(der, cert.start, cert.end, `${what} tbsCertificate`, 0x30);
  let t = tlv(der, tbs.start, tbs.end, `${what} version`);
  if (t.tag === 0xa0) t = tlv(der, t.end, tbs.end, `${what} serialNumber`);
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
  const fields: Tlv[] = [t];
  for (const [name, tag] of [['signature', 0x30], ['issuer', 0x30], ['validity', 0x30], ['subject', 0x30], ['subjectPublicKeyInfo', 0x30]] as const) {
    fields.push(tlv(der, fields[fields.length - 1]!.end, tbs.end, `${what} ${name}`, tag));
  }
  if (t.tag !== 0x02) throw fail(what, 'serialNumber is not an INTEGER');
  tlv(der, tbs.end, cert.end, `${what} signatureAlgorithm`, 0x30);
  const validity = fields[3]!;
  const notBefore = tlv(der, validity.start, validity.end, `${what} notBefore`);
  const notAfter = tlv(der, notBefore.end, validity.end, `${what} notAfter`);
  return { der, notAfter: parseTime(der, notAfter, `${what} notAfter`), spki: der.subarray(fields[5]!.head, fields[5]!.end) };
}

const TIME = /^(\d\d)??(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(\d\d)(?:\.\d{1,9})?Z$/;

/** UTCTime (YY >= 50 is 19YY, RFC 5280 §4.1.2.5.1) or GeneralizedTime, seconds resolution, UTC. */
export function parseTime(d: Uint8Array, t: Tlv, what: string): Date {
  const s = t.end - t.start <= 32 ? String.fromCharCode(...d.subarray(t.start, t.end)) : '';
  const m = TIME.exec(s);
  // UTCTime has a 2-digit year and no fraction (13 characters), GeneralizedTime a 4-digit year.
  if (!m || (t.tag === 0x17 ? s.length !== 13 : t.tag !== 0x18 || m[1] === undefined)) throw fail(what, 'not a DER UTCTime or GeneralizedTime');
  const n = m.slice(2, 8).map(Number) as [number, number, number, number, number, number];
  const year = m[1] !== undefined ? Number(m[1]) * 100 + n[0] : n[0] + (n[0] >= 50 ? 1900 : 2000);
  const date = new Date(Date.UTC(year, n[1] - 1, n[2], n[3], n[4], n[5]));
  if (date.getUTCMonth() !== n[1] - 1 || date.getUTCDate() !== n[2] || n[3] > 23 || n[4] > 59 || n[5] > 59) throw fail(what, `invalid date ${JSON.stringify(s)}`);
  return date;
}
