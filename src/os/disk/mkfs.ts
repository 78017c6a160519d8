// mkfs.<fs>: the command line the Python agent uses (docs/os.md §5.2 step 4), nothing more.
import type { Runner } from '../../util/exec.ts';
import { DiskError } from './errors.ts';

/** Filesystem names become a command name (`mkfs.<fs>`) and a `-t` value: only plain names pass. */
export function isValidFsName(fs: string): boolean { return /^[a-z][a-z0-9]{0,15}$/.test(fs); }

/** xfs and btrfs spell "force" `-f`; the ext family and the rest `-F`. */
export function mkfsArgv(fs: string, hostDev: string): string[] {
  if (!isValidFsName(fs)) throw new DiskError(hostDev, `invalid filesystem name "${fs.slice(0, 40)}"`, 'ResourceDisk.Filesystem');
  return [`mkfs.${fs}`, fs === 'xfs' || fs === 'btrfs' ? '-f' : '-F', hostDev];
}

export async function makeFilesystem(runner: Runner, fs: string, hostDev: string): Promise<void> {
  // mkfs of a multi-TiB disk can take minutes; still bounded.
  const r = await runner.run(mkfsArgv(fs, hostDev), { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) throw new DiskError(hostDev, `mkfs.${fs} failed: exit ${r.code} ${r.stderr.trim().slice(0, 300)}`, 'mkfs');
}
