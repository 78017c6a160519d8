// The resource disk on real loop devices with the real tools (sfdisk, mkfs, mount, mkswap, swapon):
// a temp Sysroot holds a fake vmbus/NVMe sysfs tree and /dev nodes made with mknod from the loop
// device's numbers, so the agent finds "/dev/sdb" (or "/dev/nvme0n1") exactly as on Azure.
// Needs root (loop devices, mount, swapon). Everything is undone in t.after, even on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec, realRunner } from '../../src/util/exec.ts';
import type { ExecOptions, ExecResult, Runner } from '../../src/util/exec.ts';
import { Logger, MemoryAppender } from '../../src/util/logger.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { activateResourceDisk } from '../../src/resourcedisk/index.ts';
import type { ResourceDiskConfig } from '../../src/resourcedisk/index.ts';
import { DATALOSS_WARNING } from '../../src/resourcedisk/warning.ts';
import { isZeroed } from '../../src/os/disk/probe.ts';
import { parseMountinfo, parseSwaps } from '../../src/os/disk/proc.ts';
import { config, gen2Tree, MUTATING, nvmeTree } from '../helpers/resourcedisk-fixture.ts';
import { processStart } from '../sandbox/box.ts';
import { firstReason, needsRoot, needsTool } from '../helpers/skip.ts';

const MiB = 1 << 20;
const skip = needsRoot('loop devices, mount, swapon');
const skipNtfs = firstReason(skip, needsTool('mkntfs'));

/** Runs the real tools and remembers what ran. */
class TracingRunner implements Runner {
  readonly argvs: string[][] = [];
  async run(argv: string[], opts?: ExecOptions): Promise<ExecResult> {
    this.argvs.push(argv);
    return realRunner.run(argv, opts);
  }
  mutating(): string[] { return this.argvs.map((a) => a.join(' ')).filter((c) => MUTATING.test(c)); }
}

interface Rig {
  dir: string;
  root: Sysroot;
  loop: string;
  major: number;
  minor: number;
  runner: TracingRunner;
  mem: MemoryAppender;
  log: Logger;
  host(inner: string): string;
  activate(over?: Partial<ResourceDiskConfig>): ReturnType<typeof activateResourceDisk>;
  lines(): string[];
}

function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Undo everything below `dir`: swaps, mounts (deepest first), the loop device, the files. */
async function teardown(dir: string, loop: string | null): Promise<void> {
  for (const s of parseSwaps(readFileSync('/proc/swaps', 'utf8'))) {
    if (s.path.startsWith(dir + '/')) await exec(['swapoff', s.path]);
  }
  const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).map((m) => m.mountPoint)
    .filter((m) => m.startsWith(dir + '/')).sort((a, b) => b.length - a.length);
  for (const m of mounts) {
    const r = await exec(['umount', m]);
    if (r.code !== 0) await exec(['umount', '-l', m]);
  }
  if (loop) await exec(['losetup', '-d', loop]);
  rmSync(dir, { recursive: true, force: true });
}

const RIG_BASE = '/var/tmp';
const RIG_PREFIX = 'rd-e2e-';

/**
 * Rigs live on the HOST (mounts, swap, loop devices): t.after undoes them, but not when the test
 * process is killed (the runner's wall bound, a CI cancel). The next run undoes what a dead test
 * process left (its owner file names it); rigs of live processes (another run) are left alone.
 */
async function sweepStaleRigs(): Promise<void> {
  let names: string[] = [];
  try { names = readdirSync(RIG_BASE).filter((n) => n.startsWith(RIG_PREFIX)); } catch { return; }
  for (const n of names) {
    const dir = join(RIG_BASE, n);
    let owner = '';
    try { owner = readFileSync(join(dir, 'owner'), 'utf8').trim(); } catch { /* none (yet) */ }
    const [pid, start] = owner.split(' ');
    if (pid && start && processStart(Number(pid)) === start) continue;
    if (!owner) { try { if (Date.now() - statSync(dir).mtimeMs < 10 * 60_000) continue; } catch { continue; } }
    let loop: string | null = null;
    for (const l of readdirSync('/sys/block').filter((b) => b.startsWith('loop'))) {
      try { if (readFileSync(`/sys/block/${l}/loop/backing_file`, 'utf8').startsWith(`${dir}/`)) loop = `/dev/${l}`; } catch { /* not attached */ }
    }
    await teardown(dir, loop);
  }
}

/**
 * Makes a loop device over a sparse image (prepared by `prepare` while it is still a file), a temp
 * root with the fake sysfs for `kind`, and the /dev node for the disk.
 */
async function rig(t: { after: (f: () => Promise<void>) => void }, kind: 'scsi' | 'nvme' | 'none', sizeMiB: number,
  prepare?: (img: string) => void): Promise<Rig> {
  await sweepStaleRigs();
  const dir = mkdtempSync(`${RIG_BASE}/${RIG_PREFIX}`);
  writeFileSync(join(dir, 'owner'), `${process.pid} ${processStart(process.pid)}\n`);
  let loop: string | null = null;
  t.after(() => teardown(dir, loop));
  const img = join(dir, 'disk.img');
  writeFileSync(img, '');
  truncateSync(img, sizeMiB * MiB);
  prepare?.(img);
  loop = sh(['losetup', '--find', '--show', '--partscan', img]).trim();
  // This test kernel may lack partition-table parsers: announce partitions from user space.
  await exec(['partx', '--update', loop]);
  const name = loop.slice('/dev/'.length);
  const [major, minor] = readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number) as [number, number];
  const root = new Sysroot(join(dir, 'root'));
  mkdirSync(root.path('/dev'), { recursive: true });
  const fake = { dir, root, put: (inner: string, c: string) => { mkdirSync(join(root.path(inner), '..'), { recursive: true }); writeFileSync(root.path(inner), c); }, host: (i: string) => root.path(i) };
  if (kind === 'scsi') {
    gen2Tree(fake as never, 'sdb');
    sh(['mknod', root.path('/dev/sdb'), 'b', String(major), String(minor)]);
  } else if (kind === 'nvme') {
    nvmeTree(fake as never, 'nvme0', 'Microsoft NVMe Direct Disk');
    sh(['mknod', root.path('/dev/nvme0n1'), 'b', String(major), String(minor)]);
  }
  const mem = new MemoryAppender('VERBOSE');
  const log = new Logger();
  log.appenders.push(mem);
  const runner = new TracingRunner();
  return {
    dir, root, loop, major, minor, runner, mem, log,
    host: (inner) => root.path(inner),
    activate: (over = {}) => activateResourceDisk({ root, runner, log, config: config(over), proc: '/proc' }),
    lines: () => mem.lines.map((l) => l.replace(/^\S+ /, '').trimEnd()),
  };
}

function mountOf(hostMountPoint: string) {
  return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')).find((m) => m.mountPoint === hostMountPoint);
}

function swapOf(hostPath: string) {
  return parseSwaps(readFileSync('/proc/swaps', 'utf8')).find((s) => s.path === hostPath);
}

/** The kernel reports the usable size: the file minus the header page and any partial-extent tail. */
function assertSwapSize(kib: number | undefined, mib: number): void {
  assert.ok(kib !== undefined && kib <= mib * 1024 && kib >= mib * 1024 - 64, `swap of ${kib} KiB for ${mib} MiB`);
}

function blkidValue(dev: string, tag: string): string {
  return sh(['blkid', '-p', '-o', 'value', '-s', tag, dev]).trim();
}

/** An MBR with one NTFS-type partition holding an NTFS volume, made with the real mkntfs. */
function azureNtfs(extraFiles: Record<string, string>) {
  return (img: string) => {
    sh(['sfdisk', '--quiet', '--no-reread', img], 'label: dos\nstart=2048, type=7\n');
    // mkntfs/ntfscp work on the partition's byte range through a second, offset loop device.
    const p = sh(['losetup', '--find', '--show', '--offset', String(2048 * 512), img]).trim();
    try {
      sh(['mkntfs', '--quick', '--quiet', '--force', '--label', 'Temporary Storage', '--partition-start', '2048', p]);
      const files = { 'DATALOSS_WARNING_README.txt': 'WARNING: THIS IS A TEMPORARY DISK.\r\n', ...extraFiles };
      for (const [name, content] of Object.entries(files)) {
        const src = `${img}.src`;
        writeFileSync(src, content);
        sh(['ntfscp', '--force', '--quiet', p, src, name]);
      }
    } finally { sh(['losetup', '-d', p]); }
  };
}

test('blank SCSI disk (root, loop): MBR + ext4 + mount options + warning + swap; second run changes nothing; after a "reboot" it is mounted, not formatted', { skip }, async (t) => {
  const r = await rig(t, 'scsi', 160);
  const cfg = { mountOptions: 'nodev,noatime', enableSwap: true, swapSizeMB: 16 };
  const first = await r.activate(cfg);
  assert.equal(first.outcome, 'formatted', first.message);
  assert.equal(first.swap?.outcome, 'created', first.swap?.message);

  // Independent checks with the real tools and the kernel's own tables.
  const table = JSON.parse(sh(['sfdisk', '--json', r.loop])).partitiontable;
  assert.equal(table.label, 'dos');
  assert.equal(table.partitions.length, 1);
  assert.equal(table.partitions[0].type, '83');
  assert.equal(blkidValue(r.host('/dev/sdb1'), 'TYPE'), 'ext4');
  const m = mountOf(r.host('/mnt/resource'));
  assert.ok(m, 'mounted at <root>/mnt/resource');
  assert.equal(m.fsType, 'ext4');
  assert.match(m.options, /nodev/);
  assert.match(m.options, /noatime/);
  assert.equal(readFileSync(r.host('/mnt/resource/DATALOSS_WARNING_README.txt'), 'utf8'), DATALOSS_WARNING);
  const sw = swapOf(r.host('/mnt/resource/swapfile'));
  assert.ok(sw, 'swap file active');
  assertSwapSize(sw.sizeKiB, 16);
  const st = statSync(r.host('/mnt/resource/swapfile'));
  assert.equal(st.size, 16 * MiB);
  assert.equal(st.mode & 0o777, 0o600);
  assert.ok(st.blocks * 512 >= 16 * MiB);

  // Second run: converged, no command that changes anything.
  r.runner.argvs.length = 0;
  const second = await r.activate(cfg);
  assert.equal(second.outcome, 'already-mounted');
  assert.equal(second.swap?.outcome, 'unchanged');
  assert.deepEqual(r.runner.mutating(), []);
  assert.equal(parseSwaps(readFileSync('/proc/swaps', 'utf8')).filter((s) => s.path.startsWith(r.dir)).length, 1);

  // "Reboot": swap off, unmounted. The ext4 from before must be mounted (mount first), never reformatted.
  writeFileSync(r.host('/mnt/resource/user-data.txt'), 'keep me');
  sh(['swapoff', r.host('/mnt/resource/swapfile')]);
  sh(['umount', r.host('/mnt/resource')]);
  r.runner.argvs.length = 0;
  const third = await r.activate(cfg);
  assert.equal(third.outcome, 'mounted', third.message);
  assert.equal(third.swap?.outcome, 'enabled');
  assert.deepEqual(r.runner.mutating().map((c) => c.split(' ')[0]), ['mount', 'swapon']);
  assert.equal(readFileSync(r.host('/mnt/resource/user-data.txt'), 'utf8'), 'keep me');

  // Size changed in the config: the swap file is rebuilt at the new size.
  const fourth = await r.activate({ ...cfg, swapSizeMB: 8 });
  assert.equal(fourth.swap?.outcome, 'resized');
  assertSwapSize(swapOf(r.host('/mnt/resource/swapfile'))?.sizeKiB, 8);

  // Too large for the disk: refused with a clear line; the current swap stays.
  const fifth = await r.activate({ ...cfg, swapSizeMB: 4096 });
  assert.equal(fifth.swap?.outcome, 'refused');
  assert.match(fifth.swap!.message, /Swap file of 4096 MB does not fit on \/mnt\/resource \(\d+ MB free\)/);
  assertSwapSize(swapOf(r.host('/mnt/resource/swapfile'))?.sizeKiB, 8);
});

test('Azure NTFS layout (root, loop, mkntfs): reformatted to ext4 on partition 1', { skip: skipNtfs }, async (t) => {
  const r = await rig(t, 'scsi', 96, azureNtfs({}));
  assert.equal(blkidValue(`${r.loop}p1`, 'TYPE'), 'ntfs');
  const res = await r.activate();
  assert.equal(res.outcome, 'formatted', res.message);
  assert.ok(r.lines().some((l) => l.includes('the NTFS temporary disk Azure delivers')));
  assert.equal(blkidValue(r.host('/dev/sdb1'), 'TYPE'), 'ext4');
  assert.equal(JSON.parse(sh(['sfdisk', '--json', r.loop])).partitiontable.partitions[0].type, '83');
  assert.equal(mountOf(r.host('/mnt/resource'))?.fsType, 'ext4');
});

test('NTFS holding other files (root, loop): left alone, one clear warning, the files intact', { skip: skipNtfs }, async (t) => {
  const r = await rig(t, 'scsi', 64, azureNtfs({ 'customer-data.bak': 'precious' }));
  const res = await r.activate({ enableSwap: true, swapSizeMB: 8 });
  assert.equal(res.outcome, 'refused');
  const warnings = r.lines().filter((l) => l.startsWith('WARNING'));
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /\/dev\/sdb was NOT formatted because its partition 1 is NTFS holding 1 file\(s\) besides what Azure puts there \(e\.g\. "customer-data\.bak"\)/);
  assert.deepEqual(r.runner.mutating().filter((c) => !c.startsWith('mknod')), []);
  assert.equal(blkidValue(`${r.loop}p1`, 'TYPE'), 'ntfs');
  assert.match(sh(['ntfsls', `${r.loop}p1`]), /customer-data\.bak/);
  assert.equal(mountOf(r.host('/mnt/resource')), undefined);
});

test('ext4 with a user file on the whole disk (root, loop): left alone, file intact', { skip }, async (t) => {
  const r = await rig(t, 'scsi', 64, (img) => {
    const src = `${img}.d`;
    mkdirSync(src);
    writeFileSync(join(src, 'thesis.tex'), 'five years of work');
    sh(['mkfs.ext4', '-q', '-F', '-d', src, img]);
  });
  const res = await r.activate();
  assert.equal(res.outcome, 'refused');
  assert.match(res.message, /because it holds a ext4 signature on the whole disk/);
  assert.deepEqual(r.runner.mutating(), []);
  const dump = sh(['debugfs', '-R', 'cat /thesis.tex', r.loop]);
  assert.equal(dump, 'five years of work');
});

test('NVMe temporary disk opted in (root, loop): formatted whole, mounted, second run changes nothing', { skip }, async (t) => {
  const r = await rig(t, 'nvme', 96);
  const first = await r.activate({ enableNvme: true, enableSwap: true, swapSizeMB: 8 });
  assert.equal(first.outcome, 'formatted', first.message);
  assert.equal(first.device, '/dev/nvme0n1');
  assert.equal(blkidValue(r.loop, 'TYPE'), 'ext4');
  assert.doesNotMatch(sh(['blkid', '-p', '-o', 'export', r.loop]), /PTTYPE=/, 'no partition table on a whole-disk filesystem');
  assert.equal(mountOf(r.host('/mnt/resource'))?.fsType, 'ext4');
  assert.ok(swapOf(r.host('/mnt/resource/swapfile')));
  r.runner.argvs.length = 0;
  const second = await r.activate({ enableNvme: true, enableSwap: true, swapSizeMB: 8 });
  assert.equal(second.outcome, 'already-mounted');
  assert.deepEqual(r.runner.mutating(), []);
});

test('NVMe temporary disk without the opt-in, and ResourceDisk.Format=n (root, loop): nothing touched', { skip }, async (t) => {
  const r = await rig(t, 'nvme', 32);
  const res = await r.activate();
  assert.equal(res.outcome, 'not-enabled');
  assert.equal(r.lines().length, 1);
  const s = await rig(t, 'scsi', 32);
  const off = await s.activate({ format: false, enableSwap: true, swapSizeMB: 8 });
  assert.equal(off.outcome, 'disabled');
  assert.deepEqual([...r.runner.argvs, ...s.runner.argvs], []);
  assert.ok(isZeroed(r.loop) && isZeroed(s.loop), 'disks still blank');
  assert.equal(existsSync(s.host('/mnt/resource')), false);
});

test('no resource disk (root): one info line', { skip }, async (t) => {
  const r = await rig(t, 'none', 16);
  const res = await r.activate({ enableNvme: true, enableSwap: true, swapSizeMB: 8 });
  assert.equal(res.outcome, 'no-disk');
  assert.deepEqual(r.lines(), ['INFO MainThread No resource disk: this VM size has no temporary disk']);
  assert.deepEqual(r.runner.argvs, []);
});
