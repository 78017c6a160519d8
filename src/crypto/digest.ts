// SHA-1 and SHA-256 (FIPS 180-4) in plain JavaScript. The daemon needs digests for certificate
// thumbprints, SSH host key fingerprints and the CustomData marker, and loading node:crypto for them
// would keep ~3 MiB of RSS resident for the life of the process. Written for V8's interpreter and
// baseline compiler (the binary runs with --no-opt): int32 arithmetic only, one message schedule per
// algorithm reused for every block, blocks read straight from the input, only the final one or two
// blocks (padding) copied. Linear in the input; allocation is constant per call.

// SHA-256's constants are the first 32 bits of the fractional parts of the square roots (H0) and cube
// roots (K) of the first 8 and 64 primes (FIPS 180-4 §4.2.2, §5.3.3), computed once instead of carried
// as 72 literals; doubles hold 50+ fraction bits here, and the known-answer tests pin the result.
const K256 = new Int32Array(64);
const IV256: number[] = [];
for (let n = 2, i = 0; i < 64; n++) {
  let prime = true;
  for (let f = 2; f * f <= n; f++) if (n % f === 0) prime = false;
  if (!prime) continue;
  if (i < 8) IV256.push((Math.sqrt(n) % 1) * 0x100000000 | 0);
  K256[i++] = (Math.cbrt(n) % 1) * 0x100000000 | 0;
}
const IV1 = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0];

// The message schedule, shared: the functions below never yield, so no two calls interleave.
const W = new Int32Array(80);

function block256(h: Int32Array, d: Uint8Array, off: number): void {
  const w = W;
  for (let i = 0; i < 16; i++, off += 4) w[i] = (d[off]! << 24) | (d[off + 1]! << 16) | (d[off + 2]! << 8) | d[off + 3]!;
  for (let i = 16; i < 64; i++) {
    const x = w[i - 15]!;
    const y = w[i - 2]!;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[i] = (w[i - 16]! + s0 + w[i - 7]! + s1) | 0;
  }
  let a = h[0]!, b = h[1]!, c = h[2]!, e = h[4]!, f = h[5]!, g = h[6]!, k = h[7]!, dd = h[3]!;
  for (let i = 0; i < 64; i++) {
    const s1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const t1 = (k + s1 + ((e & f) ^ (~e & g)) + K256[i]! + w[i]!) | 0;
    const s0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const t2 = (s0 + ((a & b) ^ (a & c) ^ (b & c))) | 0;
    k = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
  }
  h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + b) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + dd) | 0;
  h[4] = (h[4]! + e) | 0; h[5] = (h[5]! + f) | 0; h[6] = (h[6]! + g) | 0; h[7] = (h[7]! + k) | 0;
}

function block1(h: Int32Array, d: Uint8Array, off: number): void {
  const w = W;
  for (let i = 0; i < 16; i++, off += 4) w[i] = (d[off]! << 24) | (d[off + 1]! << 16) | (d[off + 2]! << 8) | d[off + 3]!;
  for (let i = 16; i < 80; i++) {
    const x = w[i - 3]! ^ w[i - 8]! ^ w[i - 14]! ^ w[i - 16]!;
    w[i] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!, b = h[1]!, c = h[2]!, dd = h[3]!, e = h[4]!;
  for (let i = 0; i < 80; i++) {
    let f: number, k: number;
    if (i < 20) { f = (b & c) | (~b & dd); k = 0x5a827999; }
    else if (i < 40) { f = b ^ c ^ dd; k = 0x6ed9eba1; }
    else if (i < 60) { f = (b & c) | (b & dd) | (c & dd); k = 0x8f1bbcdc | 0; }
    else { f = b ^ c ^ dd; k = 0xca62c1d6 | 0; }
    const t = (((a << 5) | (a >>> 27)) + f + e + k + w[i]!) | 0;
    e = dd; dd = c; c = (b << 30) | (b >>> 2); b = a; a = t;
  }
  h[0] = (h[0]! + a) | 0; h[1] = (h[1]! + b) | 0; h[2] = (h[2]! + c) | 0; h[3] = (h[3]! + dd) | 0; h[4] = (h[4]! + e) | 0;
}

/** Merkle-Damgård over 64-byte blocks with the big-endian 64-bit bit length, as both algorithms pad. */
function run(iv: number[], block: (h: Int32Array, d: Uint8Array, off: number) => void, data: Uint8Array): Uint8Array {
  const h = new Int32Array(iv);
  const n = data.length;
  const rest = n % 64;
  const full = n - rest;
  for (let off = 0; off < full; off += 64) block(h, data, off);
  const tail = new Uint8Array(rest < 56 ? 64 : 128);
  tail.set(data.subarray(full));
  tail[rest] = 0x80;
  const end = tail.length;
  const hi = Math.floor(n / 0x20000000);
  const lo = (n * 8) >>> 0;
  tail[end - 8] = hi >>> 24; tail[end - 7] = hi >>> 16; tail[end - 6] = hi >>> 8; tail[end - 5] = hi;
  tail[end - 4] = lo >>> 24; tail[end - 3] = lo >>> 16; tail[end - 2] = lo >>> 8; tail[end - 1] = lo;
  for (let off = 0; off < end; off += 64) block(h, tail, off);
  const out = new Uint8Array(h.length * 4);
  for (let i = 0; i < h.length; i++) {
    const v = h[i]!;
    out[i * 4] = v >>> 24; out[i * 4 + 1] = v >>> 16; out[i * 4 + 2] = v >>> 8; out[i * 4 + 3] = v;
  }
  return out;
}

/** SHA-1 (certificate thumbprints only: not for anything that must resist collisions). */
export function sha1(data: Uint8Array): Uint8Array {
  return run(IV1, block1, data);
}

export function sha256(data: Uint8Array): Uint8Array {
  return run(IV256, block256, data);
}

const HEX = '0123456789abcdef';

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]! >>> 4]! + HEX[bytes[i]! & 15]!;
  return s;
}
