// Processes by name from /proc (no child process: the DHCP monitor runs every 30 s and must not spawn
// `pidof` each time). `comm` is the kernel's name, cut to 15 characters (systemd-networkd shows as
// "systemd-network"); names are compared with that cut applied. Bounded: at most MAX_SCAN entries.
import { readdirSync, readFileSync } from 'node:fs';
import type { Sysroot } from '../util/sysroot.ts';

const MAX_SCAN = 65_536;
/** TASK_COMM_LEN - 1. */
export const COMM_MAX = 15;

/** Pids (sorted) whose comm equals one of `names` (each cut to 15 characters). */
export function pidsByName(root: Sysroot, names: readonly string[]): number[] {
  const want = new Set(names.map((n) => n.slice(0, COMM_MAX)));
  const proc = root.path('/proc');
  let entries: string[];
  try { entries = readdirSync(proc); } catch { return []; }
  const out: number[] = [];
  let n = 0;
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    if (++n > MAX_SCAN) break;
    let comm: string;
    try { comm = readFileSync(`${proc}/${e}/comm`, 'utf8').replace(/\n$/, ''); } catch { continue; /* exited meanwhile */ }
    if (want.has(comm)) out.push(Number(e));
  }
  return out.sort((a, b) => a - b);
}

/** Does the pid still run the program named `name` (false when gone or reused by another program)? */
export function pidRuns(root: Sysroot, pid: number, name: string): boolean {
  try { return readFileSync(root.path(`/proc/${pid}/comm`), 'utf8').replace(/\n$/, '') === name.slice(0, COMM_MAX); } catch { return false; }
}

/** Direct children of this process (from every thread's `children` list), bounded like pidsByName. */
export function childPids(root: Sysroot): number[] {
  const task = root.path('/proc/self/task');
  const out: number[] = [];
  let threads: string[];
  try { threads = readdirSync(task); } catch { return out; /* no procfs */ }
  for (const t of threads.slice(0, MAX_SCAN)) {
    let text: string;
    try { text = readFileSync(`${task}/${t}/children`, 'utf8'); } catch { continue; /* thread gone */ }
    for (const p of text.trim().split(/\s+/)) if (/^\d+$/.test(p) && out.length < MAX_SCAN) out.push(Number(p));
  }
  return out;
}

/** kill(pid, 0): alive when it succeeds or fails with EPERM (exists, not ours to signal). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/** The NUL-separated command line of `pid` (at most 64 KiB), or null when it cannot be read. */
export function processCmdline(pid: number, procRoot = '/proc'): string | null {
  try { return readFileSync(`${procRoot}/${pid}/cmdline`, 'latin1').slice(0, 65_536); } catch { return null; }
}
