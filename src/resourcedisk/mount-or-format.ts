// Mount first, format second (docs/os.md §5.2): if the disk's filesystem mounts, use it; only when it
// does not, and the disk is safe to format (safety.ts), partition + mkfs + mount. A disk already
// mounted anywhere is used where it is, with no command run at all.
import { chmodSync, existsSync, mkdirSync, statSync } from 'node:fs';
import type { ExecResult } from '../util/exec.ts';
import type { DiskEnv } from '../os/disk/env.ts';
import { DiskError } from '../os/disk/errors.ts';
import { blockDevNum, partitionName, partitionNode, waitForPartition } from '../os/disk/devnode.ts';
import { makeFilesystem, mkfsArgv } from '../os/disk/mkfs.ts';
import { findMountOfDisk, mount } from '../os/disk/mount.ts';
import { probeSignature } from '../os/disk/probe.ts';
import { labelForSize, writeSinglePartitionTable } from '../os/disk/ptable.ts';
import type { Label } from '../os/disk/ptable.ts';
import type { TempDisk } from './discover.ts';
import { assessPartitionedDisk, assessWholeDisk } from './safety.ts';
import { errorText } from '../util/errors.ts';

export interface MountSettings { filesystem: string; mountPoint: string; mountOptions: string | null }

export type MountOutcome =
  | { outcome: 'already-mounted' | 'mounted' | 'formatted'; mountPoint: string; fsType: string; message: string }
  | { outcome: 'refused'; message: string };

export interface PartitionWait { tries: number; intervalMs: number }

function ensureMountPoint(env: DiskEnv, mp: string): void {
  const host = env.root.path(mp);
  try {
    mkdirSync(host, { recursive: true, mode: 0o755 });
    if ((statSync(host).mode & 0o7777) !== 0o755) chmodSync(host, 0o755);
  } catch (e) {
    throw new DiskError(mp, `cannot create mount point: ${errorText(e)}`, 'ResourceDisk.MountPoint');
  }
}

async function diskSizeBytes(env: DiskEnv, disk: string): Promise<number | null> {
  const r = await env.runner.run(['blockdev', '--getsize64', env.root.path(`/dev/${disk}`)], { timeoutMs: 30_000 });
  const n = Number(r.stdout.trim());
  return r.code === 0 && Number.isSafeInteger(n) && n > 0 ? n : null;
}

/** Mounts `nodeInner` if it carries the configured filesystem; otherwise says why not. */
async function tryMount(env: DiskEnv, nodeInner: string, s: MountSettings): Promise<'ok' | string> {
  const host = env.root.path(nodeInner);
  const sig = await probeSignature(env.runner, host);
  // A filesystem other than the configured one may still mount with -t <fs> (ext4 mounts ext3), so
  // the kernel decides; no filesystem (LVM, LUKS, swap, nothing), or Azure's NTFS when we want
  // something else, never mounts: skip the attempt and its kernel noise.
  const isFs = sig?.type === s.filesystem || (sig?.usage === 'filesystem' && sig.type !== 'ntfs');
  if (!isFs) {
    return `it holds ${sig?.type ?? 'no filesystem'}, not ${s.filesystem}`;
  }
  const r = await mount(env.runner, s.filesystem, s.mountOptions, host, env.root.path(s.mountPoint));
  if (r.code === 0) return 'ok';
  return `mount exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(0, 200)}`;
}

const DEVICE_GONE = /not a valid block device|no such device|does not exist|No medium found/i;

/**
 * Runs `action` on partition 1 right after the table was written. A device manager may re-read the
 * table under us (udev's "watch" rule does when a writer closes the disk; the sandbox's mirror too),
 * so the partition can vanish for a moment and come back with new numbers: when the action failed
 * because of that, the node is looked up again and the action retried (3 attempts in all).
 */
async function onPartition(env: DiskEnv, disk: string, wait: PartitionWait, what: string, action: (host: string) => Promise<ExecResult>): Promise<string> {
  let last = '';
  for (let attempt = 1; attempt <= 3; attempt++) {
    const node = await waitForPartition(env, disk, 1, wait.tries, wait.intervalMs);
    if (!node) throw new DiskError(`/dev/${disk}`, `Partition was not created [/dev/${partitionName(disk, 1)}]`, 'partition');
    const before = blockDevNum(env.root.path(node));
    const r = await action(env.root.path(node));
    if (r.code === 0) return node;
    last = `[${r.code}] ${(r.stderr || r.stdout).trim().slice(0, 300)}`;
    if (!before) break; // no kernel device behind the node (unit tests): nothing can have moved
    const now = await partitionNode(env, disk, 1);
    const after = now ? blockDevNum(env.root.path(now)) : null;
    const moved = !after || after.major !== before.major || after.minor !== before.minor;
    if (!moved && !DEVICE_GONE.test(last)) break;
    env.log.info(`/dev/${partitionName(disk, 1)} changed under ${what} (the partition table was re-read); retrying`);
    await env.sleep(Math.min(wait.intervalMs, 1000));
  }
  throw new DiskError(`/dev/${partitionName(disk, 1)}`, `${what === 'mount' ? 'Could not mount after formatting' : `${what} failed`}: ${last}`, what);
}

export async function mountOrFormat(env: DiskEnv, disk: TempDisk, s: MountSettings, wait: PartitionWait): Promise<MountOutcome> {
  const devInner = `/dev/${disk.name}`;
  if (!existsSync(env.root.path(devInner))) throw new DiskError(devInner, 'device node does not exist', 'device');
  const whole = disk.kind === 'nvme'; // NVMe temp disks are used whole, like azure-vm-utils does

  const already = findMountOfDisk(env, devInner);
  if (already) {
    const message = `Resource disk ${devInner} is already mounted at ${already.mountPoint} (${already.fsType})`;
    env.log.info(message);
    return { outcome: 'already-mounted', mountPoint: already.mountPoint, fsType: already.fsType, message };
  }
  ensureMountPoint(env, s.mountPoint);

  // 1. Mount first.
  const target = whole ? devInner : await partitionNode(env, disk.name, 1);
  let why = 'it has no partition 1';
  if (target) {
    const r = await tryMount(env, target, s);
    if (r === 'ok') {
      const message = `Resource disk ${devInner} is mounted at ${s.mountPoint} with ${s.filesystem}`;
      env.log.info(message);
      return { outcome: 'mounted', mountPoint: s.mountPoint, fsType: s.filesystem, message };
    }
    const raced = findMountOfDisk(env, devInner); // mounted meanwhile by someone else ("already mounted")
    if (raced) return { outcome: 'already-mounted', mountPoint: raced.mountPoint, fsType: raced.fsType, message: `Resource disk ${devInner} is mounted at ${raced.mountPoint}` };
    why = `${target} did not mount: ${r}`;
  }

  // 2. Format only what is safe to format.
  const verdict = whole ? await assessWholeDisk(env, devInner) : await assessPartitionedDisk(env, disk.name, s.filesystem);
  if (!verdict.safe) {
    const message = `Resource disk ${devInner} was NOT formatted because ${verdict.reason}; the agent formats only a blank temporary disk or the NTFS one Azure delivers (${why})`;
    env.log.warn(message);
    return { outcome: 'refused', message };
  }
  env.log.info(`Formatting resource disk ${devInner} (${verdict.why}) with ${s.filesystem}`);
  if (whole) {
    await makeFilesystem(env.runner, s.filesystem, env.root.path(devInner));
    const r = await mount(env.runner, s.filesystem, s.mountOptions, env.root.path(devInner), env.root.path(s.mountPoint));
    if (r.code !== 0) throw new DiskError(devInner, `Could not mount after formatting: [${r.code}] ${(r.stderr || r.stdout).trim().slice(0, 300)}`, 'mount');
  } else {
    const label: Label = verdict.label ?? labelForSize((await diskSizeBytes(env, disk.name)) ?? 0);
    await writeSinglePartitionTable(env.runner, env.root.path(devInner), label);
    await onPartition(env, disk.name, wait, 'mkfs', (host) => env.runner.run(mkfsArgv(s.filesystem, host), { timeoutMs: 15 * 60_000 }));
    await onPartition(env, disk.name, wait, 'mount', (host) => mount(env.runner, s.filesystem, s.mountOptions, host, env.root.path(s.mountPoint)));
  }
  const message = `Resource disk ${devInner} is mounted at ${s.mountPoint} with ${s.filesystem}`;
  env.log.info(message);
  return { outcome: 'formatted', mountPoint: s.mountPoint, fsType: s.filesystem, message };
}
