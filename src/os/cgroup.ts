// This process's own cgroup and what the kernel accounts to it (2.15 cgroupcontroller/memorycontroller/
// cpucontroller): memory (anon, file cache, swap, peak) and CPU time, cgroup v2 or v1. Plain file reads
// under the Sysroot; null when there is no such cgroup (no cgroupfs, a container without controllers).
import { existsSync, readFileSync } from 'node:fs';
import type { Sysroot } from '../util/sysroot.ts';

export interface CgroupUsage {
  version: 1 | 2;
  /** The cgroup path (e.g. /system.slice/waagent.service). */
  path: string;
  anon: number;
  /** Page cache charged to the cgroup (v2 `file`, v1 `cache`). */
  file: number;
  swap: number;
  /** Peak usage (v2 memory.peak, v1 memory.max_usage_in_bytes); null where the kernel has none. */
  peak: number | null;
  /** CPU time used, microseconds (null without a cpu accounting file). */
  cpuUsec: number | null;
  throttledUsec: number | null;
}

function read(root: Sysroot, p: string): string | null {
  try { return readFileSync(root.path(p), 'utf8').slice(0, 64 * 1024); } catch { return null; }
}

function stat(text: string | null): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v && /^\d+$/.test(v)) m.set(k, Number(v));
  }
  return m;
}

function num(text: string | null): number | null {
  const t = text?.trim();
  return t && /^\d+$/.test(t) ? Number(t) : null;
}

/** /proc/<pid>/cgroup -> the v2 path, or the v1 paths of the memory and cpuacct controllers. */
export function parseProcCgroup(text: string): { v2?: string; memory?: string; cpuacct?: string } {
  const out: { v2?: string; memory?: string; cpuacct?: string } = {};
  for (const line of text.split('\n').slice(0, 64)) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    const ctrls = m[2]!.split(',');
    if (m[1] === '0' && m[2] === '') out.v2 = m[3]!;
    if (ctrls.includes('memory')) out.memory = m[3]!;
    if (ctrls.includes('cpuacct')) out.cpuacct = m[3]!;
  }
  return out;
}

const clean = (p: string) => (p === '/' ? '' : p.replace(/\/+$/, ''));

/** Usage of the cgroup of `pid` (default this process); null when no memory accounting is readable. */
export function readCgroupUsage(root: Sysroot, pid: number | 'self' = 'self'): CgroupUsage | null {
  const own = read(root, `/proc/${pid}/cgroup`);
  if (own === null) return null;
  const c = parseProcCgroup(own);
  if (c.memory !== undefined) {
    const base = `/sys/fs/cgroup/memory${clean(c.memory)}`;
    const ms = read(root, `${base}/memory.stat`);
    if (ms === null) return null;
    const s = stat(ms);
    let cpuNs: number | null = null;
    for (const dir of ['cpu,cpuacct', 'cpuacct']) {
      cpuNs = num(read(root, `/sys/fs/cgroup/${dir}${clean(c.cpuacct ?? c.memory)}/cpuacct.usage`));
      if (cpuNs !== null) break;
    }
    const thr = stat(read(root, `/sys/fs/cgroup/cpu,cpuacct${clean(c.cpuacct ?? c.memory)}/cpu.stat`)).get('throttled_time');
    return {
      version: 1, path: c.memory, anon: s.get('rss') ?? 0, file: s.get('cache') ?? 0, swap: s.get('swap') ?? 0,
      peak: num(read(root, `${base}/memory.max_usage_in_bytes`)),
      cpuUsec: cpuNs === null ? null : Math.floor(cpuNs / 1000), throttledUsec: thr === undefined ? null : Math.floor(thr / 1000),
    };
  }
  if (c.v2 !== undefined) {
    const base = `/sys/fs/cgroup${clean(c.v2)}`;
    const ms = read(root, `${base}/memory.stat`);
    if (ms === null) return null;
    const s = stat(ms);
    const cpu = stat(read(root, `${base}/cpu.stat`));
    return {
      version: 2, path: c.v2, anon: s.get('anon') ?? 0, file: s.get('file') ?? 0,
      swap: num(read(root, `${base}/memory.swap.current`)) ?? 0, peak: num(read(root, `${base}/memory.peak`)),
      cpuUsec: cpu.get('usage_usec') ?? null, throttledUsec: cpu.get('throttled_usec') ?? null,
    };
  }
  return null;
}

/** /proc/meminfo -> used and available memory in MiB (what 2.15 takes from `free -b`), or null. */
export function systemMemory(root: Sysroot): { usedMb: number; availableMb: number } | null {
  const m = stat(read(root, '/proc/meminfo')?.replace(/:/g, '') ?? null);
  const total = m.get('MemTotal');
  const avail = m.get('MemAvailable');
  if (total === undefined || avail === undefined) return null;
  return { usedMb: Math.round((total - avail) / 1024), availableMb: Math.round(avail / 1024) };
}

/** Is the unified (v2) cgroup hierarchy mounted at /sys/fs/cgroup? */
export function cgroupV2Mounted(root: Sysroot): boolean {
  return existsSync(root.path('/sys/fs/cgroup/cgroup.controllers'));
}
