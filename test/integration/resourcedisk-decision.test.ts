// Every branch of the mount-or-format decision with a fake sysfs, fake /proc and a scripted Runner:
// what runs, in which order, and what is logged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { activateResourceDisk } from '../../src/resourcedisk/index.ts';
import type { ResourceDiskConfig } from '../../src/resourcedisk/index.ts';
import { DATALOSS_WARNING } from '../../src/resourcedisk/warning.ts';
import { blkid, config, gen2Tree, lines, makeBox, MUTATING, nvmeTree } from '../helpers/resourcedisk-fixture.ts';
import type { Box } from '../helpers/resourcedisk-fixture.ts';

const hasMkntfs = (() => { try { execFileSync('mkntfs', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; } })();
const needNtfs = hasMkntfs ? false : 'mkntfs missing: run scripts/install-test-deps.sh';
const MiB = 1 << 20;

function run(b: Box, over: Partial<ResourceDiskConfig> = {}) {
  return activateResourceDisk({ root: b.root, runner: b.runner, log: b.log, proc: b.proc, config: config(over), sleep: async () => {} });
}

function blankDevice(b: Box, inner: string, bytes = 8 * MiB): void {
  b.put(inner, '');
  truncateSync(b.host(inner), bytes);
}

function ntfsImage(b: Box, inner: string, files: Record<string, string>): void {
  blankDevice(b, inner, 8 * MiB);
  execFileSync('mkntfs', ['-q', '-F', '-Q', '-L', 'Temporary Storage', b.host(inner)], { stdio: 'ignore' });
  for (const [name, content] of Object.entries(files)) {
    writeFileSync(`${b.dir}/src`, content);
    execFileSync('ntfscp', ['-f', '-q', b.host(inner), `${b.dir}/src`, name], { stdio: 'ignore' });
  }
}

function sfdiskJson(b: Box, label: string, parts: { n: number; type: string }[]): void {
  const doc = { partitiontable: { label, device: b.host('/dev/sdb'), unit: 'sectors', partitions: parts.map((p) => ({ node: b.host(`/dev/sdb${p.n}`), start: 2048 * p.n, size: 4096, type: p.type })) } };
  b.runner.answer((a) => a[0] === 'sfdisk' && a[1] === '--json', { code: 0, stdout: JSON.stringify(doc) });
}

/** Behave like udev: the partition node appears once sfdisk wrote the table. */
function udevOnSfdisk(b: Box, node = '/dev/sdb1'): void {
  b.runner.onRun((a) => a[0] === 'sfdisk' && a[1] !== '--json', () => b.put(node, ''));
}

const mutating = (b: Box) => b.runner.commands().filter((c) => MUTATING.test(c));

test('ResourceDisk.Format=n: nothing is looked at, nothing runs, nothing is logged above verbose', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  const r = await run(b, { format: false, enableSwap: true, swapSizeMB: 4 });
  assert.equal(r.outcome, 'disabled');
  assert.deepEqual(b.runner.calls, []);
  assert.deepEqual(lines(b).filter((l) => !l.startsWith('VERBOSE')), []);
  assert.equal(existsSync(b.host('/mnt/resource')), false);
});

test('no temporary disk: exactly one info line, no command', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  const r = await run(b);
  assert.equal(r.outcome, 'no-disk');
  assert.deepEqual(lines(b), ['INFO MainThread No resource disk: this VM size has no temporary disk']);
  assert.deepEqual(b.runner.calls, []);
});

test('only an NVMe temp disk and EnableNvme=n: one info line, the disk stays raw', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  nvmeTree(b, 'nvme0', 'Microsoft NVMe Direct Disk v2');
  blankDevice(b, '/dev/nvme0n1');
  const r = await run(b);
  assert.equal(r.outcome, 'not-enabled');
  assert.equal(lines(b).length, 1);
  assert.match(lines(b)[0]!, /^INFO .*nvme0n1 left raw: set ResourceDisk.EnableNvme=y/);
  assert.deepEqual(b.runner.calls, []);
});

test('already mounted (after a reboot): no command at all, warning file kept in place', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  b.put('/dev/sdb1', '');
  b.put('/mnt/resource/.keep', '');
  writeFileSync(`${b.proc}/self/mountinfo`, `22 1 0:21 / /proc rw - proc proc rw\n90 1 8:17 / ${b.host('/mnt/resource')} rw,relatime - ext4 ${b.host('/dev/sdb1')} rw\n`);
  const r = await run(b);
  assert.equal(r.outcome, 'already-mounted');
  assert.equal(r.mountPoint, '/mnt/resource');
  assert.deepEqual(b.runner.calls, []);
  assert.equal(readFileSync(b.host('/mnt/resource/DATALOSS_WARNING_README.txt'), 'utf8'), DATALOSS_WARNING);
  const ino = statSync(b.host('/mnt/resource/DATALOSS_WARNING_README.txt')).ino;
  await run(b);
  assert.equal(statSync(b.host('/mnt/resource/DATALOSS_WARNING_README.txt')).ino, ino, 'an identical warning file is not rewritten');
});

test('mounted elsewhere (e.g. /mnt by cloud-init): that mount point is used, nothing moved', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  b.put('/mnt/.keep', '');
  writeFileSync(`${b.proc}/self/mountinfo`, `90 1 8:17 / ${b.host('/mnt')} rw - ext4 ${b.host('/dev/sdb1')} rw\n`);
  const r = await run(b);
  assert.equal(r.outcome, 'already-mounted');
  assert.equal(r.mountPoint, '/mnt');
  assert.ok(existsSync(b.host('/mnt/DATALOSS_WARNING_README.txt')));
  assert.deepEqual(b.runner.calls, []);
});

test('mount first: an existing ext4 partition is mounted with the options, never formatted', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  b.put('/dev/sdb1', 'ext4 data');
  blkid(b.runner, b.host('/dev/sdb1'), { TYPE: 'ext4' });
  const r = await run(b, { mountOptions: 'nodev,nosuid' });
  assert.equal(r.outcome, 'mounted');
  assert.deepEqual(mutating(b), [`mount -t ext4 -o nodev,nosuid ${b.host('/dev/sdb1')} ${b.host('/mnt/resource')}`]);
  assert.equal(statSync(b.host('/mnt/resource')).mode & 0o777, 0o755);
  assert.ok(lines(b).some((l) => l.includes('Resource disk /dev/sdb is mounted at /mnt/resource with ext4')));
});

test('blank disk: MBR with one Linux partition, mkfs, mount, warning file', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  blkid(b.runner, b.host('/dev/sdb'), null);
  b.runner.answer('blockdev --getsize64', { code: 0, stdout: `${8 * MiB}\n` });
  udevOnSfdisk(b);
  const r = await run(b);
  assert.equal(r.outcome, 'formatted');
  assert.equal(r.device, '/dev/sdb');
  assert.deepEqual(mutating(b), [
    `sfdisk --quiet --wipe always --wipe-partitions always ${b.host('/dev/sdb')}`,
    `mkfs.ext4 -F ${b.host('/dev/sdb1')}`,
    `mount -t ext4 ${b.host('/dev/sdb1')} ${b.host('/mnt/resource')}`,
  ]);
  assert.equal(b.runner.calls.find((c) => c.argv[0] === 'sfdisk')!.input, 'label: dos\n,,83\n');
  assert.ok(existsSync(b.host('/mnt/resource/DATALOSS_WARNING_README.txt')));
  assert.ok(lines(b).some((l) => /INFO .*Formatting resource disk \/dev\/sdb \(blank disk\) with ext4/.test(l)));
});

test('blank disk over 2 TiB gets GPT', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  blkid(b.runner, b.host('/dev/sdb'), null);
  b.runner.answer('blockdev --getsize64', { code: 0, stdout: `${3 * 2 ** 40}\n` });
  udevOnSfdisk(b);
  assert.equal((await run(b, { filesystem: 'xfs' })).outcome, 'formatted');
  assert.equal(b.runner.calls.find((c) => c.argv[0] === 'sfdisk')!.input, 'label: gpt\n,,0FC63DAF-8483-4772-8E79-3D69D8477DE4\n');
  assert.ok(mutating(b).includes(`mkfs.xfs -f ${b.host('/dev/sdb1')}`));
});

test('Azure NTFS (only the data-loss notice) is reformatted, keeping the MBR label', { skip: needNtfs }, async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  ntfsImage(b, '/dev/sdb1', { 'DATALOSS_WARNING_README.txt': 'WARNING' });
  blkid(b.runner, b.host('/dev/sdb'), { PTTYPE: 'dos' });
  blkid(b.runner, b.host('/dev/sdb1'), { TYPE: 'ntfs', LABEL: 'Temporary Storage' });
  sfdiskJson(b, 'dos', [{ n: 1, type: '7' }]);
  const r = await run(b);
  assert.equal(r.outcome, 'formatted');
  assert.deepEqual(mutating(b).map((c) => c.split(' ')[0]), ['sfdisk', 'mkfs.ext4', 'mount']);
  assert.equal(b.runner.calls.find((c) => c.argv[0] === 'sfdisk' && c.argv[1] !== '--json')!.input, 'label: dos\n,,83\n');
  assert.ok(lines(b).some((l) => l.includes('the NTFS temporary disk Azure delivers')));
});

test('GPT with an empty Microsoft Reserved partition + Azure NTFS → one GPT Linux partition', { skip: needNtfs }, async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  blankDevice(b, '/dev/sdb1', 2 * MiB);
  ntfsImage(b, '/dev/sdb2', {});
  blkid(b.runner, b.host('/dev/sdb'), { PTTYPE: 'gpt' });
  blkid(b.runner, b.host('/dev/sdb1'), null);
  blkid(b.runner, b.host('/dev/sdb2'), { TYPE: 'ntfs' });
  sfdiskJson(b, 'gpt', [{ n: 1, type: 'E3C9E316-0B5C-4DB8-817D-F92DF00215AE' }, { n: 2, type: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7' }]);
  assert.equal((await run(b)).outcome, 'formatted');
  assert.match(b.runner.calls.find((c) => c.argv[0] === 'sfdisk' && c.argv[1] !== '--json')!.input!, /^label: gpt\n/);
});

test('NTFS holding other files is left alone, with one clear warning', { skip: needNtfs }, async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  ntfsImage(b, '/dev/sdb1', { 'DATALOSS_WARNING_README.txt': 'w', 'backup.tar': 'precious' });
  blkid(b.runner, b.host('/dev/sdb'), { PTTYPE: 'dos' });
  blkid(b.runner, b.host('/dev/sdb1'), { TYPE: 'ntfs' });
  sfdiskJson(b, 'dos', [{ n: 1, type: '7' }]);
  const r = await run(b, { enableSwap: true, swapSizeMB: 4 });
  assert.equal(r.outcome, 'refused');
  assert.equal(r.swap, undefined);
  assert.deepEqual(mutating(b), []);
  const warn = lines(b).filter((l) => l.startsWith('WARNING'));
  assert.equal(warn.length, 1);
  assert.match(warn[0]!, /Resource disk \/dev\/sdb was NOT formatted because its partition 1 is NTFS holding 1 file\(s\) besides what Azure puts there \(e\.g\. "backup\.tar"\)/);
  assert.equal(existsSync(b.host('/mnt/resource/DATALOSS_WARNING_README.txt')), false);
});

const refusals: [string, (b: Box) => void, RegExp][] = [
  ['a filesystem on the whole disk', (b) => blkid(b.runner, b.host('/dev/sdb'), { TYPE: 'ext4', LABEL: 'data' }),
    /because it holds a ext4 signature \(label "data"\) on the whole disk/],
  ['data without a signature', (b) => { writeFileSync(b.host('/dev/sdb'), Buffer.from('not zeros')); blkid(b.runner, b.host('/dev/sdb'), null); },
    /because it has no known signature but is not blank/],
  ['conflicting signatures', (b) => b.runner.answer((a) => a[0] === 'blkid', { code: 8 }), /several conflicting signatures/],
  ['an ext4 partition that does not mount', (b) => {
    b.put('/dev/sdb1', 'x');
    blkid(b.runner, b.host('/dev/sdb'), { PTTYPE: 'dos' });
    blkid(b.runner, b.host('/dev/sdb1'), { TYPE: 'ext4' });
    sfdiskJson(b, 'dos', [{ n: 1, type: '83' }]);
    b.runner.answer('mount', { code: 32, stderr: 'mount: wrong fs type, bad superblock' });
  }, /its partition 1 holds a ext4 signature that does not mount; .*bad superblock/],
  ['an LVM partition', (b) => {
    b.put('/dev/sdb1', 'x');
    blkid(b.runner, b.host('/dev/sdb'), { PTTYPE: 'dos' });
    blkid(b.runner, b.host('/dev/sdb1'), { TYPE: 'LVM2_member', USAGE: 'raid' });
    sfdiskJson(b, 'dos', [{ n: 1, type: '8e' }]);
  }, /its partition 1 holds a LVM2_member signature/],
  ['a partition with data but no signature', (b) => {
    b.put('/dev/sdb1', 'raw database pages');
    blkid(b.runner, b.host('/dev/sdb'), { PTTYPE: 'dos' });
    blkid(b.runner, b.host('/dev/sdb1'), null);
    sfdiskJson(b, 'dos', [{ n: 1, type: '83' }]);
  }, /its partition 1 holds data without a known signature/],
  ['a partition the kernel does not show', (b) => {
    blkid(b.runner, b.host('/dev/sdb'), { PTTYPE: 'dos' });
    sfdiskJson(b, 'dos', [{ n: 1, type: '7' }]);
  }, /its partition 1 is not visible to the kernel/],
];
for (const [name, setup, why] of refusals) {
  test(`refused: ${name}`, async (t) => {
    const b = makeBox(); t.after(b.cleanup);
    gen2Tree(b);
    blankDevice(b, '/dev/sdb');
    setup(b);
    const r = await run(b);
    assert.equal(r.outcome, 'refused');
    assert.match(r.message, why);
    assert.deepEqual(mutating(b).filter((c) => !c.startsWith('mount ')), []);
    assert.equal(lines(b).filter((l) => l.startsWith('WARNING')).length, 1);
  });
}

test('NVMe opted in: a blank disk is formatted whole (no partition table) and mounted', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  nvmeTree(b, 'nvme0', 'Microsoft NVMe Direct Disk');
  nvmeTree(b, 'nvme1', 'Microsoft NVMe Direct Disk');
  blankDevice(b, '/dev/nvme0n1');
  blkid(b.runner, b.host('/dev/nvme0n1'), null);
  const r = await run(b, { enableNvme: true, mountOptions: 'noatime' });
  assert.equal(r.outcome, 'formatted');
  assert.equal(r.kind, 'nvme');
  assert.equal(r.device, '/dev/nvme0n1');
  assert.deepEqual(mutating(b), [
    `mkfs.ext4 -F ${b.host('/dev/nvme0n1')}`,
    `mount -t ext4 -o noatime ${b.host('/dev/nvme0n1')} ${b.host('/mnt/resource')}`,
  ]);
  assert.ok(lines(b).some((l) => l.includes('using nvme0n1, leaving the others untouched')));
});

test('NVMe opted in: our filesystem from before is mounted; a partitioned disk is refused', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  nvmeTree(b, 'nvme0', 'Microsoft NVMe Direct Disk');
  blankDevice(b, '/dev/nvme0n1');
  blkid(b.runner, b.host('/dev/nvme0n1'), { TYPE: 'ext4' });
  assert.equal((await run(b, { enableNvme: true })).outcome, 'mounted');
  assert.deepEqual(mutating(b), [`mount -t ext4 ${b.host('/dev/nvme0n1')} ${b.host('/mnt/resource')}`]);

  const c = makeBox(); t.after(c.cleanup);
  nvmeTree(c, 'nvme0', 'Microsoft NVMe Direct Disk');
  blankDevice(c, '/dev/nvme0n1');
  blkid(c.runner, c.host('/dev/nvme0n1'), { PTTYPE: 'gpt' });
  const r = await run(c, { enableNvme: true });
  assert.equal(r.outcome, 'refused');
  assert.match(r.message, /it holds a gpt partition table/);
  assert.deepEqual(mutating(c), []);
});

test('bad configuration and tool failures become a failed outcome, never an exception', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  assert.equal((await run(b, { filesystem: 'ext4 -O x' })).outcome, 'failed');
  assert.equal((await run(b, { mountPoint: 'relative' })).outcome, 'failed');
  assert.equal((await run(b, { mountPoint: '/etc' })).outcome, 'failed');
  assert.deepEqual(b.runner.calls, []);

  blkid(b.runner, b.host('/dev/sdb'), null);
  b.runner.answer((a) => a[0] === 'sfdisk', { code: 1, stderr: 'sfdisk: device busy' });
  const r = await run(b);
  assert.equal(r.outcome, 'failed');
  assert.match(r.message, /sfdisk failed: exit 1 sfdisk: device busy/);
  assert.ok(lines(b).some((l) => l.startsWith('ERROR') && l.includes('Failed to mount resource disk')));
});

test('the partition never appears: bounded wait, then "Partition was not created"', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  blkid(b.runner, b.host('/dev/sdb'), null);
  const r = await run(b);
  assert.equal(r.outcome, 'failed');
  assert.match(r.message, /Partition was not created \[\/dev\/sdb1\]/);
  assert.equal(b.runner.commands().filter((c) => c.startsWith('partx --update')).length, 5);
  assert.ok(!b.runner.commands().some((c) => c.startsWith('mkfs')));
});

test('mount first is tried for any filesystem (ext4 mounts an ext3 disk), never for none or Azure NTFS', async (t) => {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  blankDevice(b, '/dev/sdb');
  b.put('/dev/sdb1', 'ext3 data');
  blkid(b.runner, b.host('/dev/sdb1'), { TYPE: 'ext3', USAGE: 'filesystem' });
  assert.equal((await run(b)).outcome, 'mounted');
  assert.deepEqual(mutating(b), [`mount -t ext4 ${b.host('/dev/sdb1')} ${b.host('/mnt/resource')}`]);
});
