import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner, realRunner } from '../../src/util/exec.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import {
  DvdError, findDvdCandidates, isEjectable, readProvisioningMedia, releaseProvisioningMedia,
} from '../../src/os/media/dvd.ts';
import { makeUdfImage, writeUdfImage } from '../helpers/udf-image.ts';
import { hostRootForTest } from '../helpers/host-root.ts';

const tmp = mkdtempSync(join(tmpdir(), 'media-dvd-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const OVF = '<Environment xmlns="http://schemas.dmtf.org/ovf/environment/1">dvd</Environment>\n';

let n = 0;
/** A fresh fake machine: /dev, /sys/block, /proc. */
function machine(): Sysroot {
  const dir = join(tmp, `root${n++}`);
  for (const d of ['dev', 'sys/block', 'proc/self', 'mnt']) mkdirSync(join(dir, d), { recursive: true });
  writeFileSync(join(dir, 'proc/self/mounts'), 'proc /proc proc rw 0 0\n');
  return new Sysroot(dir);
}

function udfDevice(root: Sysroot, name: string, text = OVF): void {
  writeUdfImage(root.path(`/dev/${name}`), { 'ovf-env.xml': '\ufeff' + text });
}

function isoDevice(root: Sysroot, name: string, args: string[] = []): void {
  const src = join(tmp, `iso-src-${n++}`);
  mkdirSync(src);
  writeFileSync(join(src, 'ovf-env.xml'), OVF);
  execFileSync('genisoimage', ['-quiet', ...args, '-o', root.path(`/dev/${name}`), src]);
}

/** mount and umount fail like on a kernel without udf/iso9660 (or without privilege). */
function failingMount(): RecordingRunner {
  return new RecordingRunner()
    .answer('mount', { code: 32, stderr: 'mount: unknown filesystem type' })
    .answer('umount', { code: 32 });
}

const noSleep = { sleep: async () => {}, delayMs: 1 };

test('mount fails -> ovf-env.xml read in user space from a UDF image (BOM stripped)', async () => {
  const root = machine();
  udfDevice(root, 'sr0');
  const runner = failingMount();
  const media = await readProvisioningMedia({ root, runner, mountPoint: '/mnt/cdrom/secure', ...noSleep });
  assert.deepEqual(media, { device: '/dev/sr0', text: OVF, via: 'udf', mountedByUs: false });
  // udf tried first, then iso9660, read-only, at the configured mount point (host paths of the root)
  assert.deepEqual(runner.calls.map((c) => c.argv), [
    ['mount', '-o', 'ro', '-t', 'udf', root.path('/dev/sr0'), root.path('/mnt/cdrom/secure')],
    ['mount', '-o', 'ro', '-t', 'iso9660', root.path('/dev/sr0'), root.path('/mnt/cdrom/secure')],
  ]);
  assert.equal(statSync(root.path('/mnt/cdrom/secure')).mode & 0o777, 0o700);

  // release after Ready: nothing to unmount, the drive is ejected
  await releaseProvisioningMedia(media, { root, runner });
  assert.deepEqual(runner.calls.at(-1)!.argv, ['eject', root.path('/dev/sr0')]);
});

test('ISO9660 media (plain and Joliet) read in user space; tryMount=false skips mount', async () => {
  for (const args of [[], ['-J']]) {
    const root = machine();
    isoDevice(root, 'sr0', args);
    const runner = failingMount();
    const media = await readProvisioningMedia({ root, runner, tryMount: false, ...noSleep });
    assert.equal(media.via, 'iso9660');
    assert.equal(media.text, OVF);
    assert.equal(runner.calls.length, 0);
  }
});

test('mount succeeds -> read from the mount point; release unmounts then ejects', async () => {
  const root = machine();
  udfDevice(root, 'sr0');
  const mp = '/mnt/cdrom/secure';
  // The fake "mount" puts the file where a real mount would show it.
  const runner = new RecordingRunner().answer((a) => a[0] === 'mount', { code: 0 });
  mkdirSync(root.path(mp), { recursive: true });
  writeFileSync(root.path(`${mp}/ovf-env.xml`), OVF);
  const media = await readProvisioningMedia({ root, runner, mountPoint: mp, ...noSleep });
  assert.deepEqual(media, { device: '/dev/sr0', text: OVF, via: 'mounted', mountPoint: mp, mountedByUs: true, fsType: 'udf' });
  assert.equal(runner.calls.length, 1, 'no umount or eject before release');
  await releaseProvisioningMedia(media, { root, runner, eject: false });
  assert.deepEqual(runner.calls.slice(1).map((c) => c.argv), [['umount', root.path(mp)]]);
});

test('already mounted elsewhere (automounter): read there, no mount, release leaves it mounted', async () => {
  const root = machine();
  udfDevice(root, 'sr0');
  mkdirSync(root.path('/media/CD ROM'), { recursive: true });
  writeFileSync(root.path('/media/CD ROM/ovf-env.xml'), OVF);
  writeFileSync(root.path('/proc/self/mounts'), 'proc /proc proc rw 0 0\n/dev/sr0 /media/CD\\040ROM udf ro 0 0\n');
  const runner = failingMount();
  const media = await readProvisioningMedia({ root, runner, ...noSleep });
  assert.equal(media.via, 'already-mounted');
  assert.equal(media.mountPoint, '/media/CD ROM');
  assert.equal(runner.calls.length, 0);
  await releaseProvisioningMedia(media, { root, runner });
  assert.deepEqual(runner.calls.map((c) => c.argv[0]), ['eject']);
});

test('left mounted at DVD.MountPoint by an interrupted run: read there, and release unmounts it', async () => {
  const root = machine();
  udfDevice(root, 'sr0');
  mkdirSync(root.path('/mnt/cdrom/secure'), { recursive: true });
  writeFileSync(root.path('/mnt/cdrom/secure/ovf-env.xml'), OVF);
  writeFileSync(root.path('/proc/self/mounts'), '/dev/sr0 /mnt/cdrom/secure udf ro 0 0\n');
  const runner = failingMount();
  const media = await readProvisioningMedia({ root, runner, ...noSleep });
  assert.deepEqual(media, { device: '/dev/sr0', text: OVF, via: 'already-mounted', mountPoint: '/mnt/cdrom/secure', mountedByUs: true });
  await releaseProvisioningMedia(media, { root, runner, eject: false });
  assert.deepEqual(runner.calls.map((c) => c.argv), [['umount', root.path('/mnt/cdrom/secure')]]);
});

test('discovery: sr0 first, cdrom link folded, others sorted, non-CD block devices only by signature', async () => {
  const root = machine();
  for (const d of ['sr1', 'sr0', 'hdc', 'sda', 'vdb', 'vdc', 'loop0', 'loop1', 'zram0']) writeFileSync(root.path(`/dev/${d}`), '');
  symlinkSync('sr0', root.path('/dev/cdrom'));
  for (const d of ['sda', 'vdb', 'vdc', 'loop0', 'loop1', 'zram0']) {
    mkdirSync(root.path(`/sys/block/${d}`));
    writeFileSync(root.path(`/sys/block/${d}/size`), d === 'loop0' ? '0\n' : '2048\n');
  }
  udfDevice(root, 'vdc');
  isoDevice(root, 'loop1');
  writeFileSync(root.path('/dev/sda'), Buffer.alloc(1 << 20)); // a blank disk: no signature
  assert.deepEqual(await findDvdCandidates(root), ['/dev/sr0', '/dev/hdc', '/dev/sr1', '/dev/loop1', '/dev/vdc']);
  assert.equal(isEjectable('/dev/sr1'), true);
  assert.equal(isEjectable('/dev/vdc'), false);
  assert.equal(isEjectable('/dev/loop1'), false);
});

test('the medium is found by probing when there is no CD drive name (vdb)', async () => {
  const root = machine();
  writeFileSync(root.path('/dev/vda'), Buffer.alloc(64 * 1024));
  udfDevice(root, 'vdb');
  for (const d of ['vda', 'vdb']) {
    mkdirSync(root.path(`/sys/block/${d}`));
    writeFileSync(root.path(`/sys/block/${d}/size`), `${Math.ceil(statSync(root.path(`/dev/${d}`)).size / 512)}\n`);
  }
  const runner = failingMount();
  const media = await readProvisioningMedia({ root, runner, ...noSleep });
  assert.equal(media.device, '/dev/vdb');
  assert.equal(media.via, 'udf');
  await releaseProvisioningMedia(media, { root, runner });
  assert.ok(!runner.calls.some((c) => c.argv[0] === 'eject'), 'a disk is not ejected');
});

test('bounded retries: the device appears on the 3rd round; without it, DvdError lists every failure', async () => {
  const root = machine();
  const slept: number[] = [];
  const runner = failingMount();
  const media = await readProvisioningMedia({
    root, runner, attempts: 5, delayMs: 250,
    sleep: async (ms) => { slept.push(ms); if (slept.length === 2) udfDevice(root, 'sr0'); },
  });
  assert.equal(media.via, 'udf');
  assert.deepEqual(slept, [250, 250]);

  const empty = machine();
  writeFileSync(empty.path('/dev/sr0'), 'not a file system at all');
  const slept2: number[] = [];
  await assert.rejects(
    readProvisioningMedia({ root: empty, runner: failingMount(), attempts: 3, delayMs: 10, sleep: async (ms) => { slept2.push(ms); } }),
    (e: unknown) => {
      assert.ok(e instanceof DvdError);
      assert.match(e.message, /^\[CopyOvfEnv\] cannot read ovf-env\.xml/);
      assert.match(e.message, /\/dev\/sr0 \(mount -t udf\): mount: unknown filesystem type/);
      assert.match(e.message, /\/dev\/sr0 \(udf reader\): \/dev\/sr0: (Volume Recognition Sequence|.*truncated)/);
      assert.match(e.message, /\/dev\/sr0 \(iso9660 reader\)/);
      return true;
    },
  );
  assert.deepEqual(slept2, [10, 10], 'no sleep after the last round');

  // total time bound: a 5 s delay does not fit in 3 s, so only one round runs
  let t = 0;
  const slept3: number[] = [];
  await assert.rejects(readProvisioningMedia({
    root: machine(), runner: failingMount(), attempts: 5, delayMs: 5000, maxTotalMs: 3000,
    now: () => t, sleep: async (ms) => { slept3.push(ms); t += ms; },
  }), /no provisioning device found/);
  assert.deepEqual(slept3, []);
});

test('a medium without ovf-env.xml is not accepted; a bad UTF-8 file is refused', async () => {
  const root = machine();
  writeUdfImage(root.path('/dev/sr0'), { 'other.txt': 'x' });
  await assert.rejects(readProvisioningMedia({ root, runner: failingMount(), attempts: 1 }), /no entry "ovf-env.xml" \(has: other\.txt\)/);
  const root2 = machine();
  writeUdfImage(root2.path('/dev/sr0'), { 'ovf-env.xml': Buffer.from([0x3c, 0xff, 0xfe, 0x3e]) });
  await assert.rejects(readProvisioningMedia({ root: root2, runner: failingMount(), attempts: 1 }), /is not valid UTF-8/);
});

test('real tools (root): loop device found by probing on this host, real mount tried, medium read', async (t) => {
  // Anchor at sector 256 wiped: only the one in the last sector is left, so reading the device needs
  // its size, which a block device only tells through sysfs.
  const img = join(tmp, 'real.udf');
  const { image } = makeUdfImage({ 'ovf-env.xml': OVF });
  image.fill(0, 256 * 2048, 257 * 2048);
  writeFileSync(img, image);
  const lo = spawnSync('losetup', ['-f', '--show', '-r', img], { encoding: 'utf8' });
  if (lo.status !== 0) { t.skip(`losetup unavailable: ${lo.stderr.trim()}`); return; }
  const dev = lo.stdout.trim();
  const mp = join(tmp, 'real-mp');
  try {
    const host = hostRootForTest('probe the host block devices for our own loop device');
    // Only our loop device: the host's other disks are probed by findDvdCandidates, never mounted here.
    assert.ok((await findDvdCandidates(host)).includes(dev), `${dev} not discovered`);
    const media = await readProvisioningMedia({ root: host, runner: realRunner, devices: [dev], mountPoint: mp, attempts: 1 });
    assert.equal(media.text, OVF);
    // This kernel has neither udf nor iso9660: user space. A kernel with udf mounts it instead.
    assert.ok(media.via === 'udf' || media.via === 'mounted', media.via);
    await releaseProvisioningMedia(media, { root: host, runner: realRunner });
    assert.ok(!existsSync(join(mp, 'ovf-env.xml')), 'unmounted after release');

    // the sandbox's way: a node named sr0 that is really the loop device (its size comes from
    // /sys/dev/block/MAJ:MIN, since sysfs knows no "sr0")
    const root = machine();
    const { rdev } = statSync(dev);
    execFileSync('mknod', [root.path('/dev/sr0'), 'b', String((rdev >>> 8) & 0xfff), String((rdev & 0xff) | ((rdev >>> 12) & 0xfff00))]);
    // The host's sysfs entry for that device copied in (the box bind-mounts the real /sys; a link
    // to /sys would lead out of the root, which Sysroot never follows).
    const majMin = `${(rdev >>> 8) & 0xfff}:${(rdev & 0xff) | ((rdev >>> 12) & 0xfff00)}`;
    mkdirSync(root.path(`/sys/dev/block/${majMin}`), { recursive: true });
    writeFileSync(root.path(`/sys/dev/block/${majMin}/size`), readFileSync(`/sys/dev/block/${majMin}/size`));
    const viaNode = await readProvisioningMedia({ root, runner: failingMount(), attempts: 1 });
    assert.deepEqual(viaNode, { device: '/dev/sr0', text: OVF, via: 'udf', mountedByUs: false });
  } finally {
    spawnSync('umount', [mp]);
    spawnSync('losetup', ['-d', dev]);
  }
});

test('copy of an image file stands in for /dev/sr0 with a sysfs size', async () => {
  const root = machine();
  const img = join(tmp, 'sized.udf');
  writeUdfImage(img, { 'ovf-env.xml': OVF });
  copyFileSync(img, root.path('/dev/sr0'));
  mkdirSync(root.path('/sys/class/block/sr0'), { recursive: true });
  writeFileSync(root.path('/sys/class/block/sr0/size'), '0\n');
  // size 0 in sysfs means "no medium in the drive": not read, reported as such
  await assert.rejects(readProvisioningMedia({ root, runner: failingMount(), attempts: 1 }), /\/dev\/sr0: no medium \(size 0\)/);
  writeFileSync(root.path('/sys/class/block/sr0/size'), `${statSync(img).size / 512}\n`);
  assert.equal((await readProvisioningMedia({ root, runner: failingMount(), attempts: 1 })).text, OVF);
});
