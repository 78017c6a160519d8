// provision() per distro on temp roots with the real tools: Flatcar (read-only sshd_config symlink,
// its own drop-in name, `core` not a system user), RHEL-like without a drop-in directory (the main
// sshd_config edited in place), and a machine without sshd. Also the configuration keys provision
// reads and the test-only crash hook. Needs root (useradd --root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { realRunner } from '../../src/util/exec.ts';
import { configFromText } from '../../src/config/config.ts';
import { provision } from '../../src/provision/provision.ts';
import { settingsFromConfig, DEFAULT_SETTINGS } from '../../src/provision/settings.ts';
import { defaultConfig } from '../../src/config/config.ts';
import { crashHook, CRASH_HOOK_ENV } from '../../src/provision/command.ts';
import { FakePlatform, imageRoot, ovfXml, settings } from '../helpers/provision-fixtures.ts';
import { needsRoot } from '../helpers/skip.ts';

const skip = needsRoot('useradd --root, chown');

test('as root: Flatcar: drop-in 80-flatcar-walinuxagent.conf beside a read-only sshd_config link; the existing `core` user is reused', { skip }, async (t) => {
  const r = imageRoot();
  t.after(r.cleanup);
  r.write('/etc/os-release', 'ID=flatcar\nID_LIKE=coreos\nVERSION_ID=4152.2.0\n');
  rmSync(r.p('/etc/ssh/sshd_config'));
  r.write('/usr/share/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n');
  symlinkSync('../../usr/share/ssh/sshd_config', r.p('/etc/ssh/sshd_config'));
  // Flatcar's core user has uid 500, below UID_MIN: never treated as a system user there.
  appendFileSync(r.p('/etc/passwd'), 'core:x:500:500:Core:/home/core:/bin/bash\n');
  appendFileSync(r.p('/etc/group'), 'core:x:500:\n');
  mkdirSync(r.p('/home/core'), { mode: 0o755 });
  const platform = new FakePlatform();
  const out = await provision({
    settings: settings({ sshDir: '/etc/ssh' }), root: r.root, runner: realRunner, platform,
    readMedia: async () => ({ device: '/dev/sr0', text: ovfXml({ user: 'core', host: 'fc-vm', disablePasswordAuth: true, keys: [{ path: '$HOME/core/.ssh/authorized_keys', value: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKkJ3Hc5b1kqdGqfV8E0J8a0mXq3fJm8mq0I8CkGm6mY fc' }] }), via: 'udf', mountedByUs: false }),
    releaseMedia: async () => undefined,
  });
  assert.equal(out.status, 'provisioned', out.reason);
  assert.equal(readFileSync(r.p('/etc/ssh/sshd_config.d/80-flatcar-walinuxagent.conf'), 'utf8'), 'PasswordAuthentication no\nChallengeResponseAuthentication no\nClientAliveInterval 180\n');
  assert.ok(lstatSync(r.p('/etc/ssh/sshd_config')).isSymbolicLink(), 'the read-only main config is untouched');
  assert.equal(readFileSync(r.p('/home/core/.ssh/authorized_keys'), 'utf8').split(' ')[0], 'ssh-ed25519');
  assert.equal(lstatSync(r.p('/home/core/.ssh/authorized_keys')).uid, 500);
  assert.equal(readFileSync(r.p('/etc/sudoers.d/waagent'), 'utf8'), 'core ALL=(ALL) NOPASSWD: ALL\n');
});

test('as root: RHEL-like without sshd_config.d: sshd_config edited in place (first match, before Match blocks)', { skip }, async (t) => {
  const r = imageRoot();
  t.after(r.cleanup);
  r.write('/etc/os-release', 'ID="rhel"\nID_LIKE="fedora"\nVERSION_ID="9.4"\n');
  rmSync(r.p('/etc/ssh/sshd_config.d'), { recursive: true });
  r.write('/etc/ssh/sshd_config', '#PasswordAuthentication yes\nPasswordAuthentication yes\nPort 22\nMatch User backup\n  PasswordAuthentication yes\n');
  const out = await provision({
    settings: settings(), root: r.root, runner: realRunner, platform: new FakePlatform(),
    readMedia: async () => ({ device: '/dev/sr0', text: ovfXml({ disablePasswordAuth: true, password: 'Rhel-Passw0rd!' }), via: 'udf', mountedByUs: false }),
    releaseMedia: async () => undefined,
  });
  assert.equal(out.status, 'provisioned', out.reason);
  assert.equal(readFileSync(r.p('/etc/ssh/sshd_config'), 'utf8'),
    '#PasswordAuthentication yes\nPasswordAuthentication no\nPort 22\nChallengeResponseAuthentication no\nClientAliveInterval 180\nMatch User backup\n  PasswordAuthentication yes\n');
});

test('as root: no sshd installed (no sshd_config, no drop-in dir): provisioning succeeds without sshd settings', { skip }, async (t) => {
  const r = imageRoot();
  t.after(r.cleanup);
  rmSync(r.p('/etc/ssh'), { recursive: true });
  const out = await provision({
    settings: settings(), root: r.root, runner: realRunner, platform: new FakePlatform(),
    readMedia: async () => ({ device: '/dev/sr0', text: ovfXml({ password: 'NoSsh-Passw0rd!' }), via: 'udf', mountedByUs: false }),
    releaseMedia: async () => undefined,
  });
  assert.equal(out.status, 'provisioned', out.reason);
  assert.equal(out.hostKeyThumbprint, undefined, 'no host key: thumbprint skipped with a warning (not a failure without regeneration)');
});

test('configuration: the keys provisioning honours, with their defaults', () => {
  assert.deepEqual(settingsFromConfig(defaultConfig()), { ...DEFAULT_SETTINGS });
  const c = configFromText([
    'Provisioning.Agent=waagent', 'Provisioning.RegenerateSshHostKeyPair=y', 'Provisioning.SshHostKeyPairType=ed25519',
    'Provisioning.DeleteRootPassword=y', 'Provisioning.DecodeCustomData=y', 'Provisioning.ExecuteCustomData=y',
    'Provisioning.AllowResetSysUser=y', 'Provisioning.PasswordCryptId=5', 'Provisioning.PasswordCryptSaltLength=16',
    'OS.HomeDir=/var/home', 'OS.SshDir=/etc/ssh2', 'OS.SudoersDir=/etc/sudo.d', 'OS.PasswordPath=/etc/shadow2',
    'OS.SshClientAliveInterval=60', 'Lib.Dir=/var/lib/wa', 'DVD.MountPoint=/run/dvd', 'OS.OpensslPath=None', 'Provisioning.KvpReporting=n',
  ].join('\n'), 'test.conf');
  assert.deepEqual(settingsFromConfig(c), {
    agent: 'waagent', libDir: '/var/lib/wa', mountPoint: '/run/dvd', homeDir: '/var/home', sshDir: '/etc/ssh2', sudoersDir: '/etc/sudo.d',
    passwordPath: '/etc/shadow2', openssl: '/usr/bin/openssl', clientAliveInterval: 60, allowResetSysUser: true, regenerateHostKeys: true,
    hostKeyType: 'ed25519', deleteRootPassword: true, decodeCustomData: true, executeCustomData: true, cryptId: '5', saltLength: 16,
    kvpReporting: false, cloudInitTimeoutSec: 1800,
  });
});

test('crash hook: only a known step name arms it; unset it is no hook at all', () => {
  assert.equal(crashHook({}), undefined);
  assert.equal(crashHook({ [CRASH_HOOK_ENV]: '' }), undefined);
  assert.equal(crashHook({ [CRASH_HOOK_ENV]: 'not-a-step' }), undefined);
  const hook = crashHook({ [CRASH_HOOK_ENV]: 'marker' });
  assert.equal(typeof hook, 'function');
  hook!('user'); // another step: nothing happens (the process is still here)
});
