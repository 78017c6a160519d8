// Swap files: allocated without holes, 0600 from the first byte, mkswap/swapon/swapoff, and the
// kernel's list of active swaps.
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, statSync, unlinkSync } from 'node:fs';
import type { Runner } from '../../util/exec.ts';
import type { DiskEnv } from './env.ts';
import { DiskError } from './errors.ts';
import { readSwaps } from './proc.ts';
import { openAsync } from '../../util/fsasync.ts';

/** Is the file at `hostPath` an active swap area? Compared by inode, so any spelling of the path matches. */
export function isActiveSwap(env: DiskEnv, hostPath: string): { sizeKiB: number } | null {
  let id: { dev: number; ino: number } | null = null;
  try { const st = statSync(hostPath); id = { dev: st.dev, ino: st.ino }; } catch { /* missing */ }
  for (const s of readSwaps(env.proc)) {
    const p = s.path.replace(/ \(deleted\)$/, '');
    if (p === hostPath) return { sizeKiB: s.sizeKiB };
    if (!id || s.type !== 'file') continue;
    try {
      const st = statSync(p);
      if (st.dev === id.dev && st.ino === id.ino) return { sizeKiB: s.sizeKiB };
    } catch { /* swap path not visible from here */ }
  }
  return null;
}

/** Fully allocated: the blocks on disk cover the size (a sparse file cannot be used for swap). */
export function isFullyAllocated(hostPath: string, bytes: number): boolean {
  try {
    const st = lstatSync(hostPath);
    return st.isFile() && st.size === bytes && st.blocks * 512 >= bytes;
  } catch { return false; }
}

/** Creates the file 0600 before any data goes in (never world-readable, even for a moment). */
function createEmpty(hostPath: string): void {
  const fd = openSync(hostPath, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try { fchmodSync(fd, 0o600); } finally { closeSync(fd); }
}

/** Writes zeros up to `bytes`: the fallback where fallocate is missing or unsupported (the dd route). */
async function writeZeros(hostPath: string, bytes: number): Promise<void> {
  const fh = await openAsync(hostPath, constants.O_WRONLY | constants.O_NOFOLLOW);
  try {
    const chunk = Buffer.alloc(4 << 20);
    let done = 0;
    while (done < bytes) {
      const n = Math.min(chunk.length, bytes - done);
      const { bytesWritten } = await fh.write(chunk, 0, n, done);
      if (bytesWritten <= 0) throw new Error('write made no progress');
      done += bytesWritten;
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export type AllocMethod = 'fallocate' | 'zeros';

/**
 * A new swap file of exactly `bytes`, without holes, mode 0600. `method` forces zero-writing (used
 * as the retry when the kernel refused a fallocated file). Removes the file again on failure.
 */
export async function allocateSwapFile(runner: Runner, hostPath: string, bytes: number, fsType: string, method: AllocMethod = 'fallocate'): Promise<AllocMethod> {
  createEmpty(hostPath);
  try {
    // btrfs swap files must be NOCOW, which can only be set while the file is empty.
    if (fsType === 'btrfs') await runner.run(['chattr', '+C', hostPath], { timeoutMs: 30_000 });
    let used: AllocMethod = method;
    if (method === 'fallocate') {
      const r = await runner.run(['fallocate', '-l', String(bytes), hostPath], { timeoutMs: 10 * 60_000 });
      if (r.code !== 0 || !isFullyAllocated(hostPath, bytes)) used = 'zeros';
    }
    if (used === 'zeros') await writeZeros(hostPath, bytes);
    if (!isFullyAllocated(hostPath, bytes)) throw new DiskError(hostPath, `swap file is not fully allocated to ${bytes} bytes`, 'swap');
    const fd = openSync(hostPath, 'r');
    try { fsyncSync(fd); } finally { closeSync(fd); }
    return used;
  } catch (e) {
    try { unlinkSync(hostPath); } catch { /* already gone */ }
    throw e;
  }
}

async function must(runner: Runner, argv: string[], what: string, timeoutMs = 120_000): Promise<void> {
  const r = await runner.run(argv, { timeoutMs });
  if (r.code !== 0) throw new DiskError(argv[argv.length - 1]!, `${what} failed: exit ${r.code} ${r.stderr.trim().slice(0, 300)}`, 'swap');
}

export const mkswap = (runner: Runner, hostPath: string): Promise<void> => must(runner, ['mkswap', hostPath], 'mkswap');
export const swapon = (runner: Runner, hostPath: string): Promise<void> => must(runner, ['swapon', hostPath], 'swapon');
export const swapoff = (runner: Runner, hostPath: string): Promise<void> => must(runner, ['swapoff', hostPath], 'swapoff', 10 * 60_000);
