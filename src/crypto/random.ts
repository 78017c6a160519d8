// Cryptographically secure random bytes without node:crypto (which would stay resident, ~3 MiB, for the
// daemon's life): the kernel's CSPRNG through /dev/urandom, read with node:fs. This is the running
// kernel's device, not a file of the target root, so it is not a Sysroot path. /dev/urandom never blocks
// once the pool is initialised at boot, which happens long before the agent starts.
import { closeSync, openSync, readSync } from 'node:fs';
import { CryptoError } from './errors.ts';

const URANDOM = '/dev/urandom';

export function secureRandomBytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (n === 0) return out;
  let fd: number;
  try { fd = openSync(URANDOM, 'r'); } catch (e) { throw new CryptoError(`${URANDOM} cannot be opened: ${(e as NodeJS.ErrnoException).code ?? e}`); }
  try {
    let got = 0;
    // Bounded: a read from /dev/urandom returns at least 1 byte or fails; 32 short reads are plenty.
    for (let tries = 0; got < n; tries++) {
      if (tries >= 32) throw new CryptoError(`${URANDOM} returned too little data`);
      const r = readSync(fd, out, got, n - got, null);
      if (r <= 0) throw new CryptoError(`${URANDOM} returned no data`);
      got += r;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/**
 * `length` characters drawn uniformly from `alphabet` (at most 256 characters): bytes at or above the
 * largest multiple of the alphabet size are rejected, so no character is more likely than another.
 */
export function secureRandomString(alphabet: string, length: number): string {
  const size = alphabet.length;
  if (size < 1 || size > 256) throw new CryptoError('secureRandomString: alphabet must have 1..256 characters');
  const limit = 256 - (256 % size);
  let s = '';
  // Each round draws enough for the rest with a margin; with size >= 2 a byte is accepted with
  // probability > 1/2, so 64 rounds failing to fill the string has probability far below 2^-64.
  for (let round = 0; s.length < length; round++) {
    if (round >= 64) throw new CryptoError('secureRandomString: the random source looks broken');
    const need = length - s.length;
    const bytes = secureRandomBytes(need * 2 + 8);
    for (let i = 0; i < bytes.length && s.length < length; i++) if (bytes[i]! < limit) s += alphabet[bytes[i]! % size];
  }
  return s;
}

/** Equal length and content, in time that depends only on the length (no early exit on a difference). */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
