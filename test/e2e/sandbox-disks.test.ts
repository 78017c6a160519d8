// The box's fake Azure hardware: the resource disk found the way the Python agent finds it
// (docs/os.md §5.1, replayed by a small Python walk inside the box), NVMe temp disks by model,
// partitions appearing in /dev as udev would make them, and the provisioning DVD as /dev/sr0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { Box, PINNED_NODE, PROJECT } from '../sandbox/box.ts';
import { DATA_MARKER } from '../sandbox/disks.ts';

// docs/os.md §5.1 device_for_ide_port(1), as the Python agent walks sysfs (no symlinks followed below V).
const FIND_RESOURCE_DISK = `
import os
g1 = "00000000-0001"
g2 = "f8b3781a-1e82-4818-a1c3-63d806ec15bb"
root = "/sys/bus/vmbus/devices/"
found = None
for v in os.listdir(root):
    guid = open(os.path.join(root, v, "device_id")).read().strip("{}\\n")
    if not (guid.startswith(g1) or guid == g2):
        continue
    for r, dirs, files in os.walk(os.path.join(root, v)):
        if os.path.basename(r) == "block" and dirs:
            if guid.startswith(g1) or os.path.basename(os.path.dirname(r)).endswith(":1"):
                found = dirs[0]
print(found)
`;

function losetupList(): string { return spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout; }

async function waitFor(box: Box, p: string): Promise<boolean> {
  for (let i = 0; i < 100; i++) {
    await box.settleDevices();
    if (box.exists(p)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

for (const kind of ['scsi-gen1', 'scsi-gen2'] as const) {
  test(`resource disk ${kind} (root, loop devices): found by the vmbus walk, delivered as NTFS "Temporary Storage"`, async () => {
    const box = await Box.start({ resourceDisk: { sizeMiB: 64, kind } });
    try {
      const walk = await box.run(['python3', '-c', FIND_RESOURCE_DISK]);
      assert.equal(walk.stdout.trim(), 'sdb', walk.stderr);
      const loop = box.resourceDisk!.loop;
      assert.equal(box.stat('/dev/sdb').isBlockDevice(), true);
      assert.equal(box.readFile('/sys/block/sdb/dev').trim(), `${loop.major}:${loop.minor}`);
      assert.equal(Number(box.readFile('/sys/block/sdb/size').trim()) * 512, 64 * 2 ** 20);
      assert.equal((await box.run(['readlink', '/dev/disk/azure/resource'])).stdout.trim(), '../../sdb');
      // The kernel cannot parse tables here: the box announced the partition and made the node.
      assert.ok(await waitFor(box, '/dev/sdb1'));
      const blkid = await box.run(['blkid', '-o', 'export', '/dev/sdb1']);
      assert.match(blkid.stdout, /^TYPE=ntfs$/m, blkid.stdout + blkid.stderr);
      assert.match(blkid.stdout, /^LABEL=Temporary\\ Storage$/m);
      const type = await box.run(['sfdisk', '--part-type', '/dev/sdb', '1']);
      assert.equal(type.stdout.trim(), '7');
      const ls = await box.run(['ntfsls', '/dev/sdb1']);
      assert.match(ls.stdout, /DATALOSS_WARNING_README\.txt/);
      // The host's own disks are not in the box's sysfs.
      const blocks = await box.run(['ls', '/sys/block']);
      assert.deepEqual(blocks.stdout.trim().split('\n').sort(), kind === 'scsi-gen2' ? ['sda', 'sdb'] : ['sda', 'sdb']);
    } finally {
      await box.close();
    }
    assert.ok(!losetupList().includes(box.stateDir));
  });
}

test('resource disk (root, loop devices): repartitioned in the box, partitions appear in /dev and mount', async () => {
  const box = await Box.start({ resourceDisk: { sizeMiB: 64, kind: 'scsi-gen2', content: 'blank' } });
  try {
    assert.equal(box.exists('/dev/sdb1'), false);
    const part = await box.run(['sfdisk', '--quiet', '/dev/sdb'], { input: 'label: dos\n,24M,83\n,,83\n' });
    assert.equal(part.code, 0, part.stderr);
    // As with a real kernel and udev: when sfdisk returns, the nodes are there (the box's settle).
    assert.equal(box.exists('/dev/sdb2'), true, `mirror errors: ${box.mirrorErrors().join('; ')}`);
    assert.equal((await box.run(['readlink', '/dev/disk/azure/resource-part2'])).stdout.trim(), '../../sdb2');
    const r = await box.run(['bash', '-c', 'set -e; mkfs.ext4 -q -F /dev/sdb1; mkdir -p /mnt/resource; mount /dev/sdb1 /mnt/resource; echo kept > /mnt/resource/f; grep " /mnt/resource " /proc/mounts']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\/dev\/sdb1 \/mnt\/resource ext4 /);
    // The mount is the box's alone.
    assert.ok(!readFileSync('/proc/mounts', 'utf8').includes('/mnt/resource'));
    // A re-read of the table (this kernel drops all partitions on it) is repaired before the tool
    // returns, so the next command finds the partition, as on Azure.
    const again = await box.run(['bash', '-c', 'umount /mnt/resource && blockdev --rereadpt /dev/sdb && mount /dev/sdb1 /mnt/resource && cat /mnt/resource/f']);
    assert.equal(again.stdout, 'kept\n', again.stderr);
    // udevadm settle works (no udev daemon in the box).
    assert.equal((await box.run(['udevadm', 'settle'])).code, 0);
    // Back to one partition: the stale node goes away.
    await box.run(['umount', '/mnt/resource']);
    await box.run(['sfdisk', '--quiet', '--delete', '/dev/sdb', '2']);
    assert.equal(box.exists('/dev/sdb2'), false);
    assert.equal(box.exists('/dev/sdb1'), true);
  } finally {
    await box.close();
  }
  assert.ok(!losetupList().includes(box.stateDir));
});

test('resource disk (root, loop devices): "data" content is an ext4 partition with a marker file', async () => {
  const box = await Box.start({ resourceDisk: { sizeMiB: 32, kind: 'scsi-gen1', content: 'data' } });
  try {
    assert.ok(await waitFor(box, '/dev/sdb1'));
    const r = await box.run(['bash', '-c', `mkdir -p /mnt/r && mount -o ro /dev/sdb1 /mnt/r && cat /mnt/r/${DATA_MARKER.name}`]);
    assert.equal(r.stdout, DATA_MARKER.content, r.stderr);
  } finally {
    await box.close();
  }
});

test('resource disk nvme (root, loop devices): a raw namespace of a "Microsoft NVMe Direct Disk" controller', async () => {
  const box = await Box.start({ resourceDisk: { sizeMiB: 32, kind: 'nvme' } });
  try {
    const r = await box.run(['bash', '-c', 'for c in /sys/class/nvme/*; do echo "$(basename $c)|$(cat $c/model | sed "s/ *$//")|$(cd $c && ls -d nvme*n* 2>/dev/null)"; done']);
    assert.deepEqual(r.stdout.trim().split('\n'), ['nvme0|MSFT NVMe Accelerator v1.0|nvme0n1', 'nvme1|Microsoft NVMe Direct Disk|nvme1n1']);
    assert.equal(box.exists('/dev/nvme0n1'), false, 'the OS disk has no node in the box');
    assert.equal(box.stat('/dev/nvme1n1').isBlockDevice(), true);
    const loop = box.resourceDisk!.loop;
    assert.equal(box.readFile('/sys/block/nvme1n1/dev').trim(), `${loop.major}:${loop.minor}`);
    const probe = await box.run(['blkid', '-p', '/dev/nvme1n1']);
    assert.equal(probe.code, 2, 'blank: no signature at all');
    assert.equal(box.exists('/sys/bus/vmbus/devices'), false, 'no vmbus storage on this VM kind');
    // Partition names follow NVMe's pattern.
    await box.run(['sfdisk', '--quiet', '/dev/nvme1n1'], { input: 'label: gpt\n,,L\n' });
    assert.ok(await waitFor(box, '/dev/nvme1n1p1'));
  } finally {
    await box.close();
  }
});

for (const kind of ['udf', 'iso9660'] as const) {
  test(`media ${kind} (root, loop devices): /dev/sr0 holds ovf-env.xml; mounting fails on this kernel; the shim extracts it`, async () => {
    const ovf = '<?xml version="1.0"?><Environment>box test ovf</Environment>\n';
    const box = await Box.start({ media: { kind, ovfEnv: ovf }, mountShim: true });
    try {
      assert.equal(box.stat('/dev/sr0').isBlockDevice(), true);
      assert.equal(box.readFile('/sys/block/sr0/removable').trim(), '1');
      assert.equal((await box.run(['stat', '-c', '%G', '/dev/sr0'])).stdout.trim(), 'cdrom');
      // An independent reader sees the file on the device.
      const x = await box.run(['bash', '-c', 'cat /dev/sr0 > /tmp/dvd.img && 7z x -so /tmp/dvd.img ovf-env.xml']);
      assert.equal(x.stdout, ovf, x.stderr);
      const real = await box.run(['/usr/bin/mount', '-o', 'ro', '-t', 'udf,iso9660', '/dev/sr0', '/mnt']);
      assert.notEqual(real.code, 0, 'this kernel has no udf/iso9660: a real mount fails');
      // The shim (first in PATH) makes `mount` produce the file for agents that can only mount.
      const shim = await box.run(['bash', '-c', 'mkdir -p /mnt/cdrom/secure && mount -o ro -t udf,iso9660,vfat /dev/sr0 /mnt/cdrom/secure && cat /mnt/cdrom/secure/ovf-env.xml && umount /mnt/cdrom/secure && ls -A /mnt/cdrom/secure | wc -l']);
      assert.equal(shim.stdout, `${ovf}0\n`, shim.stderr);
    } finally {
      await box.close();
    }
    assert.ok(!losetupList().includes(box.stateDir));
  });
}

test('media from a scenario (root, loop devices): ovf-env.xml rendered by the simulator with the same keys', async () => {
  const box = await Box.start({ scenario: 'test/fabric/scenarios/default.json', media: { kind: 'udf' } });
  try {
    const x = await box.run(['bash', '-c', 'cat /dev/sr0 > /tmp/dvd.img && 7z x -so /tmp/dvd.img ovf-env.xml']);
    assert.equal(x.stdout, await box.fabric!.ovfEnv());
  } finally {
    await box.close();
  }
});

// The project's own discovery code, run inside the box, sees the same hardware as the Python agent.
// (This checkout's sources, at the path the box binds read-only: never another checkout's.)
const src = (m: string) => JSON.stringify(join(PROJECT, 'src', m));
const PROJECT_DISCOVERY = `
const root = new (await import(${src('util/sysroot.ts')})).Sysroot('/');
const disk = await import(${src('os/disk/sysfs.ts')});
const dvd = await import(${src('os/media/dvd.ts')});
const { realRunner } = await import(${src('util/exec.ts')});
const out = { scsi: disk.findScsiResourceDisk(root), nvme: disk.findNvmeTempDisks(root), dvd: await dvd.findDvdCandidates(root) };
const media = await dvd.readProvisioningMedia({ root, runner: realRunner, attempts: 1, delayMs: 0, mountPoint: '/mnt/cdrom/secure' });
console.log(JSON.stringify({ ...out, via: media.via, text: media.text }));
`;

for (const [kind, media] of [['scsi-gen1', 'udf'], ['scsi-gen2', 'iso9660'], ['nvme', 'udf']] as const) {
  test(`our agent's discovery in a ${kind} box with ${media} media (root, loop devices): disk and DVD found, ovf-env read in user space`, async () => {
    const ovf = '<?xml version="1.0"?><Environment>from the box</Environment>\n';
    const box = await Box.start({ resourceDisk: { sizeMiB: 32, kind }, media: { kind: media, ovfEnv: ovf } });
    try {
      const r = await box.run([PINNED_NODE, '--input-type=module', '-e', PROJECT_DISCOVERY], { timeoutMs: 60_000 });
      assert.equal(r.code, 0, r.stderr);
      const got = JSON.parse(r.stdout.trim().split('\n').pop()!) as { scsi: { name: string; generation: number } | null; nvme: string[]; dvd: string[]; via: string; text: string | null };
      if (kind === 'nvme') {
        assert.equal(got.scsi, null);
        assert.deepEqual(got.nvme, ['nvme1n1']);
      } else {
        assert.deepEqual(got.scsi, { name: 'sdb', generation: kind === 'scsi-gen1' ? 1 : 2 });
        assert.deepEqual(got.nvme, []);
      }
      assert.equal(got.dvd[0], '/dev/sr0');
      assert.equal(got.via, media, 'this kernel cannot mount the DVD: read in user space');
      assert.equal(got.text, ovf);
    } finally {
      await box.close();
    }
  });
}
