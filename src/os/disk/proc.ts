// Parsers for the kernel's views of mounts, swaps and partitions. Reading /proc instead of the
// output of `mount`/`swapon -s` avoids a command per check (a converged second run runs none) and
// the regex-on-`mount`-output mistakes of the Python agent (sdb matching sdb1 on another disk).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const MAX_PROC_BYTES = 4 << 20; // a mount table is KiBs; 4 MiB bounds a pathological one

function readProc(proc: string, name: string): string {
  const text = readFileSync(join(proc, name), 'utf8');
  return text.length > MAX_PROC_BYTES ? text.slice(0, MAX_PROC_BYTES) : text;
}

/** The kernel escapes space, tab, newline and backslash in these files as \ooo octal. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export interface MountEntry {
  /** "major:minor" of the mounted filesystem's device (st_dev). */
  majMin: string;
  mountPoint: string;
  options: string;
  fsType: string;
  source: string;
}

/** /proc/<pid>/mountinfo: `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0 || dash + 2 >= f.length) continue; // malformed lines are skipped
    out.push({
      majMin: f[2]!,
      mountPoint: unescapeOctal(f[4]!),
      options: f[5]!,
      fsType: f[dash + 1]!,
      source: unescapeOctal(f[dash + 2]!),
    });
  }
  return out;
}

export interface SwapEntry { path: string; type: string; sizeKiB: number }

/** /proc/swaps: a header line, then `Filename Type Size Used Priority` (sizes in KiB). */
export function parseSwaps(text: string): SwapEntry[] {
  const out: SwapEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || !f[0]) continue;
    // A swap file deleted while active shows as "path (deleted)": keep the path itself.
    out.push({ path: unescapeOctal(f[0]), type: f[1]!, sizeKiB: Number(f[2]) || 0 });
  }
  return out;
}

export interface KernelPartition { major: number; minor: number; blocks: number; name: string }

/** /proc/partitions: `major minor #blocks name` for every block device the kernel knows. */
export function parsePartitions(text: string): KernelPartition[] {
  const out: KernelPartition[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(\S+)\s*$/.exec(line);
    if (m) out.push({ major: Number(m[1]), minor: Number(m[2]), blocks: Number(m[3]), name: m[4]! });
  }
  return out;
}

export function readMounts(proc: string): MountEntry[] { return parseMountinfo(readProc(proc, 'self/mountinfo')); }

/** Missing /proc/swaps (kernel without swap support) means no swap is active. */
export function readSwaps(proc: string): SwapEntry[] {
  try { return parseSwaps(readProc(proc, 'swaps')); } catch { return []; }
}

export function readPartitions(proc: string): KernelPartition[] {
  try { return parsePartitions(readProc(proc, 'partitions')); } catch { return []; }
}
