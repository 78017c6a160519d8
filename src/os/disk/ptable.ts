// Partition tables with sfdisk: read as JSON, write a fresh one-partition table.
import type { Runner } from '../../util/exec.ts';
import { DiskError } from './errors.ts';

export type Label = 'dos' | 'gpt';
export interface TablePartition { node: string; start: number; size: number; type: string }
export interface PartitionTable { label: string; partitions: TablePartition[] }

/** Linux filesystem partition type: MBR id 83, GPT 0FC63DAF-8483-4772-8E79-3D69D8477DE4 ("L"). */
const LINUX_TYPE: Record<Label, string> = { dos: '83', gpt: '0FC63DAF-8483-4772-8E79-3D69D8477DE4' };

/** MBR cannot address more than 2 TiB with 512-byte sectors: larger disks get GPT. */
export const MBR_LIMIT_BYTES = 2 ** 41;

export function labelForSize(bytes: number): Label { return bytes >= MBR_LIMIT_BYTES ? 'gpt' : 'dos'; }

/** `sfdisk --json <dev>`; throws DiskError naming the field when the answer is not what sfdisk writes. */
export async function readPartitionTable(runner: Runner, hostDev: string): Promise<PartitionTable> {
  const r = await runner.run(['sfdisk', '--json', hostDev], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new DiskError(hostDev, `sfdisk --json failed: exit ${r.code} ${r.stderr.trim().slice(0, 200)}`, 'partition table');
  let doc: unknown;
  try { doc = JSON.parse(r.stdout); } catch { throw new DiskError(hostDev, 'sfdisk --json printed no JSON', 'partition table'); }
  const pt = (doc as { partitiontable?: unknown } | null)?.partitiontable as Record<string, unknown> | undefined;
  if (!pt || typeof pt.label !== 'string') throw new DiskError(hostDev, 'no partitiontable.label in sfdisk output', 'partition table');
  const parts = Array.isArray(pt.partitions) ? pt.partitions : [];
  const partitions: TablePartition[] = [];
  for (const p of parts.slice(0, 256) as Record<string, unknown>[]) {
    if (typeof p?.node !== 'string' || typeof p.start !== 'number' || typeof p.size !== 'number') {
      throw new DiskError(hostDev, 'partition entry without node/start/size', 'partition table');
    }
    partitions.push({ node: p.node, start: p.start, size: p.size, type: String(p.type ?? '') });
  }
  return { label: pt.label, partitions };
}

/** Partition number of a node sfdisk listed for `hostDev` (`/x/dev/sdb2` → 2, `.../nvme0n1p3` → 3). */
export function partitionNumber(hostDev: string, node: string): number | null {
  if (!node.startsWith(hostDev)) return null;
  const m = /^p?(\d+)$/.exec(node.slice(hostDev.length));
  return m ? Number(m[1]) : null;
}

/**
 * Replaces whatever table is on the disk with one Linux partition spanning it (1 MiB aligned).
 * `--wipe always` clears old signatures on the disk, `--wipe-partitions always` those inside the
 * new partition (the NTFS boot sector), so no stale signature survives next to the new filesystem.
 */
export async function writeSinglePartitionTable(runner: Runner, hostDev: string, label: Label): Promise<void> {
  const script = `label: ${label}\n,,${LINUX_TYPE[label]}\n`;
  const r = await runner.run(
    ['sfdisk', '--quiet', '--wipe', 'always', '--wipe-partitions', 'always', hostDev],
    { input: script, timeoutMs: 120_000 },
  );
  if (r.code !== 0) throw new DiskError(hostDev, `sfdisk failed: exit ${r.code} ${r.stderr.trim().slice(0, 300)}`, 'partition table');
}
