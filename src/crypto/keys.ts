// Public key identity: what decides that a private key belongs to a certificate. Compared as values,
// not as bytes, because encodings of the same key differ (RSA-PSS vs rsaEncryption algorithm
// identifiers, absent vs NULL parameters, compressed vs uncompressed EC points):
//   RSA  -> rsa:<n>:<e>            (PKCS#1 inside PKCS#8, or bare PKCS#1)
//   EC   -> ec:<curve>:<x>:<y parity> (SEC1, bare or inside PKCS#8, when it carries its public point)
//   else -> <algorithm OID>:<parameters>:<public key bytes>  (e.g. Ed25519 from a PKCS#8 v2 key)
// A private key whose public key is not embedded (EC without the point, Ed25519 v1, ...) cannot be
// resolved here without the curve arithmetic; keyIdentity() asks `openssl pkey -pubout` for it, with the
// key on stdin (never in argv or a file).
import { bitString, checkDer, fail, tlv, unsignedInt, type Tlv } from './der.ts';
import { toHex } from './digest.ts';
import { CryptoError } from './errors.ts';
import { pemDecode } from './pem.ts';
import type { OpenSsl } from './openssl.ts';
import { ExecError } from '../util/exec.ts';

const OID_RSA = '2a864886f70d010101'; // 1.2.840.113549.1.1.1 rsaEncryption
const OID_RSA_PSS = '2a864886f70d01010a'; // 1.2.840.113549.1.1.10 RSASSA-PSS
const OID_EC = '2a8648ce3d0201'; // 1.2.840.10045.2.1 id-ecPublicKey

const hexOf = (d: Uint8Array, t: Tlv, whole = false) => toHex(d.subarray(whole ? t.head : t.start, t.end));

/** EC point -> curve, x and the parity of y, which determine the point whichever form encodes it. */
function ecIdentity(curve: string, p: Uint8Array, what: string): string {
  const l = p.length;
  if (p[0] === 4 && l % 2 === 1 && l > 1) return `ec:${curve}:${toHex(p.subarray(1, 1 + (l - 1) / 2))}:${p[l - 1]! & 1}`;
  if ((p[0] === 2 || p[0] === 3) && l > 1) return `ec:${curve}:${toHex(p.subarray(1))}:${p[0] & 1}`;
  throw fail(what, 'malformed EC point');
}

/** AlgorithmIdentifier -> [OID hex, parameters element hex ('' when absent or NULL)]. */
function algorithm(d: Uint8Array, alg: Tlv, what: string): [string, string] {
  const oid = tlv(d, alg.start, alg.end, what, 0x06);
  const params = oid.end < alg.end ? tlv(d, oid.end, alg.end, what) : null;
  return [hexOf(d, oid), params && params.tag !== 0x05 ? hexOf(d, params, true) : ''];
}

/** RSAPublicKey ::= SEQUENCE { n, e }; RSAPrivateKey ::= SEQUENCE { version, n, e, ... } (PKCS#1). */
function rsa(d: Uint8Array, what: string, priv: boolean): string {
  const seq = checkDer(d, what, 0x30);
  let t = tlv(d, seq.start, seq.end, what, 0x02);
  if (priv) t = tlv(d, t.end, seq.end, what);
  const n = unsignedInt(d, t, `${what} RSA modulus`);
  return `rsa:${toHex(n)}:${toHex(unsignedInt(d, tlv(d, t.end, seq.end, what), `${what} RSA exponent`))}`;
}

/** SubjectPublicKeyInfo (DER) -> identity. */
export function spkiIdentity(spki: Uint8Array, what = 'public key'): string {
  const seq = checkDer(spki, what, 0x30);
  const alg = tlv(spki, seq.start, seq.end, what, 0x30);
  const [oid, params] = algorithm(spki, alg, what);
  const key = bitString(spki, tlv(spki, alg.end, seq.end, what), what);
  if (oid === OID_RSA || oid === OID_RSA_PSS) return rsa(key, what, false);
  if (oid === OID_EC) return ecIdentity(params, key, what);
  return `${oid}:${params}:${toHex(key)}`;
}

/** ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] parameters OPTIONAL, [1] publicKey OPTIONAL } (SEC1). */
function ecPrivate(d: Uint8Array, curve: string, what: string): string | null {
  const seq = checkDer(d, what, 0x30);
  let t = tlv(d, tlv(d, seq.start, seq.end, what, 0x02).end, seq.end, what, 0x04);
  let point: Uint8Array | null = null;
  while (t.end < seq.end) {
    t = tlv(d, t.end, seq.end, what);
    const inner = tlv(d, t.start, t.end, what);
    if (t.tag === 0xa0) curve = hexOf(d, inner, true);
    else if (t.tag === 0xa1) point = bitString(d, inner, `${what} public key`);
  }
  if (!curve) throw fail(what, 'EC private key names no curve');
  return point ? ecIdentity(curve, point, what) : null;
}

/** PrivateKeyInfo / OneAsymmetricKey (PKCS#8, RFC 5958), unencrypted. */
function pkcs8(d: Uint8Array, what: string): string | null {
  const seq = checkDer(d, what, 0x30);
  const alg = tlv(d, tlv(d, seq.start, seq.end, what, 0x02).end, seq.end, what, 0x30);
  const [oid, params] = algorithm(d, alg, what);
  let t = tlv(d, alg.end, seq.end, what, 0x04);
  const inner = d.subarray(t.start, t.end);
  if (oid === OID_RSA || oid === OID_RSA_PSS) return rsa(inner, what, true);
  if (oid === OID_EC) return ecPrivate(inner, params, what);
  while (t.end < seq.end) {
    t = tlv(d, t.end, seq.end, what);
    if (t.tag === 0x81) return `${oid}:${params}:${toHex(bitString(d, t, `${what} public key`, 0x81))}`; // [1] publicKey (v2)
  }
  return null;
}

/**
 * A private key in PEM ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY") -> its public key identity,
 * or null when the key does not carry enough to tell it without key arithmetic (or is in another
 * traditional format, such as "DSA PRIVATE KEY"). Throws CryptoError for anything malformed or of
 * another type.
 */
export function privateKeyIdentity(pem: string, what = 'private key'): string | null {
  const { label, der } = pemDecode(pem, what);
  if (label === 'RSA PRIVATE KEY') return rsa(der, what, true);
  if (label === 'EC PRIVATE KEY') return ecPrivate(der, '', what);
  if (label === 'PRIVATE KEY') return pkcs8(der, what);
  // Other traditional formats (DSA PRIVATE KEY, ...): openssl reads them.
  if (label.endsWith(' PRIVATE KEY') && !label.includes('ENCRYPTED')) return null;
  throw fail(what, `PEM block is "${label}", not an unencrypted private key`);
}

/** privateKeyIdentity(), else the public key from `openssl pkey -pubout` (key on stdin, never argv). */
export async function keyIdentity(ossl: OpenSsl, pem: string, what = 'private key'): Promise<string> {
  const id = privateKeyIdentity(pem, what);
  if (id !== null) return id;
  let out: string;
  try {
    out = (await ossl.run(['pkey', '-pubout'], { input: pem, secrets: [pem], timeoutMs: 30_000 })).stdout;
  } catch (e) {
    const why = e instanceof ExecError ? (e.result.stderr.trim().split('\n')[0] ?? '').slice(0, 200) : String(e);
    throw new CryptoError(`${what}: openssl could not derive its public key: ${why}`);
  }
  return spkiIdentity(pemDecode(out, `${what} (openssl pkey -pubout)`, ['PUBLIC KEY']).der, what);
}
