import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, symlinkSync } from 'node:fs';
import { validateUserName, validateHostname, keyPathLexical, validateKeyPath, ValidationError } from '../../src/os/validate.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

test('user names: valid POSIX-portable names pass', () => {
  for (const n of ['azureuser', 'a', '_svc', 'Bob.Smith', 'user-1', 'x'.repeat(32)]) assert.equal(validateUserName(n), n);
});

test('user names: bad names are refused with a typed error', () => {
  const bad = ['', 'bob;rm -rf /', 'a b', '-rf', '1abc', 'x'.repeat(33), '../etc', 'bob/evil', 'bob$', 'bob.', 'a\nb', '$(id)', 'bob`', 'ünï'];
  for (const n of bad) assert.throws(() => validateUserName(n), ValidationError, `accepted ${JSON.stringify(n)}`);
  assert.throws(() => validateUserName(undefined), /missing/);
});

test('user names: root always refused; system names only with AllowResetSysUser', () => {
  assert.throws(() => validateUserName('root'), /root/);
  assert.throws(() => validateUserName('root', { allowResetSysUser: true }), /root/);
  assert.throws(() => validateUserName('daemon'), /AllowResetSysUser/);
  assert.throws(() => validateUserName('sshd'), /reserved/);
  assert.equal(validateUserName('daemon', { allowResetSysUser: true }), 'daemon');
});

test('hostnames: RFC 1123 labels and lengths', () => {
  for (const h of ['vm1', 'my-vm.example.com', '123', 'a'.repeat(63), ['a'.repeat(63), 'b'.repeat(63), 'c'.repeat(63), 'd'.repeat(61)].join('.')]) {
    assert.equal(validateHostname(h), h);
  }
  const bad = ['', 'vm;reboot', 'vm name', '-vm', 'vm-', 'a'.repeat(64), 'a..b', '.vm', 'vm.', 'vm/x', 'vm_1', 'x'.repeat(254), 'vm\n', '$(hostname)'];
  for (const h of bad) assert.throws(() => validateHostname(h), ValidationError, `accepted ${JSON.stringify(h)}`);
});

const opts = { homeRoot: '/home', userHome: '/home/alice' };

test('key paths: $HOME means the home root; paths inside the home pass', () => {
  assert.equal(keyPathLexical('$HOME/alice/.ssh/authorized_keys', opts), '/home/alice/.ssh/authorized_keys');
  assert.equal(keyPathLexical('/home/alice/.ssh/id_rsa', opts), '/home/alice/.ssh/id_rsa');
  assert.equal(keyPathLexical('/home//alice/./.ssh/k', opts), '/home/alice/.ssh/k');
  assert.equal(keyPathLexical('/etc/ssh/keys/alice', { ...opts, allowedDirs: ['/etc/ssh/keys'] }), '/etc/ssh/keys/alice');
});

test('key paths: traversal, relative, other homes and odd values are refused', () => {
  const bad = ['$HOME/alice/../bob/.ssh/authorized_keys', '/home/alice/../../etc/shadow', '.ssh/authorized_keys',
    '/root/.ssh/authorized_keys', '/home/alicex/.ssh/k', '/home/alice', '/home/alice/', '$HOME/bob/.ssh/authorized_keys',
    '/home/alice/.ssh/k\0', '/etc/ssh/keys/alice', ''];
  for (const p of bad) assert.throws(() => keyPathLexical(p, opts), ValidationError, `accepted ${JSON.stringify(p)}`);
});

test('key paths: a symlink escaping the home is refused; a home behind a symlink is fine', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  mkdirSync(r.p('/var/home/alice/.ssh'), { recursive: true });
  mkdirSync(r.p('/etc/secret'), { recursive: true });
  // /home -> var/home (Fedora CoreOS style); absolute link target must be taken inside the root.
  mkdirSync(r.p('/x'), { recursive: true });
  symlinkSync('/var/home', r.p('/x/home'));
  const o = { homeRoot: '/x/home', userHome: '/x/home/alice' };
  assert.equal(validateKeyPath(r.root, '$HOME/alice/.ssh/authorized_keys', o), '/x/home/alice/.ssh/authorized_keys');
  symlinkSync('/etc/secret', r.p('/var/home/alice/.ssh/evil'));
  assert.throws(() => validateKeyPath(r.root, '$HOME/alice/.ssh/evil/authorized_keys', o), /outside the user's home/);
  symlinkSync('/etc/shadow', r.p('/var/home/alice/.ssh/authorized_keys2'));
  assert.throws(() => validateKeyPath(r.root, '/x/home/alice/.ssh/authorized_keys2', o), /outside/);
});
