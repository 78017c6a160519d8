// What every disk operation needs: the root the OS paths live under, the command runner, the
// kernel's /proc (a host path: mounts and swaps are the running kernel's, not the root's), a
// logger and a sleep that unit tests can make instant.
import type { Runner } from '../../util/exec.ts';
import type { Logger } from '../../util/logger.ts';
import type { Sysroot } from '../../util/sysroot.ts';

export interface DiskEnv {
  root: Sysroot;
  runner: Runner;
  /** Host path of the kernel's proc filesystem. Default '/proc'; unit tests pass a fake tree. */
  proc: string;
  log: Logger;
  sleep: (ms: number) => Promise<void>;
}

export const realSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Paths in /proc/self/mountinfo and /proc/swaps are the calling process's view: in the sandbox (a
 * chroot whose root is '/') that is the inner path; with a temp Sysroot on the host it is the
 * host path. `toInner` maps such a path back to the root's view.
 */
export function toInner(env: DiskEnv, processPath: string): string {
  const r = env.root.root;
  if (r === '/') return processPath;
  if (processPath === r) return '/';
  return processPath.startsWith(r + '/') ? processPath.slice(r.length) : processPath;
}
