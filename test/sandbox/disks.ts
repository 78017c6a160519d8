// Disks for a box: sparse image files attached as loop devices.
//
// Resource disk contents (what Azure hands a VM, docs/os.md §5.2):
//   blank  raw zeros, no partition table (as NVMe temp disks arrive);
//   ntfs   MBR, one partition of type 7 with NTFS labelled "Temporary Storage" holding
//          DATALOSS_WARNING_README.txt (a fresh SCSI resource disk);
//   data   MBR, one Linux partition with ext4 and a marker file (a disk the agent already formatted,
//          as found after a reboot without reallocation: it must be mounted, never reformatted).
//
// Crash safety: the backing file is unlinked as soon as it is attached (the loop device keeps it
// alive), and the device is detached lazily at once while this process holds it open (`losetup -d`
// on a busy device sets autoclear). The box's PID 1 opens it too, so the kernel frees the device
// when the last of them closes it — the box dies or the test process is killed, close() or not.
//
// This kernel has no partition-table parsers (no CONFIG_MSDOS_PARTITION/EFI_PARTITION), so partitions
// are announced with `partx` (BLKPG) from user space: here, and while the box runs in devmirror.ts.
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec, execOk } from '../../src/util/exec.ts';

export type DiskContent = 'blank' | 'ntfs' | 'data';

export interface LoopDevice {
  /** Host device path, /dev/loopN. */
  path: string;
  /**
   * An fd on the device held by this process from the moment it is attached; the device is
   * detached lazily at once, so the kernel frees it when the last holder (this fd, then the box's
   * PID 1) closes — even if this process is killed. -1 once released.
   */
  holdFd: number;
  name: string;
  major: number;
  minor: number;
  sizeBytes: number;
}

export const DATALOSS_WARNING = [
  'WARNING: THIS IS A TEMPORARY DISK.',
  '',
  'Any data stored on this drive is SUBJECT TO LOSS and THERE IS NO WAY TO RECOVER IT.',
  '',
  'Please do not use this disk for storing any personal or application data.',
  '',
].join('\r\n');

/** The marker file a `data` resource disk carries at the root of its ext4 file system. */
export const DATA_MARKER = { name: 'box-data-marker.txt', content: 'data written before the reboot\n' };

function loopInfo(path: string, holdFd: number): LoopDevice {
  const name = path.replace(/^\/dev\//, '');
  const [major, minor] = readFileSync(`/sys/block/${name}/dev`, 'utf8').trim().split(':').map(Number);
  const sizeBytes = Number(readFileSync(`/sys/block/${name}/size`, 'utf8').trim()) * 512;
  return { path, name, major: major!, minor: minor!, sizeBytes, holdFd };
}

/**
 * Attach `file` to a free loop device (with partition scanning), unlink the file, hold the device
 * open and detach it lazily (see LoopDevice.holdFd): from here on nothing can leak.
 */
export async function attachLoop(file: string, readOnly = false): Promise<LoopDevice> {
  const argv = ['losetup', '--find', '--show', '--partscan'];
  if (readOnly) argv.push('--read-only');
  const r = await execOk([...argv, file], { timeoutMs: 30_000 });
  rmSync(file, { force: true });
  const path = r.stdout.trim();
  const fd = openSync(path, 'r');
  await exec(['losetup', '--detach', path], { timeoutMs: 10_000 });
  return loopInfo(path, fd);
}

/** Lets go of this process's hold on the device (the box's PID 1 or the kernel take over). */
export function releaseLoop(dev: LoopDevice): void {
  if (dev.holdFd < 0) return;
  try { closeSync(dev.holdFd); } catch { /* closed */ }
  dev.holdFd = -1;
}

/**
 * Detaches loop devices left attached (not lazily) by a box whose state dir is gone or stale:
 * only possible if a process died in the instant between attach and lazy detach.
 */
export async function sweepLoops(stateBase: string, isLive: (stateDir: string) => boolean): Promise<string[]> {
  const out: string[] = [];
  let names: string[] = [];
  try { names = readdirSync('/sys/block').filter((n) => n.startsWith('loop')); } catch { return out; }
  for (const n of names) {
    let back = '';
    let autoclear = '';
    try {
      back = readFileSync(`/sys/block/${n}/loop/backing_file`, 'utf8').trim();
      autoclear = readFileSync(`/sys/block/${n}/loop/autoclear`, 'utf8').trim();
    } catch { continue; }
    const m = new RegExp(`^(${stateBase.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/waagent-box-[^/]+)/box-`).exec(back);
    if (!m || autoclear === '1' || isLive(m[1]!)) continue;
    await exec(['losetup', '--detach', `/dev/${n}`], { timeoutMs: 10_000 });
    out.push(`/dev/${n}`);
  }
  return out;
}

/** Detach (lazily if still busy). Missing or already detached devices are not an error. */
export async function detachLoop(dev: LoopDevice, backingMarker?: string): Promise<void> {
  // Guard against detaching a device some other test attached after ours went away.
  if (backingMarker) {
    let back = '';
    try { back = readFileSync(`/sys/block/${dev.name}/loop/backing_file`, 'utf8'); } catch { return; }
    if (!back.includes(backingMarker)) return;
  }
  await exec(['losetup', '--detach', dev.path], { timeoutMs: 10_000 });
}

/** Announce the partitions of the table on `dev` to the kernel (it cannot parse tables itself). */
export async function updatePartitions(dev: string): Promise<void> {
  await exec(['partx', '--update', dev], { timeoutMs: 10_000 });
}

async function waitForNode(p: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try { readFileSync(`/sys/class/block/${p.replace('/dev/', '')}/dev`); return; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`partition ${p} did not appear`);
}

/** Creates the resource disk image (sparse) in `dir`, attaches it and fills it. */
export async function makeResourceDisk(dir: string, sizeMiB: number, content: DiskContent): Promise<LoopDevice> {
  if (!Number.isInteger(sizeMiB) || sizeMiB < 16 || sizeMiB > 1024 * 1024) {
    throw new Error(`resourceDisk.sizeMiB must be an integer from 16 to 1048576, got ${sizeMiB}`);
  }
  const file = join(dir, 'box-resource-disk.img');
  writeFileSync(file, '');
  truncateSync(file, sizeMiB * 2 ** 20);
  if (content !== 'blank') {
    // sfdisk works on the regular file: no device needed for the table.
    await execOk(['sfdisk', '--quiet', '--no-reread', file], { input: `label: dos\nstart=2048, type=${content === 'ntfs' ? '7' : '83'}\n`, timeoutMs: 30_000 });
  }
  const loop = await attachLoop(file);
  try {
    if (content === 'blank') return loop;
    await updatePartitions(loop.path);
    const part = `${loop.path}p1`;
    await waitForNode(part);
    if (content === 'ntfs') {
      await execOk(['mkntfs', '--quick', '--quiet', '--force', '--label', 'Temporary Storage', '--partition-start', '2048', part], { timeoutMs: 60_000 });
      const tmp = mkdtempSync(join(dir, 'ntfs-'));
      const readme = join(tmp, 'DATALOSS_WARNING_README.txt');
      writeFileSync(readme, DATALOSS_WARNING);
      await execOk(['ntfscp', '--force', part, readme, 'DATALOSS_WARNING_README.txt'], { timeoutMs: 60_000 });
      rmSync(tmp, { recursive: true, force: true });
    } else {
      const tmp = mkdtempSync(join(dir, 'ext4-'));
      mkdirSync(join(tmp, 'root'));
      writeFileSync(join(tmp, 'root', DATA_MARKER.name), DATA_MARKER.content);
      await execOk(['mkfs.ext4', '-q', '-F', '-d', join(tmp, 'root'), part], { timeoutMs: 60_000 });
      rmSync(tmp, { recursive: true, force: true });
    }
    return loop;
  } catch (e) {
    releaseLoop(loop);
    throw e;
  }
}
