import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandGlob } from '../../src/util/glob.ts';
import { Sysroot } from '../../src/util/sysroot.ts';

test('glob expands per component, inside a sysroot, without following directory links', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'glob-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const root = new Sysroot(d);
  mkdirSync(join(d, 'etc/ssh'), { recursive: true });
  mkdirSync(join(d, 'lib/A-1.0/status'), { recursive: true });
  mkdirSync(join(d, 'lib/B-2.0/status'), { recursive: true });
  mkdirSync(join(d, 'outside/status'), { recursive: true });
  for (const f of ['etc/ssh/ssh_host_rsa_key', 'etc/ssh/ssh_host_rsa_key.pub', 'etc/ssh/sshd_config',
    'lib/A-1.0/status/0.status', 'lib/B-2.0/status/3.status', 'lib/B-2.0/status/x.txt', 'outside/status/9.status']) {
    writeFileSync(join(d, f), 'x');
  }
  symlinkSync(join(d, 'outside'), join(d, 'lib/evil'));
  assert.deepEqual(expandGlob('/etc/ssh/ssh_host_*key*', (p) => root.path(p)), ['/etc/ssh/ssh_host_rsa_key', '/etc/ssh/ssh_host_rsa_key.pub']);
  assert.deepEqual(expandGlob('/lib/*/status/*.status', (p) => root.path(p)), ['/lib/A-1.0/status/0.status', '/lib/B-2.0/status/3.status']);
  assert.deepEqual(expandGlob('/lib/[AB]-?.0', (p) => root.path(p)), ['/lib/A-1.0', '/lib/B-2.0']);
  assert.deepEqual(expandGlob('/nothing/*', (p) => root.path(p)), []);
  assert.throws(() => expandGlob('relative/*'), /absolute/);
});
