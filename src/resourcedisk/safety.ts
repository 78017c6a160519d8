// "May this disk be formatted?" The Python agent formats whenever mounting fails; we format only
// what is provably disposable (docs/os.md §5.2 recommendation, §13 "verify NTFS/blank before mkfs"):
// a blank disk, empty partitions, or the NTFS volume Azure delivers holding only its own notice.
// Anything else — an unknown filesystem, LVM, RAID, LUKS, data without a signature — is left alone.
import type { DiskEnv } from '../os/disk/env.ts';
import { partitionNode } from '../os/disk/devnode.ts';
import { inspectNtfs } from '../os/disk/ntfs.ts';
import { isZeroed, probeSignature } from '../os/disk/probe.ts';
import type { Signature } from '../os/disk/probe.ts';
import { partitionNumber, readPartitionTable } from '../os/disk/ptable.ts';
import type { Label } from '../os/disk/ptable.ts';

export type Verdict =
  | { safe: true; why: string; label?: Label }
  | { safe: false; reason: string };

function describe(sig: Signature): string {
  if (sig.type === 'ambivalent') return 'several conflicting signatures';
  if (sig.type) return `a ${sig.type} signature${sig.label ? ` (label "${sig.label.slice(0, 40)}")` : ''}`;
  return `a ${sig.ptType} partition table`;
}

/** A disk used whole (NVMe): formatted only when it has no signature at all and its start is zeros. */
export async function assessWholeDisk(env: DiskEnv, devInner: string): Promise<Verdict> {
  const host = env.root.path(devInner);
  const sig = await probeSignature(env.runner, host);
  if (sig) return { safe: false, reason: `it holds ${describe(sig)}` };
  if (!isZeroed(host)) return { safe: false, reason: 'it has no known signature but is not blank' };
  return { safe: true, why: 'blank disk' };
}

/** The partitioned SCSI resource disk. */
export async function assessPartitionedDisk(env: DiskEnv, disk: string, fs: string): Promise<Verdict> {
  const devInner = `/dev/${disk}`;
  const host = env.root.path(devInner);
  const whole = await probeSignature(env.runner, host);
  if (!whole) {
    return isZeroed(host) ? { safe: true, why: 'blank disk' } : { safe: false, reason: 'it has no known signature but is not blank' };
  }
  if (whole.type) return { safe: false, reason: `it holds ${describe(whole)} on the whole disk` };
  const table = await readPartitionTable(env.runner, host);
  const label: Label | undefined = table.label === 'dos' || table.label === 'gpt' ? table.label : undefined;
  let ntfs = 0;
  for (const p of table.partitions) {
    const n = partitionNumber(host, p.node);
    if (n === null) return { safe: false, reason: `its partition ${p.node} has an unexpected name` };
    const node = await partitionNode(env, disk, n);
    if (!node) return { safe: false, reason: `its partition ${n} is not visible to the kernel, so its content cannot be checked` };
    const nodeHost = env.root.path(node);
    const sig = await probeSignature(env.runner, nodeHost);
    if (!sig) {
      // Unformatted partitions (e.g. Microsoft Reserved) are disposable only if they are really empty.
      if (!isZeroed(nodeHost, 1 << 20)) return { safe: false, reason: `its partition ${n} holds data without a known signature` };
      continue;
    }
    if (sig.type === 'ntfs') {
      const v = inspectNtfs(nodeHost);
      if (v.kind === 'has-data') {
        return { safe: false, reason: `its partition ${n} is NTFS holding ${v.count} file(s) besides what Azure puts there (e.g. "${v.example}")` };
      }
      if (v.kind === 'unverifiable') return { safe: false, reason: `its partition ${n} is NTFS that could not be verified (${v.reason})` };
      ntfs++;
      continue;
    }
    const extra = sig.type === fs ? ' that does not mount' : '';
    return { safe: false, reason: `its partition ${n} holds ${describe(sig)}${extra}` };
  }
  const why = ntfs ? 'the NTFS temporary disk Azure delivers, holding only its data-loss notice' : 'a partition table without data';
  return label ? { safe: true, why, label } : { safe: true, why };
}
