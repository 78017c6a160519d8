// The resource disk inside the VM-in-a-box: the fake vmbus / NVMe sysfs and loop-device disks of
// test/sandbox, the real sfdisk/mkfs/mount/mkswap/swapon run inside the box, root '/', real /proc.
// Needs root (namespaces, loop devices). Swap is global to the kernel, so every test turns the
// box's swap file off before the box goes away.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Box, PINNED_NODE, PROJECT } from '../sandbox/box.ts';
import { DATA_MARKER } from '../sandbox/disks.ts';
import type { ResourceDiskConfig, ResourceDiskResult } from '../../src/resourcedisk/index.ts';
import { MUTATING } from '../helpers/resourcedisk-fixture.ts';
import { needsRoot } from '../helpers/skip.ts';

const skip = needsRoot('namespaces, loop devices');
const DRIVER = join(PROJECT, 'test', 'e2e', 'resourcedisk-driver.ts');

const base: ResourceDiskConfig = {
  format: true, filesystem: 'ext4', mountPoint: '/mnt/resource', mountOptions: null,
  enableSwap: false, swapSizeMB: 0, enableNvme: false,
};

async function activate(box: Box, over: Partial<ResourceDiskConfig>): Promise<{ result: ResourceDiskResult; commands: string[]; log: string }> {
  const r = await box.run([PINNED_NODE, DRIVER, JSON.stringify({ ...base, ...over })], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { result: ResourceDiskResult; commands: string[][] };
  return { result: out.result, commands: out.commands.map((a) => a.join(' ')), log: r.stderr };
}

async function sh(box: Box, script: string): Promise<string> {
  const r = await box.run(['bash', '-c', script]);
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout.trim();
}

async function withBox(opts: ConstructorParameters<typeof Object>[0], body: (box: Box) => Promise<void>): Promise<void> {
  const box = await Box.start(opts as never);
  try {
    await body(box);
  } finally {
    await box.run(['bash', '-c', 'swapoff /mnt/resource/swapfile 2>/dev/null; true']).catch(() => undefined);
    await box.close();
  }
}

test('box (root): Gen2 SCSI disk as Azure delivers it (NTFS) → ext4, options, warning, swap; second run mutates nothing', { skip }, async (t) => {
  await withBox({ resourceDisk: { sizeMiB: 128, kind: 'scsi-gen2' } }, async (box) => {
    const cfg = { mountOptions: 'nodev,nosuid', enableSwap: true, swapSizeMB: 16 };
    const first = await activate(box, cfg);
    t.diagnostic(first.log);
    assert.equal(first.result.outcome, 'formatted', first.log);
    assert.equal(first.result.device, '/dev/sdb');
    assert.match(first.log, /Formatting resource disk \/dev\/sdb \(the NTFS temporary disk Azure delivers/);
    // The sandbox's partition mirror (like udev) may re-read the table under mkfs: a retry is allowed.
    const ran = first.commands.filter((c) => MUTATING.test(c)).map((c) => c.split(' ')[0]).filter((c) => c !== 'mknod' && c !== 'partx');
    assert.deepEqual(ran.filter((c, i) => c !== ran[i - 1]), ['sfdisk', 'mkfs.ext4', 'mount', 'fallocate', 'mkswap', 'swapon']);
    assert.equal(await sh(box, 'blkid -p -o value -s TYPE /dev/sdb1'), 'ext4');
    assert.equal(await sh(box, 'sfdisk --json /dev/sdb | grep -o \'"type": *"[^"]*"\' | tr -d " "'), '"type":"83"');
    const [fstype, options] = (await sh(box, 'findmnt -n -o FSTYPE,OPTIONS /mnt/resource')).split(/\s+/);
    assert.equal(fstype, 'ext4');
    assert.match(options!, /nodev/);
    assert.match(options!, /nosuid/);
    assert.match(await sh(box, 'head -1 /mnt/resource/DATALOSS_WARNING_README.txt'), /^WARNING: THIS IS A TEMPORARY DISK\./);
    const swaps = await sh(box, 'swapon --show=NAME,SIZE --bytes --noheadings');
    assert.match(swaps, /^\/mnt\/resource\/swapfile\s+\d+$/m);
    assert.equal(await sh(box, 'stat -c %a:%s /mnt/resource/swapfile'), `600:${16 << 20}`);

    const second = await activate(box, cfg);
    assert.equal(second.result.outcome, 'already-mounted');
    assert.equal(second.result.swap?.outcome, 'unchanged');
    assert.deepEqual(second.commands.filter((c) => MUTATING.test(c)), []);
    // /proc/swaps is global: swap files of tests running at the same time (resourcedisk-loop's on
    // the host) are listed too, under their own paths. Ours is listed once.
    assert.equal((await sh(box, "grep -c '^/mnt/resource/swapfile[[:space:]]' /proc/swaps")), '1');
  });
});

test('box (root): Gen1 disk already formatted by the agent (after a reboot) is mounted, data kept, nothing formatted', { skip }, async () => {
  await withBox({ resourceDisk: { sizeMiB: 64, kind: 'scsi-gen1', content: 'data' } }, async (box) => {
    const r = await activate(box, {});
    assert.equal(r.result.outcome, 'mounted', r.log);
    assert.deepEqual(r.commands.filter((c) => /^(sfdisk (?!--json)|mkfs)/.test(c)), []);
    assert.equal(await sh(box, `cat /mnt/resource/${DATA_MARKER.name}`), DATA_MARKER.content.trim());
  });
});

test('box (root): NVMe temp disk raw without the opt-in, formatted whole with ResourceDisk.EnableNvme=y', { skip }, async () => {
  await withBox({ resourceDisk: { sizeMiB: 64, kind: 'nvme' } }, async (box) => {
    const off = await activate(box, {});
    assert.equal(off.result.outcome, 'not-enabled');
    assert.deepEqual(off.commands, []);
    assert.equal((await box.run(['blkid', '-p', '/dev/nvme1n1'])).code, 2, 'still blank');
    const on = await activate(box, { enableNvme: true });
    assert.equal(on.result.outcome, 'formatted', on.log);
    assert.equal(on.result.device, '/dev/nvme1n1');
    assert.equal(await sh(box, 'blkid -p -o value -s TYPE /dev/nvme1n1'), 'ext4');
    assert.equal(await sh(box, 'findmnt -n -o SOURCE /mnt/resource'), '/dev/nvme1n1');
  });
});

test('box (root): no temporary disk → one info line; Format=n → nothing runs', { skip }, async () => {
  await withBox({}, async (box) => {
    const r = await activate(box, { enableNvme: true });
    assert.equal(r.result.outcome, 'no-disk');
    assert.deepEqual(r.log.trim().split('\n').map((l) => l.replace(/^\S+ /, '')), ['INFO MainThread No resource disk: this VM size has no temporary disk']);
    assert.deepEqual(r.commands, []);
    const off = await activate(box, { format: false });
    assert.equal(off.result.outcome, 'disabled');
    assert.deepEqual(off.commands, []);
  });
});
