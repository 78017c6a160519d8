// Device nodes: partition naming, the kernel's number for a node, and making sure the node of a
// partition exists after the table was (re)written.
import { existsSync, rmSync, statSync } from 'node:fs';
import type { DiskEnv } from './env.ts';
import { readPartitions } from './proc.ts';
import type { KernelPartition } from './proc.ts';

/** `sdb` → `sdb1`; names ending in a digit get a `p`: `nvme0n1` → `nvme0n1p1`, `loop3` → `loop3p1`. */
export function partitionName(disk: string, n: number): string {
  return /\d$/.test(disk) ? `${disk}p${n}` : `${disk}${n}`;
}

export interface DevNum { major: number; minor: number }

/** major:minor of a block device node, or null when the path is not a block device (unit-test files). */
export function blockDevNum(hostPath: string): DevNum | null {
  try {
    const st = statSync(hostPath, { bigint: true });
    if (!st.isBlockDevice()) return null;
    const d = st.rdev;
    // Linux dev_t layout (glibc gnu_dev_major/minor).
    const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
    const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
    return { major, minor };
  } catch { return null; }
}

/**
 * The kernel's partitions of a disk node, found through /proc/partitions by the node's major:minor.
 * The node may carry another name than the kernel's (a test's /dev/sdb made from loop3), so the
 * partitions are named after the kernel name (`loop3p1`), and numbered by their suffix.
 */
export function kernelPartitionsOf(env: DiskEnv, diskHostPath: string): Map<number, KernelPartition> {
  const out = new Map<number, KernelPartition>();
  const num = blockDevNum(diskHostPath);
  if (!num) return out;
  const all = readPartitions(env.proc);
  const disk = all.find((p) => p.major === num.major && p.minor === num.minor);
  if (!disk) return out;
  const re = new RegExp(`^${disk.name.replace(/[^a-z0-9]/gi, '')}${/\d$/.test(disk.name) ? 'p' : ''}(\\d+)$`);
  for (const p of all) {
    const m = re.exec(p.name);
    if (m) out.set(Number(m[1]), p);
  }
  return out;
}

/**
 * Inner path of partition `n` of `disk`, or null when the kernel does not (yet) know the partition.
 * When the disk node is a real block device the kernel is the authority: a node left from an old
 * table (the kernel dropped that partition when the table was rewritten) is not trusted, and a
 * missing or stale node is made with mknod from the kernel's own numbers — what devtmpfs/udev do,
 * for roots with a static /dev (the sandbox, a test root). Without a real device (unit tests) the
 * node's existence is all there is to check.
 */
export async function partitionNode(env: DiskEnv, disk: string, n: number): Promise<string | null> {
  const inner = `/dev/${partitionName(disk, n)}`;
  const host = env.root.path(inner);
  const diskHost = env.root.path(`/dev/${disk}`);
  if (!blockDevNum(diskHost)) return existsSync(host) ? inner : null;
  const kp = kernelPartitionsOf(env, diskHost).get(n);
  if (!kp) return null;
  const have = blockDevNum(host);
  if (have && have.major === kp.major && have.minor === kp.minor) return inner;
  if (existsSync(host)) {
    if (!have) return null; // something else than a device node sits there: leave it, do not use it
    rmSync(host, { force: true }); // a block node with stale numbers
  }
  const r = await env.runner.run(['mknod', '-m', '0660', host, 'b', String(kp.major), String(kp.minor)]);
  const made = blockDevNum(host);
  if (r.code !== 0 || !made || made.major !== kp.major || made.minor !== kp.minor) return null;
  env.log.info(`Created device node ${inner} (${kp.major}:${kp.minor}): no device manager made it`);
  return inner;
}

/**
 * After a partition table was written: wait (bounded: `tries` × `intervalMs`) for partition `n`.
 * Each round asks the kernel to pick up the table with `partx --update` (BLKPG from user space:
 * works where the in-kernel re-read raced, the device was busy, or the kernel has no parser for the
 * label), falling back to `blockdev --rereadpt` where partx is missing.
 */
export async function waitForPartition(env: DiskEnv, disk: string, n: number, tries = 5, intervalMs = 2000): Promise<string | null> {
  const dev = env.root.path(`/dev/${disk}`);
  // Where udev runs, let it finish the events of the new table first (exit 127: no udev, fine).
  await env.runner.run(['udevadm', 'settle', '--timeout=30'], { timeoutMs: 40_000 });
  for (let i = 0; i < tries; i++) {
    let node = await partitionNode(env, disk, n);
    if (node) return node;
    const r = await env.runner.run(['partx', '--update', dev], { timeoutMs: 30_000 });
    if (r.code === 127) await env.runner.run(['blockdev', '--rereadpt', dev], { timeoutMs: 30_000 });
    node = await partitionNode(env, disk, n);
    if (node) return node;
    await env.sleep(intervalMs);
  }
  return null;
}
