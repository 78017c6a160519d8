import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { hashPassword, verifyPassword, makeSalt, PasswordError, MAX_PASSWORD_LENGTH } from '../../src/crypto/password.ts';
import { realRunner, RecordingRunner } from '../../src/util/exec.ts';
import { redact } from '../../src/util/logger.ts';

// Independent check: glibc crypt(3) through the system Python (not the tool that made the hash).
function glibcCrypt(password: string, setting: string): string {
  return execFileSync('/usr/bin/python3', ['-W', 'ignore', '-c',
    'import crypt,sys; print(crypt.crypt(sys.stdin.read(), sys.argv[1]))', setting], { input: password }).toString().trim();
}

test('SHA-512 hash (default) verifies with glibc crypt', async () => {
  const pw = 'Correct horse battery staple! äö';
  const h = await hashPassword(realRunner, pw);
  assert.match(h, /^\$6\$[A-Za-z0-9]{10}\$[./A-Za-z0-9]{86}$/);
  assert.equal(glibcCrypt(pw, h), h);
  assert.notEqual(glibcCrypt('wrong', h), h);
  assert.equal(redact(`pw=${pw} hash=${h}`), 'pw=<redacted> hash=<redacted>', 'registered as log secrets');
});

test('crypt ids 1 and 5, salt length honoured and clamped', async () => {
  const h5 = await hashPassword(realRunner, 'pw-five', { cryptId: '5', saltLength: 16 });
  assert.match(h5, /^\$5\$[A-Za-z0-9]{16}\$[./A-Za-z0-9]{43}$/);
  assert.equal(glibcCrypt('pw-five', h5), h5);
  const h1 = await hashPassword(realRunner, 'pw-one', { cryptId: '1', saltLength: 20 });
  assert.match(h1, /^\$1\$[A-Za-z0-9]{8}\$/);
  assert.equal(glibcCrypt('pw-one', h1), h1);
  const h6 = await hashPassword(realRunner, 'x', { saltLength: 4 });
  assert.match(h6, /^\$6\$[A-Za-z0-9]{4}\$/);
});

test('the password goes to stdin, never argv; salts differ', async () => {
  const rr = new RecordingRunner().answer('openssl', { stdout: '$6$abcdefghij$' + 'A'.repeat(86) + '\n' });
  await hashPassword(rr, 'S3cret!pw', { salt: 'abcdefghij' });
  assert.equal(rr.calls.length, 1);
  assert.ok(!rr.calls[0]!.argv.join(' ').includes('S3cret'));
  assert.equal(rr.calls[0]!.input, 'S3cret!pw\n');
  const salts = new Set(Array.from({ length: 50 }, () => makeSalt(10)));
  assert.equal(salts.size, 50);
  for (const s of salts) assert.match(s, /^[A-Za-z0-9]{10}$/);
});

test('bad inputs: unsupported id, empty, newline, too long, unexpected output — no secret in the error', async () => {
  await assert.rejects(hashPassword(realRunner, 'pw', { cryptId: 'y' }), PasswordError);
  await assert.rejects(hashPassword(realRunner, ''), /empty/);
  await assert.rejects(hashPassword(realRunner, 'line1\nline2'), /line break/);
  await assert.rejects(hashPassword(realRunner, 'a'.repeat(MAX_PASSWORD_LENGTH + 1)), /longer/);
  const rr = new RecordingRunner().answer('openssl', { stdout: 'TopSecretPw\n' });
  await assert.rejects(hashPassword(rr, 'TopSecretPw'), (e: Error) => e instanceof PasswordError && !e.message.includes('TopSecret'));
  const fail = new RecordingRunner().answer('openssl', { code: 1, stderr: 'TopSecretPw' });
  await assert.rejects(hashPassword(fail, 'TopSecretPw'), (e: Error) => !e.message.includes('TopSecret'));
  // 256 bytes is the longest openssl hashes faithfully (measured): still verifies.
  const long = 'b'.repeat(MAX_PASSWORD_LENGTH);
  const h = await hashPassword(realRunner, long);
  assert.equal(glibcCrypt(long, h), h);
});

test('verifyPassword: same scheme and salt re-hashed; foreign formats are "no"', async () => {
  const h = await hashPassword(realRunner, 'pw-verify', { cryptId: '5' });
  assert.equal(await verifyPassword(realRunner, 'pw-verify', h), true);
  assert.equal(await verifyPassword(realRunner, 'pw-other', h), false);
  assert.equal(await verifyPassword(realRunner, 'pw-verify', '!'), false);
  assert.equal(await verifyPassword(realRunner, 'pw-verify', '$y$j9T$abc$def'), false);
  assert.equal(await verifyPassword(realRunner, 'pw-verify', '$6$rounds=5000$abc$def'), false);
});
