// mount/umount and "is this device mounted" from the kernel's mount table.
import type { ExecResult, Runner } from '../../util/exec.ts';
import type { DiskEnv } from './env.ts';
import { toInner } from './env.ts';
import { blockDevNum, kernelPartitionsOf } from './devnode.ts';
import { readMounts } from './proc.ts';
import type { MountEntry } from './proc.ts';

export function mountArgv(fs: string, options: string | null, hostDev: string, hostMountPoint: string): string[] {
  return ['mount', '-t', fs, ...(options ? ['-o', options] : []), hostDev, hostMountPoint];
}

export function mount(runner: Runner, fs: string, options: string | null, hostDev: string, hostMountPoint: string): Promise<ExecResult> {
  return runner.run(mountArgv(fs, options, hostDev, hostMountPoint), { timeoutMs: 120_000 });
}

export interface Mounted { mountPoint: string; fsType: string; source: string }

/**
 * Where the disk, or any of its partitions, is mounted (inner paths), or null. Matched by the
 * kernel's major:minor when the node is a real block device, and by source path otherwise, so a
 * mount made through another node name (/dev/disk/azure/resource-part1) is still recognised.
 */
export function findMountOfDisk(env: DiskEnv, diskInner: string): Mounted | null {
  const host = env.root.path(diskInner);
  const nums = new Set<string>();
  const dn = blockDevNum(host);
  if (dn) nums.add(`${dn.major}:${dn.minor}`);
  for (const p of kernelPartitionsOf(env, host).values()) nums.add(`${p.major}:${p.minor}`);
  // Process-view paths: with a temp root they are host paths, never the inner /dev/sdb of the host.
  const sourceRe = new RegExp(`^${escapeRe(host)}(p?\\d+)?$`);
  const hit = readMounts(env.proc).find((m: MountEntry) => nums.has(m.majMin) || sourceRe.test(m.source));
  return hit ? { mountPoint: toInner(env, hit.mountPoint), fsType: hit.fsType, source: hit.source } : null;
}

/** The filesystem type mounted exactly at an inner mount point, if any. */
export function mountedAt(env: DiskEnv, innerMountPoint: string): MountEntry | null {
  const host = env.root.path(innerMountPoint);
  const all = readMounts(env.proc).filter((m) => m.mountPoint === host);
  return all.length ? all[all.length - 1]! : null; // the last one stacked on top is the visible one
}

function escapeRe(s: string): string { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); }
