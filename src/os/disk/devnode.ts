// Device nodes: partition naming, the kernel's number for a node, and making sure the node of a
// partition exists after the table was (re)written.
import { existsSync, statSync } from 'node:fs';
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
 * Inner path of partition `n` of `disk`, making the node when the kernel has the partition but no
 * device manager created it (a static /dev, a test root): mknod with the kernel's own numbers is
 * what devtmpfs would have done. Returns null when the kernel does not (yet) know the partition.
 */
export async function partitionNode(env: DiskEnv, disk: string, n: number): Promise<string | null> {
  const inner = `/dev/${partitionName(disk, n)}`;
  const host = env.root.path(inner);
  if (existsSync(host)) return inner;
  const kp = kernelPartitionsOf(env, env.root.path(`/dev/${disk}`)).get(n);
  if (!kp) return null;
  const r = await env.runner.run(['mknod', '-m', '0660', host, 'b', String(kp.major), String(kp.minor)]);
  if (r.code !== 0 && !existsSync(host)) return null;
  env.log.info(`Created device node ${inner} (${kp.major}:${kp.minor}): no device manager made it`);
  return inner;
}

/**
 * After a partition table was written: wait (bounded: `tries` × `intervalMs`) for partition `n`,
 * asking the kernel to re-read the table once, as udev may lag or the re-read may have raced.
 */
export async function waitForPartition(env: DiskEnv, disk: string, n: number, tries = 5, intervalMs = 2000): Promise<string | null> {
  for (let i = 0; i < tries; i++) {
    const node = await partitionNode(env, disk, n);
    if (node) return node;
    if (i === 0) await env.runner.run(['blockdev', '--rereadpt', env.root.path(`/dev/${disk}`)], { timeoutMs: 30_000 });
    await env.sleep(intervalMs);
  }
  return null;
}
