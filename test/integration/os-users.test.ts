// Runs the real useradd/usermod/chpasswd/userdel with --root against a temp copy of the account
// databases (needs root: CI runs as root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { ensureUser, ensurePassword, readShadowHash, getUser, isSystemUser, readUidMin, setPasswordHash, deleteUser, UserError, parsePasswd } from '../../src/os/users.ts';
import { hashPassword } from '../../src/crypto/password.ts';
import { realRunner, RecordingRunner } from '../../src/util/exec.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

function shadowEntry(file: string, name: string): string[] | undefined {
  return readFileSync(file, 'utf8').split('\n').find((l) => l.startsWith(name + ':'))?.split(':');
}

test('as root: useradd -m on a temp root creates the user, home, shell, groups; twice = same state', async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  writeFileSync(r.p('/etc/group'), readFileSync(r.p('/etc/group'), 'utf8') + 'azgrp:x:4242:\n');
  const before = readFileSync('/etc/passwd', 'utf8');
  const res = await ensureUser(realRunner, r.root, { name: 'alice', shell: '/bin/bash', groups: ['azgrp', 'nosuchgroup'] });
  assert.equal(res.created, true);
  assert.equal(res.user.home, '/home/alice');
  assert.ok(res.user.uid >= readUidMin(r.root));
  assert.equal(res.user.shell, '/bin/bash');
  const st = statSync(r.p('/home/alice'));
  assert.ok(st.isDirectory());
  assert.equal(st.uid, res.user.uid);
  assert.match(readFileSync(r.p('/etc/group'), 'utf8'), /^azgrp:x:4242:alice$/m);
  const passwdAfter = readFileSync(r.p('/etc/passwd'), 'utf8');
  const again = await ensureUser(realRunner, r.root, { name: 'alice', shell: '/bin/bash', groups: ['azgrp'] });
  assert.equal(again.created, false);
  assert.equal(readFileSync(r.p('/etc/passwd'), 'utf8'), passwdAfter);
  assert.equal(readFileSync('/etc/passwd', 'utf8'), before, 'the host passwd must not change');
});


test('as root: existing normal user gets missing groups via usermod', async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  const b = await ensureUser(realRunner, r.root, { name: 'bob', shell: '/no/such/shell' });
  assert.notEqual(b.user.shell, '/no/such/shell', 'a shell missing from /etc/shells is not used');
  writeFileSync(r.p('/etc/group'), readFileSync(r.p('/etc/group'), 'utf8') + 'extra:x:4343:\n');
  const res = await ensureUser(realRunner, r.root, { name: 'bob', groups: ['extra'] });
  assert.equal(res.created, false);
  assert.match(readFileSync(r.p('/etc/group'), 'utf8'), /^extra:x:4343:bob$/m);
});

test('system users are never touched unless AllowResetSysUser; login.defs UID_MIN honoured', async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  r.write('/etc/passwd', readFileSync(r.p('/etc/passwd'), 'utf8') + 'svc:x:900:900::/var/svc:/usr/sbin/nologin\ncore:x:500:500::/home/core:/bin/bash\n');
  r.write('/etc/login.defs', '# x\nUID_MIN   1000\n');
  assert.equal(readUidMin(r.root), 1000);
  assert.equal(isSystemUser(r.root, 'svc'), true);
  assert.equal(isSystemUser(r.root, 'svc', { allowResetSysUser: true }), false);
  assert.equal(isSystemUser(r.root, 'core', { neverSystemUsers: ['core'] }), false);
  assert.equal(isSystemUser(r.root, 'nobodyhere'), false);
  const rr = new RecordingRunner();
  await assert.rejects(ensureUser(rr, r.root, { name: 'svc' }), (e: Error) => e instanceof UserError && /system user/.test(e.message));
  await assert.rejects(setPasswordHash(rr, r.root, 'svc', '$6$abc$def'), /system user/);
  assert.equal(rr.calls.length, 0);
  await ensureUser(rr, r.root, { name: 'svc', allowResetSysUser: true });
  await ensureUser(rr, r.root, { name: 'core', neverSystemUsers: ['core'] });
  assert.equal(rr.calls.length, 0, 'existing users without new groups need no command');
  r.write('/etc/login.defs', '');
  assert.equal(readUidMin(r.root), 100, 'missing UID_MIN falls back to 100');
});

test('as root: password set with chpasswd -e on the temp root; hash verifies; nothing secret in argv', async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  await ensureUser(realRunner, r.root, { name: 'carol' });
  const hash = await hashPassword(realRunner, 'Pa55w0rd!');
  await setPasswordHash(realRunner, r.root, 'carol', hash);
  const e = shadowEntry(r.p('/etc/shadow'), 'carol')!;
  assert.equal(e[1], hash);
  const check = execFileSync('/usr/bin/python3', ['-W', 'ignore', '-c', 'import crypt,sys;print(crypt.crypt("Pa55w0rd!", sys.argv[1]))', e[1]!]).toString().trim();
  assert.equal(check, hash);
  const rr = new RecordingRunner();
  await setPasswordHash(rr, r.root, 'carol', hash);
  assert.deepEqual(rr.calls[0]!.argv, ['chpasswd', '-e', '--root', r.dir]);
  assert.equal(rr.calls[0]!.input, `carol:${hash}\n`);
  await assert.rejects(setPasswordHash(rr, r.root, 'carol', 'plain text'), /unexpected format/);
  await assert.rejects(setPasswordHash(rr, r.root, 'nosuch', hash), /no such user/);
  const fail = new RecordingRunner().answer('chpasswd', { code: 1, stderr: `line 1: ${hash}` });
  await assert.rejects(setPasswordHash(fail, r.root, 'carol', hash), (err: Error) => !err.message.includes(hash));
});

test('host root: no --root argument; invalid names never reach a command', async () => {
  const rr = new RecordingRunner();
  const host = new Sysroot('/');
  await assert.rejects(ensureUser(rr, host, { name: 'x;id' }), /invalid user name/);
  await assert.rejects(ensureUser(rr, host, { name: '../x' }), /invalid user name/);
  assert.equal(rr.calls.length, 0);
});

test('as root: useradd failure is a typed error; deleteUser removes user and home, skips system users', async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  const fail = new RecordingRunner().answer('useradd', { code: 9, stderr: 'useradd: user exists' });
  await assert.rejects(ensureUser(fail, r.root, { name: 'dave' }), /useradd "dave" failed \(exit 9\)/);
  await ensureUser(realRunner, r.root, { name: 'dave' });
  assert.ok(getUser(r.root, 'dave'));
  assert.equal(await deleteUser(realRunner, r.root, 'dave'), true);
  assert.equal(getUser(r.root, 'dave'), null);
  assert.throws(() => statSync(r.p('/home/dave')));
  assert.equal(await deleteUser(realRunner, r.root, 'dave'), false);
  await assert.rejects(deleteUser(realRunner, r.root, 'daemon'), /system user/);
  assert.deepEqual(parsePasswd('a:x:1:2:g:/h:/s\nbad\n+nis\nb:x:q:1::/:/\n').map((e) => e.name), ['a']);
});

test('as root: ensurePassword sets once, leaves shadow untouched when the password already matches, resets on change', async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  await ensureUser(realRunner, r.root, { name: 'erin' });
  assert.equal(await ensurePassword(realRunner, r.root, 'erin', 'First-pw1', { cryptId: '6', saltLength: 12 }), true);
  const h1 = readShadowHash(r.root, 'erin')!;
  assert.match(h1, /^\$6\$[A-Za-z0-9]{12}\$/);
  const shadow = readFileSync(r.p('/etc/shadow'), 'utf8');
  assert.equal(await ensurePassword(realRunner, r.root, 'erin', 'First-pw1'), false);
  assert.equal(readFileSync(r.p('/etc/shadow'), 'utf8'), shadow);
  assert.equal(await ensurePassword(realRunner, r.root, 'erin', 'Second-pw2'), true);
  const h2 = readShadowHash(r.root, 'erin')!;
  assert.notEqual(h2, h1);
  const check = execFileSync('/usr/bin/python3', ['-W', 'ignore', '-c', 'import crypt,sys;print(crypt.crypt("Second-pw2", sys.argv[1]))', h2]).toString().trim();
  assert.equal(check, h2);
});
