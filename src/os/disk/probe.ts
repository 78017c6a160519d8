// What is on a device: blkid's low-level probe (no cache, reads the device itself) and a check
// that the start of a device is all zeros, the two facts the "safe to format" rule rests on.
import { closeSync, openSync, readSync } from 'node:fs';
import type { Runner } from '../../util/exec.ts';
import { DiskError } from './errors.ts';
import { errorText } from '../../util/errors.ts';

export interface Signature {
  /** Filesystem or other content type: ext4, xfs, ntfs, swap, LVM2_member, crypto_LUKS... */
  type?: string;
  /** Partition table type: dos, gpt. */
  ptType?: string;
  label?: string;
  /** blkid's USAGE: filesystem, raid (LVM, md), crypto (LUKS), other (swap). */
  usage?: string;
  /** For a partition: its type in the table (0x7, or a GPT type GUID). */
  partEntryType?: string;
}

/**
 * `blkid -p -o export <dev>`. Returns null when no signature is found (exit 2). Several
 * conflicting signatures (exit 8, "ambivalent") is reported as type `ambivalent`: callers must
 * treat it as unknown content, never as blank.
 */
export async function probeSignature(runner: Runner, hostPath: string): Promise<Signature | null> {
  const r = await runner.run(['blkid', '-p', '-o', 'export', hostPath], { timeoutMs: 60_000 });
  if (r.code === 2) return null;
  if (r.code === 8) return { type: 'ambivalent' };
  if (r.code !== 0) throw new DiskError(hostPath, `blkid failed: exit ${r.code} ${r.stderr.trim().slice(0, 200)}`, 'signature');
  const kv = new Map<string, string>();
  for (const line of r.stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) kv.set(line.slice(0, i), line.slice(i + 1));
  }
  const sig: Signature = {};
  if (kv.has('TYPE')) sig.type = kv.get('TYPE')!;
  if (kv.has('PTTYPE')) sig.ptType = kv.get('PTTYPE')!;
  if (kv.has('LABEL')) sig.label = kv.get('LABEL')!;
  if (kv.has('USAGE')) sig.usage = kv.get('USAGE')!;
  if (kv.has('PART_ENTRY_TYPE')) sig.partEntryType = kv.get('PART_ENTRY_TYPE')!;
  // A partition with no content signature still reports PART_ENTRY_* keys: that is no signature.
  return sig.type || sig.ptType ? sig : null;
}

/** Bytes checked by `isZeroed`: enough to cover partition tables, boot sectors and superblocks. */
export const ZERO_CHECK_BYTES = 4 << 20;

/** True when the first `bytes` of the device (or all of it, if smaller) are zero. */
export function isZeroed(hostPath: string, bytes = ZERO_CHECK_BYTES): boolean {
  let fd = -1;
  try {
    fd = openSync(hostPath, 'r');
    const buf = Buffer.alloc(1 << 20);
    let done = 0;
    while (done < bytes) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, bytes - done), done);
      if (n <= 0) break;
      for (let i = 0; i < n; i++) if (buf[i] !== 0) return false;
      done += n;
    }
    return true;
  } catch (e) {
    throw new DiskError(hostPath, `cannot read: ${errorText(e)}`, 'content');
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}
