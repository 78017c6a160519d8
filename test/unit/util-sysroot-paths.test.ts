// Sysroot.path: on another root (a rescued disk) every path is resolved as inside that root, so no
// link on the disk leads a read or a write out of it; pathNoFollow leaves the last component alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TEST_GUARD_ENV, Sysroot } from '../../src/util/sysroot.ts';
import { withEnv } from '../helpers/env.ts';

function tree(t: { after: (f: () => void) => void }): { base: string; root: Sysroot; outside: string } {
  const base = mkdtempSync(join(tmpdir(), 'sysroot-'));
  t.after(() => rmSync(base, { recursive: true, force: true }));
  mkdirSync(join(base, 'disk/data/etc'), { recursive: true });
  mkdirSync(join(base, 'outside'), { recursive: true });
  return { base, root: new Sysroot(join(base, 'disk')), outside: join(base, 'outside') };
}

test('absolute and relative links for directories and files resolve inside the root', (t) => {
  const { base, root, outside } = tree(t);
  const disk = join(base, 'disk');
  symlinkSync(outside, join(disk, 'etc'));                 // absolute, pointing at a host directory
  symlinkSync('../../../../../..' + outside, join(disk, 'root')); // relative, climbing out
  symlinkSync('/data/etc', join(disk, 'home'));
  assert.equal(root.path('/etc/hostname'), join(disk, outside, 'hostname'));
  assert.ok(root.path('/root/.bash_history').startsWith(disk + '/'));
  assert.equal(root.path('/home/u/.ssh'), join(disk, 'data/etc/u/.ssh'));
  symlinkSync('/etc/shadow', join(disk, 'data/etc/file'));
  assert.equal(root.path('/data/etc/file'), join(disk, outside, 'shadow'));
  assert.equal(root.pathNoFollow('/data/etc/file'), join(disk, 'data/etc/file'), 'the last component is not followed');
  assert.equal(root.pathNoFollow('/home/file'), join(disk, 'data/etc/file'), 'its parents are');
});

test('a loop is an error naming the path and the root', (t) => {
  const { base, root } = tree(t);
  symlinkSync('/b', join(base, 'disk/a'));
  symlinkSync('/a', join(base, 'disk/b'));
  assert.throws(() => root.path('/a/etc/hostname'), /\/a\/etc\/hostname under .*\/disk: too many levels of symbolic links/);
  assert.throws(() => root.pathNoFollow('/a/x'), /too many levels/);
});

test('the host root stays lexical (the kernel resolves the same way) and .. never climbs', (t) => {
  const { base } = tree(t);
  // Built with the test guard off (a pure mapping: nothing on the host is touched).
  const host = withEnv({ [TEST_GUARD_ENV]: '0' }, () => new Sysroot('/'));
  assert.equal(host.path('/etc/../etc/hostname'), '/etc/hostname');
  assert.equal(host.pathNoFollow('/etc/hostname'), '/etc/hostname');
  const root = new Sysroot(join(base, 'disk'));
  writeFileSync(join(base, 'disk/data/x'), '');
  assert.equal(root.path('/../../data/x'), join(base, 'disk/data/x'));
  assert.equal(root.path('/'), join(base, 'disk'));
});
