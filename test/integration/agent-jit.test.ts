// JIT remote access (2.15 remoteaccess.py) on a temp root with the real shadow tools (needs root: CI runs as
// root): add with expiry and comment, update (expiry, password), remove when gone or expired, reserved and
// existing non-JIT accounts refused and untouched, duplicates, bad expirations; the duty's triggers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JitAccounts, RemoteAccessDuty, accountExpiryDate, parseExpiration } from '../../src/agent/jit.ts';
import { accountExpiry, jitAccounts, JIT_COMMENT } from '../../src/os/jitaccounts.ts';
import { getUser, readShadowHash } from '../../src/os/users.ts';
import { verifyPassword } from '../../src/crypto/password.ts';
import { realRunner } from '../../src/util/exec.ts';
import type { RemoteAccessDocument } from '../../src/platform/remoteaccess.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (useradd --root)' : false;

test('parseExpiration: 2.15 format and YYYY-MM-DD; anything else names the field', () => {
  assert.equal(parseExpiration('Mon, 01 Jan 2029 00:00:00 GMT').toISOString(), '2029-01-01T00:00:00.000Z');
  assert.equal(parseExpiration('2029-02-28').toISOString(), '2029-02-28T00:00:00.000Z');
  assert.equal(accountExpiryDate(parseExpiration('Mon, 31 Dec 2029 23:00:00 GMT')), '2030-01-01');
  for (const bad of ['2029-02-30', 'tomorrow', 'Mon, 01 Jan 2029 25:00:00 GMT', '2029-1-1', '', '$(reboot)']) {
    assert.throws(() => parseExpiration(bad), /invalid RemoteAccess Expiration/, bad);
  }
});


function doc(users: { name: string; pw: string; exp: string }[]): RemoteAccessDocument {
  return { incarnation: '1', users: users.map((u) => ({ name: u.name, encryptedPassword: `enc:${u.pw}`, expiration: u.exp, groups: ['Administrators'] })) };
}

test('as root: JIT accounts added, updated, removed, expired; reserved and non-JIT accounts refused and untouched', { skip }, async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  r.write('/etc/sudoers', 'root ALL=(ALL) ALL\n', 0o440);
  r.write('/etc/sudoers.d/keep', '', 0o440);
  let now = new Date('2030-06-01T00:00:00Z');
  const events: string[] = [];
  const jit = new JitAccounts({
    root: r.root, runner: realRunner, now: () => now, sudoersDir: '/etc/sudoers.d',
    decrypt: async (enc) => { if (!enc.startsWith('enc:')) throw new Error('not decryptable'); return enc.slice(4); },
    event: (_ok, m) => events.push(m),
  });
  // A normal user made by someone else, with the same name as a JIT entry.
  const { ensureUser } = await import('../../src/os/users.ts');
  await ensureUser(realRunner, r.root, { name: 'localadmin', comment: 'Local admin' });
  const localBefore = readFileSync(r.p('/etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('localadmin:'));

  const first = await jit.apply(doc([
    { name: 'jitone', pw: 'Secret-One-1', exp: 'Tue, 02 Jul 2030 10:00:00 GMT' },
    { name: 'jittwo', pw: 'Secret-Two-2', exp: '2030-12-31' },
    { name: 'root', pw: 'x', exp: '2030-12-31' },
    { name: 'daemon', pw: 'x', exp: '2030-12-31' },
    { name: 'localadmin', pw: 'x', exp: '2030-12-31' },
    { name: 'jitone', pw: 'dup', exp: '2030-12-31' },
    { name: 'bad;name', pw: 'x', exp: '2030-12-31' },
    { name: 'jitbadexp', pw: 'x', exp: 'next week' },
    { name: 'jitold', pw: 'x', exp: '2020-01-01' },
  ]));
  assert.deepEqual(first.added.sort(), ['jitone', 'jittwo']);
  assert.deepEqual(Object.keys(first.refused).sort(), ['bad;name', 'daemon', 'jitbadexp', 'jitone', 'localadmin', 'root']);
  assert.match(first.refused['localadmin']!, /not a remote access \(JIT\) account: left untouched/);
  assert.match(first.refused['root']!, /cannot be the provisioned user|reserved/);
  assert.equal(events.length, 6);
  assert.equal(getUser(r.root, 'jitold'), null, 'an already expired entry is not created');
  assert.equal(getUser(r.root, 'jitone')!.gecos, JIT_COMMENT);
  assert.equal(accountExpiry(r.root, 'jitone'), '2030-07-03', 'expiry = Expiration + 1 day');
  assert.equal(accountExpiry(r.root, 'jittwo'), '2031-01-01');
  assert.ok(await verifyPassword(realRunner, 'Secret-One-1', readShadowHash(r.root, 'jitone')!));
  assert.equal(readFileSync(r.p('/etc/sudoers.d/waagent'), 'utf8'), 'jitone ALL=(ALL) ALL\njittwo ALL=(ALL) ALL\n');
  assert.equal(readFileSync(r.p('/etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('localadmin:')), localBefore);
  assert.deepEqual(jitAccounts(r.root).sort(), ['jitone', 'jittwo']);
  assert.deepEqual(first.nextExpiry?.toISOString(), '2030-07-02T10:00:00.000Z');

  // Same document again: nothing changes.
  const same = await jit.apply(doc([{ name: 'jitone', pw: 'Secret-One-1', exp: 'Tue, 02 Jul 2030 10:00:00 GMT' }, { name: 'jittwo', pw: 'Secret-Two-2', exp: '2030-12-31' }]));
  assert.deepEqual([same.added, same.updated, same.removed], [[], [], []]);

  // Changed: jitone gets a new password and a later expiry; jittwo leaves the document.
  const changed = await jit.apply(doc([{ name: 'jitone', pw: 'Secret-One-NEW', exp: '2031-03-01' }]));
  assert.deepEqual(changed.updated, ['jitone']);
  assert.deepEqual(changed.removed, ['jittwo']);
  assert.equal(getUser(r.root, 'jittwo'), null);
  assert.equal(accountExpiry(r.root, 'jitone'), '2031-03-02');
  assert.ok(await verifyPassword(realRunner, 'Secret-One-NEW', readShadowHash(r.root, 'jitone')!));
  assert.equal(readFileSync(r.p('/etc/sudoers.d/waagent'), 'utf8'), 'jitone ALL=(ALL) ALL\n');

  // Time passes beyond the expiration: removed although still listed.
  now = new Date('2031-03-01T00:00:01Z');
  const expired = await jit.apply(doc([{ name: 'jitone', pw: 'Secret-One-NEW', exp: '2031-03-01' }]));
  assert.deepEqual(expired.removed, ['jitone']);
  assert.deepEqual(jitAccounts(r.root), []);
  assert.ok(getUser(r.root, 'localadmin'), 'the non-JIT account is still there');

  // A password that cannot be decrypted: the account is not left half made.
  const broken = await jit.apply({ incarnation: '2', users: [{ name: 'jitthree', encryptedPassword: 'garbage', expiration: '2032-01-01', groups: [] }] });
  assert.match(broken.refused['jitthree']!, /not decryptable/);
  assert.equal(getUser(r.root, 'jitthree'), null);
});

test('as root: no document removes every JIT account once (then no scan until a document or an error)', { skip }, async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  const jit = new JitAccounts({ root: r.root, runner: realRunner, now: () => new Date('2030-01-01T00:00:00Z'), decrypt: async (e) => e.slice(4) });
  await jit.apply(doc([{ name: 'jitx', pw: 'Pw-123456', exp: '2030-02-01' }]));
  assert.deepEqual(jitAccounts(r.root), ['jitx']);
  assert.deepEqual((await jit.apply(null)).removed, ['jitx']);
  assert.deepEqual(jitAccounts(r.root), []);
  const { ensureUser } = await import('../../src/os/users.ts');
  await ensureUser(realRunner, r.root, { name: 'jity', comment: JIT_COMMENT });
  assert.deepEqual((await jit.apply(null)).removed, [], 'the scan is not repeated on every goal state');
});

test('RemoteAccessDuty: runs once per incarnation, again when an account expires (no fetch), fetch failures retried at most 3 times', async () => {
  let inc: string | null = null;
  let fetches = 0;
  let fail = false;
  let applied = 0;
  let now = new Date('2030-01-01T00:00:00Z');
  const accounts = { apply: async () => { applied++; return { added: [], updated: [], removed: [], refused: {}, nextExpiry: new Date('2030-01-02T00:00:00Z') }; } } as unknown as JitAccounts;
  const duty = new RemoteAccessDuty({ accounts, incarnation: () => inc, now: () => now, fetch: async () => { fetches++; if (fail) throw new Error('503'); return null; } });
  assert.equal(await duty.run(), null, 'no goal state yet');
  inc = '1';
  await duty.run();
  await duty.run();
  assert.deepEqual([fetches, applied], [1, 1]);
  now = new Date('2030-01-02T00:00:01Z');
  await duty.run();
  assert.deepEqual([fetches, applied], [1, 2], 'expiry re-applies the held document without a request');
  inc = '2';
  fail = true;
  for (let i = 0; i < 5; i++) await duty.run().catch(() => undefined);
  assert.equal(fetches, 4, 'three attempts for incarnation 2');
  await assert.rejects(() => { inc = '3'; return duty.run(); }, /attempt 1 of 3 for incarnation 3/);
});
