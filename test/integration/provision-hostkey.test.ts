// The host key thumbprint computed in-process equals what `ssh-keygen -lf` prints (colons removed).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sysroot } from '../../src/util/sysroot.ts';
import { hostKeyPubPath, hostKeyThumbprint } from '../../src/provision/hostkey.ts';

test('host key thumbprint: SHA256<base64> of the key blob, identical to ssh-keygen -lf for every type', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'prov-hostkey-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = new Sysroot(dir);
  execFileSync('mkdir', ['-p', join(dir, 'etc/ssh')]);
  for (const type of ['rsa', 'ecdsa', 'ed25519']) {
    const f = join(dir, 'etc/ssh', `ssh_host_${type}_key`);
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', type, '-f', f]);
    const want = execFileSync('ssh-keygen', ['-l', '-f', `${f}.pub`], { encoding: 'utf8' }).split(/\s+/)[1]!.replace(/:/g, '');
    assert.equal(hostKeyThumbprint(root, '/etc/ssh', type), want, type);
  }
  assert.equal(hostKeyPubPath('/etc/ssh', 'auto'), '/etc/ssh/ssh_host_rsa_key.pub', 'auto means rsa (upstream)');
  assert.throws(() => hostKeyThumbprint(root, '/etc/ssh', 'dsa'), /ssh_host_dsa_key\.pub: not found/);
});
