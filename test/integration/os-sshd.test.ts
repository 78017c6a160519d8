import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, readFileSync, statSync, symlinkSync } from 'node:fs';
import { configureSshd, setSshConfig, includesDropIn, sshdSettings, restartSshd } from '../../src/os/sshd.ts';
import { parseOsRelease, profileFor } from '../../src/os/distro.ts';
import { RecordingRunner } from '../../src/util/exec.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

const debian = profileFor(parseOsRelease('ID=debian')).sshd;
const flatcar = profileFor(parseOsRelease('ID=flatcar')).sshd;

test('set_ssh_config semantics: replace first col-0 setting, else insert before Match, else append', () => {
  assert.deepEqual(setSshConfig(['#PasswordAuthentication yes', 'Port 22', 'Match User foo', '  X y', ''], 'PasswordAuthentication', 'no'),
    ['#PasswordAuthentication yes', 'Port 22', 'PasswordAuthentication no', 'Match User foo', '  X y', '']);
  assert.deepEqual(setSshConfig(['PasswordAuthentication yes', 'Port 22', ''], 'PasswordAuthentication', 'no'),
    ['PasswordAuthentication no', 'Port 22', '']);
  assert.deepEqual(setSshConfig(['Port 22', ''], 'ClientAliveInterval', '180'), ['Port 22', 'ClientAliveInterval 180', '']);
  assert.deepEqual(setSshConfig(['Port 22'], 'ClientAliveInterval', '1'), ['Port 22', 'ClientAliveInterval 1']);
  // A setting inside a Match block is not the global one; `Match all` closes the block.
  assert.deepEqual(setSshConfig(['Match User x', 'PasswordAuthentication yes', 'Match all', 'PasswordAuthentication yes', ''], 'PasswordAuthentication', 'no'),
    ['Match User x', 'PasswordAuthentication yes', 'Match all', 'PasswordAuthentication no', '']);
  // Only the exact keyword: a longer keyword with the same prefix is not it.
  assert.deepEqual(setSshConfig(['PasswordAuthenticationX 1', ''], 'PasswordAuthentication', 'no'), ['PasswordAuthenticationX 1', 'PasswordAuthentication no', '']);
});

test('settings: yes/no from DisableSshPasswordAuthentication; bad interval -> 180', () => {
  assert.deepEqual(sshdSettings(true, 30), [['PasswordAuthentication', 'no'], ['ChallengeResponseAuthentication', 'no'], ['ClientAliveInterval', '30']]);
  assert.equal(sshdSettings(false, '1; rm')[2]![1], '180');
  assert.equal(sshdSettings(false, undefined)[0]![1], 'yes');
});

test('Include detection: glob, relative path, an earlier conflicting setting disables the drop-in', () => {
  const names = ['PasswordAuthentication'];
  assert.equal(includesDropIn('Include /etc/ssh/sshd_config.d/*.conf\n', '/etc/ssh', '/etc/ssh/sshd_config.d/10-waagent.conf', names), true);
  assert.equal(includesDropIn('Include sshd_config.d/*.conf\n', '/etc/ssh', '/etc/ssh/sshd_config.d/10-waagent.conf', names), true);
  assert.equal(includesDropIn('#Include /etc/ssh/sshd_config.d/*.conf\n', '/etc/ssh', '/etc/ssh/sshd_config.d/10-waagent.conf', names), false);
  assert.equal(includesDropIn('PasswordAuthentication no\nInclude /etc/ssh/sshd_config.d/*.conf\n', '/etc/ssh', '/etc/ssh/sshd_config.d/10-waagent.conf', names), false);
  assert.equal(includesDropIn('Match User x\nInclude /etc/ssh/sshd_config.d/*.conf\n', '/etc/ssh', '/etc/ssh/sshd_config.d/10-waagent.conf', names), false);
  assert.equal(includesDropIn('Include /etc/ssh/other/*.conf\n', '/etc/ssh', '/etc/ssh/sshd_config.d/10-waagent.conf', names), false);
});

test('as root: Debian layout: drop-in written (0644), main untouched, idempotent', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const main = 'Include /etc/ssh/sshd_config.d/*.conf\n#PasswordAuthentication yes\nKbdInteractiveAuthentication no\n';
  r.write('/etc/ssh/sshd_config', main);
  mkdirSync(r.p('/etc/ssh/sshd_config.d'));
  const res = configureSshd(r.root, { disablePasswordAuth: true, clientAliveInterval: 120, profile: debian });
  assert.deepEqual(res, { mode: 'dropin', path: '/etc/ssh/sshd_config.d/10-waagent.conf', changed: true });
  assert.equal(readFileSync(r.p(res.path), 'utf8'), 'PasswordAuthentication no\nChallengeResponseAuthentication no\nClientAliveInterval 120\n');
  assert.equal(statSync(r.p(res.path)).mode & 0o777, 0o644);
  assert.equal(readFileSync(r.p('/etc/ssh/sshd_config'), 'utf8'), main);
  assert.equal(configureSshd(r.root, { disablePasswordAuth: true, clientAliveInterval: 120, profile: debian }).changed, false);
  configureSshd(r.root, { disablePasswordAuth: false, profile: debian });
  assert.match(readFileSync(r.p(res.path), 'utf8'), /^PasswordAuthentication yes\n/);
});

test('as root: no Include: sshd_config edited in place like upstream, mode kept, twice = same', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/etc/ssh/sshd_config', '#PasswordAuthentication yes\nPort 22\nMatch User foo\n  ForceCommand x\n', 0o600);
  mkdirSync(r.p('/etc/ssh/sshd_config.d'));
  const res = configureSshd(r.root, { disablePasswordAuth: true, profile: debian });
  assert.equal(res.mode, 'main');
  const want = '#PasswordAuthentication yes\nPort 22\nPasswordAuthentication no\nChallengeResponseAuthentication no\nClientAliveInterval 180\nMatch User foo\n  ForceCommand x\n';
  assert.equal(readFileSync(r.p('/etc/ssh/sshd_config'), 'utf8'), want);
  assert.equal(statSync(r.p('/etc/ssh/sshd_config')).mode & 0o777, 0o600);
  assert.equal(configureSshd(r.root, { disablePasswordAuth: true, profile: debian }).changed, false);
  assert.equal(readFileSync(r.p('/etc/ssh/sshd_config'), 'utf8'), want);
});

test('as root: Flatcar: drop-in 80-flatcar-walinuxagent.conf whenever the dir exists; else the symlinked main file is replaced by an edited copy', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/usr/share/ssh/sshd_config', 'UsePAM yes\n');
  mkdirSync(r.p('/etc/ssh'), { recursive: true });
  symlinkSync('../../usr/share/ssh/sshd_config', r.p('/etc/ssh/sshd_config'));
  mkdirSync(r.p('/etc/ssh/sshd_config.d'));
  const res = configureSshd(r.root, { disablePasswordAuth: false, profile: flatcar });
  assert.equal(res.path, '/etc/ssh/sshd_config.d/80-flatcar-walinuxagent.conf');
  assert.ok(lstatSync(r.p('/etc/ssh/sshd_config')).isSymbolicLink());
  const r2 = makeRoot();
  t.after(r2.cleanup);
  r2.write('/usr/share/ssh/sshd_config', 'UsePAM yes\n');
  mkdirSync(r2.p('/etc/ssh'), { recursive: true });
  symlinkSync('/usr/share/ssh/sshd_config', r2.p('/etc/ssh/sshd_config'));
  const res2 = configureSshd(r2.root, { disablePasswordAuth: true, profile: flatcar });
  assert.equal(res2.mode, 'main');
  assert.ok(lstatSync(r2.p('/etc/ssh/sshd_config')).isFile());
  assert.equal(readFileSync(r2.p('/etc/ssh/sshd_config'), 'utf8'), 'UsePAM yes\nPasswordAuthentication no\nChallengeResponseAuthentication no\nClientAliveInterval 180\n');
  assert.equal(readFileSync(r2.p('/usr/share/ssh/sshd_config'), 'utf8'), 'UsePAM yes\n', 'the read-only original is untouched');
});

test('as root: main edit: a global KbdInteractiveAuthentication (same option) is replaced too, never added', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/etc/ssh/sshd_config', 'KbdInteractiveAuthentication no\nUsePAM yes\n');
  configureSshd(r.root, { disablePasswordAuth: false, profile: debian });
  assert.equal(readFileSync(r.p('/etc/ssh/sshd_config'), 'utf8'),
    'KbdInteractiveAuthentication yes\nUsePAM yes\nPasswordAuthentication yes\nChallengeResponseAuthentication yes\nClientAliveInterval 180\n');
  assert.equal(includesDropIn('KbdInteractiveAuthentication no\nInclude /etc/ssh/sshd_config.d/*.conf\n', '/etc/ssh', '/etc/ssh/sshd_config.d/10-waagent.conf',
    ['PasswordAuthentication', 'KbdInteractiveAuthentication']), false);
});

test('as root: missing config is a typed error; restart only where the distro needs it and only on the host', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  assert.throws(() => configureSshd(r.root, { disablePasswordAuth: true, profile: debian }), /not found/);
  const rr = new RecordingRunner();
  const rhel = profileFor(parseOsRelease('ID=rhel')).sshd;
  assert.deepEqual(await restartSshd(rr, new Sysroot('/'), flatcar), { ran: false, ok: true });
  assert.deepEqual(await restartSshd(rr, r.root, rhel), { ran: false, ok: true });
  assert.deepEqual(await restartSshd(rr, new Sysroot('/'), rhel), { ran: true, ok: true });
  assert.deepEqual(rr.calls.map((c) => c.argv), [['systemctl', 'condrestart', 'sshd']]);
});
