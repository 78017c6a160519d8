import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sysroot } from '../../src/util/sysroot.ts';
import { isMounted, mountHolding, parseMounts, readMounts } from '../../src/os/mounts.ts';
import { cgroupV2Mounted } from '../../src/os/cgroup.ts';

const TABLE = [
  '/dev/sda1 / ext4 rw,relatime 0 0',
  'tmpfs /var/lib/waagent tmpfs rw,nosuid,nodev,noexec 0 0',
  '/dev/sr0 /mnt/cd\\040rom udf ro 0 0',
  '/dev/sdb1 /mnt ext4 rw 0 0',
  '',
  'garbage',
].join('\n');

test('mount table: fields split, octal escapes decoded, malformed lines skipped', () => {
  const m = parseMounts(TABLE);
  assert.equal(m.length, 4);
  assert.deepEqual(m[2], { device: '/dev/sr0', mountPoint: '/mnt/cd rom', type: 'udf', options: ['ro'] });
  assert.deepEqual(m[1]!.options, ['rw', 'nosuid', 'nodev', 'noexec']);
});

test('mountHolding: the longest mount point that is the path or a parent of it', () => {
  const m = parseMounts(TABLE);
  assert.equal(mountHolding(m, '/var/lib/waagent/Microsoft.X-1.0')?.mountPoint, '/var/lib/waagent');
  assert.equal(mountHolding(m, '/var/lib/waagent')?.mountPoint, '/var/lib/waagent');
  assert.equal(mountHolding(m, '/var/lib/waagentx')?.mountPoint, '/', 'a name prefix is not a parent');
  assert.equal(mountHolding(m, '/mnt/cd rom/ovf-env.xml')?.device, '/dev/sr0');
  assert.equal(mountHolding([], '/x'), null);
});

test('isMounted: exact mount point, normalized', () => {
  const m = parseMounts(TABLE);
  assert.equal(isMounted(m, '/mnt/cd rom/'), true);
  assert.equal(isMounted(m, '/mnt/cd'), false);
});

test('readMounts reads /proc/self/mounts, else /proc/mounts, under the Sysroot; [] without either', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-mounts-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const root = new Sysroot(dir);
  assert.deepEqual(readMounts(root), []);
  mkdirSync(join(dir, 'proc'), { recursive: true });
  writeFileSync(join(dir, 'proc/mounts'), '/dev/sdb1 /mnt ext4 rw 0 0\n');
  assert.deepEqual(readMounts(root).map((e) => e.mountPoint), ['/mnt']);
  mkdirSync(join(dir, 'proc/self'), { recursive: true });
  writeFileSync(join(dir, 'proc/self/mounts'), TABLE);
  assert.equal(readMounts(root).length, 4);
  assert.equal(cgroupV2Mounted(root), false);
  mkdirSync(join(dir, 'sys/fs/cgroup'), { recursive: true });
  writeFileSync(join(dir, 'sys/fs/cgroup/cgroup.controllers'), 'cpu memory\n');
  assert.equal(cgroupV2Mounted(root), true);
});
