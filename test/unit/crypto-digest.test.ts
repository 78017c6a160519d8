// The plain-JS SHA-1 and SHA-256 (src/crypto/digest.ts) against node:crypto (tests may load it; src may not).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { sha1, sha256, toHex } from '../../src/crypto/digest.ts';

const ref = (alg: string, b: Uint8Array) => createHash(alg).update(b).digest('hex');

test('digest: known answers (FIPS 180 examples)', () => {
  const abc = new TextEncoder().encode('abc');
  assert.equal(toHex(sha1(abc)), 'a9993e364706816aba3e25717850c26c9cd0d89d');
  assert.equal(toHex(sha256(abc)), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(toHex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
});

test('digest: every length 0..300 (all padding cases) equals node:crypto, also on a subarray view', () => {
  const buf = randomBytes(320);
  for (let n = 0; n <= 300; n++) {
    const view = buf.subarray(7, 7 + n);
    assert.equal(toHex(sha1(view)), ref('sha1', view), `sha1 of ${n} bytes`);
    assert.equal(toHex(sha256(view)), ref('sha256', view), `sha256 of ${n} bytes`);
  }
});

test('digest: a few MiB (random, and all 0xff bytes) equal node:crypto', () => {
  for (const b of [randomBytes(3 * 1024 * 1024 + 17), new Uint8Array(1024 * 1024 + 55).fill(0xff)]) {
    assert.equal(toHex(sha1(b)), ref('sha1', b));
    assert.equal(toHex(sha256(b)), ref('sha256', b));
  }
});
