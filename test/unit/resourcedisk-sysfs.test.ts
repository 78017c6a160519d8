import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { findNvmeTempDisks, findScsiResourceDisk } from '../../src/os/disk/sysfs.ts';
import { partitionName } from '../../src/os/disk/devnode.ts';
import { parseMountinfo, parsePartitions, parseSwaps } from '../../src/os/disk/proc.ts';
import { partitionNumber, labelForSize } from '../../src/os/disk/ptable.ts';
import { mkfsArgv } from '../../src/os/disk/mkfs.ts';
import { mountArgv } from '../../src/os/disk/mount.ts';
import { gen2Tree, makeBox, nvmeTree } from '../helpers/resourcedisk-fixture.ts';

test('Gen2: the resource disk is LUN 1 of SCSI controller 0, not the OS disk or the DVD', (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b, 'sdb');
  assert.deepEqual(findScsiResourceDisk(b.root), { name: 'sdb', generation: 2 });
});

test('Gen2: LUN 11 is not LUN 1', (t) => {
  const b = makeBox(); t.after(b.cleanup);
  const dev = '/sys/bus/vmbus/devices/ctl';
  b.put(`${dev}/device_id`, '{F8B3781A-1E82-4818-A1C3-63D806EC15BB}');
  b.put(`${dev}/host0/target0:0:0/0:0:0:11/block/sdl/size`, '1');
  assert.equal(findScsiResourceDisk(b.root), null);
  b.put(`${dev}/host0/target0:0:0/0:0:0:1/block/sdc/size`, '1');
  assert.deepEqual(findScsiResourceDisk(b.root), { name: 'sdc', generation: 2 });
});

test('Gen1: any block device below IDE port 1; data-disk controllers are ignored', (t) => {
  const b = makeBox(); t.after(b.cleanup);
  b.put('/sys/bus/vmbus/devices/data/device_id', '{f8b3781b-1e82-4818-a1c3-63d806ec15bb}');
  b.put('/sys/bus/vmbus/devices/data/host5/target5:0:0/5:0:0:1/block/sdd/size', '1');
  b.put('/sys/bus/vmbus/devices/ide0/device_id', '{00000000-0000-8899-0000-000000000000}');
  b.put('/sys/bus/vmbus/devices/ide0/host0/target0:0:0/0:0:0:0/block/sda/size', '1');
  assert.equal(findScsiResourceDisk(b.root), null);
  b.put('/sys/bus/vmbus/devices/ide1/device_id', '{00000000-0001-8899-0000-000000000000}\n');
  b.put('/sys/bus/vmbus/devices/ide1/host1/target1:0:1/1:0:1:0/block/sdb/size', '1');
  assert.deepEqual(findScsiResourceDisk(b.root), { name: 'sdb', generation: 1 });
});

test('old kernels name the entry block:sdb', (t) => {
  const b = makeBox(); t.after(b.cleanup);
  b.put('/sys/bus/vmbus/devices/ide1/device_id', '00000000-0001-8899-0000-000000000000');
  b.put('/sys/bus/vmbus/devices/ide1/host1/target1:0:1/1:0:1:0/block:sdb/dev', '8:16');
  assert.deepEqual(findScsiResourceDisk(b.root), { name: 'sdb', generation: 1 });
});

test('no vmbus at all (not Hyper-V, or a VM size without temp disk) → null', (t) => {
  const b = makeBox(); t.after(b.cleanup);
  assert.equal(findScsiResourceDisk(b.root), null);
  mkdirSync(b.host('/sys/bus/vmbus/devices'), { recursive: true });
  assert.equal(findScsiResourceDisk(b.root), null);
  assert.deepEqual(findNvmeTempDisks(b.root), []);
});

test('NVMe temp disks are found by model (v1 and v2), remote NVMe disks are not', (t) => {
  const b = makeBox(); t.after(b.cleanup);
  nvmeTree(b, 'nvme0', 'MSFT NVMe Accelerator v1.0');
  nvmeTree(b, 'nvme10', 'Microsoft NVMe Direct Disk v2');
  nvmeTree(b, 'nvme2', 'Microsoft NVMe Direct Disk');
  assert.deepEqual(findNvmeTempDisks(b.root), ['nvme2n1', 'nvme10n1']);
});

test('NVMe under /sys/class/nvme with namespaces as controller subdirectories', (t) => {
  const b = makeBox(); t.after(b.cleanup);
  b.put('/sys/class/nvme/nvme1/model', 'Microsoft NVMe Direct Disk              \n');
  b.put('/sys/class/nvme/nvme1/nvme1n1/size', '1');
  b.put('/sys/class/nvme/nvme1/nvme1n2/size', '1');
  b.put('/sys/class/nvme/nvme0/model', 'MSFT NVMe Accelerator v1.0\n');
  b.put('/sys/class/nvme/nvme0/nvme0n1/size', '1');
  assert.deepEqual(findNvmeTempDisks(b.root), ['nvme1n1', 'nvme1n2']);
});

test('partition names, numbers and table labels', () => {
  assert.equal(partitionName('sdb', 1), 'sdb1');
  assert.equal(partitionName('nvme0n1', 1), 'nvme0n1p1');
  assert.equal(partitionName('loop3', 2), 'loop3p2');
  assert.equal(partitionNumber('/r/dev/sdb', '/r/dev/sdb2'), 2);
  assert.equal(partitionNumber('/r/dev/nvme0n1', '/r/dev/nvme0n1p3'), 3);
  assert.equal(partitionNumber('/r/dev/sdb', '/r/dev/sdc1'), null);
  assert.equal(labelForSize(30 * 2 ** 30), 'dos');
  assert.equal(labelForSize(4 * 2 ** 40), 'gpt');
});

test('command lines: mkfs force flag per filesystem, mount -o only when set, bad fs names refused', () => {
  assert.deepEqual(mkfsArgv('ext4', '/dev/sdb1'), ['mkfs.ext4', '-F', '/dev/sdb1']);
  assert.deepEqual(mkfsArgv('xfs', '/dev/sdb1'), ['mkfs.xfs', '-f', '/dev/sdb1']);
  assert.deepEqual(mkfsArgv('btrfs', '/dev/sdb1'), ['mkfs.btrfs', '-f', '/dev/sdb1']);
  assert.throws(() => mkfsArgv('ext4;rm', '/dev/sdb1'), /invalid filesystem name/);
  assert.deepEqual(mountArgv('ext4', null, '/dev/sdb1', '/mnt/resource'), ['mount', '-t', 'ext4', '/dev/sdb1', '/mnt/resource']);
  assert.deepEqual(mountArgv('ext4', 'nodev,noatime', '/dev/sdb1', '/mnt'), ['mount', '-t', 'ext4', '-o', 'nodev,noatime', '/dev/sdb1', '/mnt']);
});

test('/proc parsers: mountinfo (escapes, optional fields), swaps, partitions', () => {
  const mi = parseMountinfo(
    '36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n' +
    'garbage line\n' +
    '40 27 8:17 / /mnt/resource rw,relatime - ext4 /dev/sdb1 rw\n');
  assert.equal(mi.length, 2);
  assert.deepEqual(mi[0], { majMin: '98:0', mountPoint: '/mnt/with space', options: 'rw,noatime', fsType: 'ext3', source: '/dev/root' });
  assert.equal(mi[1]!.source, '/dev/sdb1');
  const sw = parseSwaps('Filename\tType\tSize\tUsed\tPriority\n/mnt/resource/swapfile                  file\t\t2097148\t\t0\t\t-2\n/dev/sdc2 partition 1000 0 -3\n');
  assert.deepEqual(sw, [{ path: '/mnt/resource/swapfile', type: 'file', sizeKiB: 2097148 }, { path: '/dev/sdc2', type: 'partition', sizeKiB: 1000 }]);
  const pt = parsePartitions('major minor  #blocks  name\n\n   7        0     131072 loop0\n 259        0     130048 loop0p1\n');
  assert.deepEqual(pt.map((p) => `${p.major}:${p.minor} ${p.name}`), ['7:0 loop0', '259:0 loop0p1']);
});
