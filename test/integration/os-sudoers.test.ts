import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync, mkdirSync } from 'node:fs';
import { ensureSudoers, removeSudoers, sudoersLine, SudoersError } from '../../src/os/sudoers.ts';
import { realRunner, RecordingRunner } from '../../src/util/exec.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

test('as root: drop-in created 0440 root-owned, validated by the real visudo, idempotent', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  mkdirSync(r.p('/etc/sudoers.d'), { mode: 0o750 });
  assert.equal(await ensureSudoers(realRunner, r.root, 'alice', true), true);
  const f = r.p('/etc/sudoers.d/waagent');
  assert.equal(readFileSync(f, 'utf8'), 'alice ALL=(ALL) NOPASSWD: ALL\n');
  const st = statSync(f);
  assert.equal(st.mode & 0o7777, 0o440);
  assert.equal(st.uid, 0);
  assert.equal(await ensureSudoers(realRunner, r.root, 'alice', true), false);
  assert.equal(readFileSync(f, 'utf8'), 'alice ALL=(ALL) NOPASSWD: ALL\n');
  // Switching to a password user replaces the rule instead of adding a second one.
  await ensureSudoers(realRunner, r.root, 'alice', false);
  await ensureSudoers(realRunner, r.root, 'bob', true);
  await ensureSudoers(realRunner, r.root, 'bobby', false);
  assert.equal(readFileSync(f, 'utf8'), 'alice ALL=(ALL) ALL\nbob ALL=(ALL) NOPASSWD: ALL\nbobby ALL=(ALL) ALL\n');
  assert.deepEqual(readdirSync(r.p('/etc/sudoers.d')), ['waagent'], 'no temp files left behind');
  // Removal matches the first field only.
  assert.equal(removeSudoers(r.root, 'bob'), true);
  assert.equal(readFileSync(f, 'utf8'), 'alice ALL=(ALL) ALL\nbobby ALL=(ALL) ALL\n');
  assert.equal(removeSudoers(r.root, 'bob'), false);
  assert.equal(statSync(f).mode & 0o7777, 0o440);
});

test('as root: missing sudoers.d: created and #includedir appended to the main file (mode kept), once', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/etc/sudoers', 'Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n', 0o440);
  await ensureSudoers(realRunner, r.root, 'alice', true);
  assert.equal(readFileSync(r.p('/etc/sudoers'), 'utf8'), 'Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n\n#includedir /etc/sudoers.d\n');
  assert.equal(statSync(r.p('/etc/sudoers')).mode & 0o7777, 0o440);
  assert.ok(statSync(r.p('/etc/sudoers.d')).isDirectory());
});

test('as root: no sudoers.d and no main sudoers (sudo not installed): the drop-in dir is made, no main file invented', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  await ensureSudoers(realRunner, r.root, 'alice', true);
  assert.equal(readFileSync(r.p('/etc/sudoers.d/waagent'), 'utf8'), 'alice ALL=(ALL) NOPASSWD: ALL\n');
  assert.deepEqual(readdirSync(r.p('/etc')).sort(), ['sudoers.d']);
});

test('as root: a rule visudo rejects never goes live; invalid names are refused', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  mkdirSync(r.p('/etc/sudoers.d'));
  const rr = new RecordingRunner().answer('visudo', { code: 1, stderr: 'syntax error' });
  await assert.rejects(ensureSudoers(rr, r.root, 'alice', true), (e: Error) => e instanceof SudoersError && /visudo rejected/.test(e.message));
  assert.deepEqual(readdirSync(r.p('/etc/sudoers.d')), []);
  await assert.rejects(ensureSudoers(rr, r.root, 'al ice', true), /invalid user name/);
  await assert.rejects(ensureSudoers(rr, r.root, 'alice', true, { fileName: 'waagent.conf' }), /ignored by sudo/);
  // visudo absent (127): the rule is written without the check.
  const none = new RecordingRunner().answer('visudo', { code: 127 });
  await ensureSudoers(none, r.root, 'alice', false);
  assert.equal(readFileSync(r.p('/etc/sudoers.d/waagent'), 'utf8'), sudoersLine('alice', false) + '\n');
});
