// Salts from /dev/urandom without node:crypto (src/crypto/random.ts): right alphabet and length, no
// visible bias (rejection sampling), and the constant-time comparison.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { constantTimeEqual, secureRandomBytes, secureRandomString } from '../../src/crypto/random.ts';
import { makeSalt } from '../../src/crypto/password.ts';

test('random: bytes of the asked length, salts over [A-Za-z0-9] of the asked length', () => {
  assert.equal(secureRandomBytes(0).length, 0);
  assert.equal(secureRandomBytes(100_000).length, 100_000);
  assert.notDeepEqual(secureRandomBytes(32), secureRandomBytes(32));
  for (const n of [1, 8, 10, 16]) assert.match(makeSalt(n), new RegExp(`^[A-Za-z0-9]{${n}}$`));
  assert.throws(() => secureRandomString('', 3), /alphabet/);
});

test('random: uniform over a 62-character alphabet (no modulo bias)', () => {
  // 62 does not divide 256: without rejection the first 8 characters would come 5/4 as often as the rest.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const counts = new Map<string, number>();
  const s = secureRandomString(alphabet, 124_000);
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  assert.equal(counts.size, 62);
  // Expected 2000 each, sd ~44: a biased character would sit near 2500.
  for (const [ch, n] of counts) assert.ok(n > 1700 && n < 2300, `${ch}: ${n}`);
});

test('constantTimeEqual', () => {
  const a = new TextEncoder().encode('$6$salt$hash');
  assert.equal(constantTimeEqual(a, a.slice()), true);
  assert.equal(constantTimeEqual(a, a.subarray(1)), false);
  const b = a.slice(); b[b.length - 1]! ^= 1;
  assert.equal(constantTimeEqual(a, b), false);
  assert.equal(constantTimeEqual(new Uint8Array(0), new Uint8Array(0)), true);
});
