// The swap file on the resource disk (docs/os.md §5.3), with the upstream sizing bug fixed: exact size,
// no holes, 0600 from creation; converges (kept when right, rebuilt when the size changed, never
// activated twice); refuses a size that does not fit in the free space, keeping any current swap.
// An existing file is trusted only when root made it: a regular file owned by root, mode 0600, one
// link. Anything else (planted by a user, hard-linked elsewhere, a link) is removed and made anew,
// so root's memory is never paged into a file someone else can read or keep.
import { lstatSync, statfsSync, unlinkSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { posix } from 'node:path';
import type { DiskEnv } from '../os/disk/env.ts';
import { allocateSwapFile, isActiveSwap, isFullyAllocated, mkswap, swapoff, swapon } from '../os/disk/swapfile.ts';
import type { SwapResult } from './types.ts';
import { errorText } from '../util/errors.ts';

export interface SwapSettings { enableSwap: boolean; swapSizeMB: number }

const MiB = 1024 * 1024;
/** 16 TiB: more than any Azure temporary disk; a bigger number is a typo, not a request. */
const MAX_SWAP_MB = 16 * 1024 * 1024;

function lstatOrNull(p: string): Stats | null {
  try { return lstatSync(p); } catch { return null; }
}

/** Why an existing swap file cannot be used as it is; null when root made it. */
export function untrustedSwap(st: Stats): string | null {
  if (!st.isFile()) return 'not a regular file';
  if (st.uid !== 0) return `owned by uid ${st.uid}, not root`;
  if ((st.mode & 0o7777) !== 0o600) return `mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}, not 0600`;
  if (st.nlink !== 1) return `${st.nlink} hard links`;
  return null;
}

export async function ensureSwap(env: DiskEnv, mountPoint: string, fsType: string, s: SwapSettings): Promise<SwapResult> {
  const file = posix.join(mountPoint, 'swapfile');
  // Never followed: a link at the swap file's path is itself the thing replaced.
  const host = env.root.pathNoFollow(file);
  if (!s.enableSwap) return { outcome: 'disabled', message: 'swap disabled (ResourceDisk.EnableSwap=n)' };
  if (!Number.isSafeInteger(s.swapSizeMB) || s.swapSizeMB <= 0 || s.swapSizeMB > MAX_SWAP_MB) {
    const message = `Invalid swap size [${s.swapSizeMB}]: ResourceDisk.SwapSizeMB must be between 1 and ${MAX_SWAP_MB}; swap not enabled`;
    env.log.error(message);
    return { outcome: 'failed', file, message };
  }
  const want = s.swapSizeMB * MiB;
  try {
    const st = lstatOrNull(host);
    if (st?.isDirectory()) {
      const message = `${file} is a directory; leaving it alone and not enabling swap`;
      env.log.error(message);
      return { outcome: 'failed', file, message };
    }
    let active = st?.isFile() ? isActiveSwap(env, host) !== null : false;
    const distrust = st ? untrustedSwap(st) : null;
    if (distrust) env.log.warn(`Existing ${file} is not used as swap (${distrust}): it is removed and made anew`);

    if (st && !distrust && isFullyAllocated(host, want)) {
      if (active) {
        env.log.info(`Swap already enabled (${file}, ${s.swapSizeMB} MB)`);
        return { outcome: 'unchanged', file, sizeBytes: want, message: 'Swap already enabled' };
      }
      try {
        await swapon(env.runner, host);
        const message = `Enabled ${want / 1024}KB of swap at ${file}`;
        env.log.info(message);
        return { outcome: 'enabled', file, sizeBytes: want, message };
      } catch (e) {
        env.log.warn(`Existing ${file} could not be enabled (${errorText(e)}); recreating it`);
      }
    }

    if (distrust && active) { await swapoff(env.runner, host); active = false; }
    // (Re)create. The old file's blocks come back when it is deleted, so they count as free.
    const fsStat = statfsSync(env.root.path(mountPoint));
    const free = fsStat.bavail * fsStat.bsize + (st?.isFile() && st.nlink === 1 ? st.blocks * 512 : 0);
    if (want > free) {
      const message = `Swap file of ${s.swapSizeMB} MB does not fit on ${mountPoint} (${Math.floor(free / MiB)} MB free): ` +
        `swap ${active ? 'left as it is' : 'not enabled'}; lower ResourceDisk.SwapSizeMB`;
      env.log.error(message);
      return { outcome: 'refused', file, message };
    }
    if (active) { await swapoff(env.runner, host); active = false; }
    if (st) unlinkSync(host);
    let method = await allocateSwapFile(env.runner, host, want, fsType);
    await mkswap(env.runner, host);
    try {
      await swapon(env.runner, host);
    } catch (e) {
      if (method !== 'fallocate') throw e;
      // Some kernel/filesystem pairs refuse fallocated (unwritten) extents for swap: write zeros instead.
      env.log.warn(`swapon refused the fallocated ${file} (${errorText(e)}); writing it out`);
      unlinkSync(host);
      method = await allocateSwapFile(env.runner, host, want, fsType, 'zeros');
      await mkswap(env.runner, host);
      await swapon(env.runner, host);
    }
    const message = `Enabled ${want / 1024}KB of swap at ${file}`;
    env.log.info(message);
    return { outcome: st ? 'resized' : 'created', file, sizeBytes: want, message };
  } catch (e) {
    const message = `Failed to enable swap ${file}: ${errorText(e)}`;
    env.log.error(message);
    return { outcome: 'failed', file, message };
  }
}
