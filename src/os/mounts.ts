// The mount table (/proc/self/mounts, else /proc/mounts) read through the Sysroot: one parser for the DVD
// lookup, the leftover-mount check of provisioning and (this process's own table) the noexec hint of
// extension commands. Fields are space-separated with spaces, tabs, newlines and backslashes escaped as
// octal (`\040`); they are decoded here.
// Bounded: the table is read once per call and at most MAX_ENTRIES lines are kept.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';

export interface MountEntry {
  device: string;
  mountPoint: string;
  type: string;
  options: string[];
}

const MAX_ENTRIES = 100_000;

/** Normalized, without a trailing slash (except `/` itself). */
const clean = (p: string): string => posix.normalize(p).replace(/(.)\/+$/, '$1');

const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));

/** The entries of a mounts file's text (malformed lines skipped). */
export function parseMounts(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (out.length >= MAX_ENTRIES) break;
    const [device, mountPoint, type, options] = line.split(' ');
    if (!device || !mountPoint) continue;
    out.push({ device: unescape(device), mountPoint: unescape(mountPoint), type: type ?? '', options: (options ?? '').split(',').filter(Boolean) });
  }
  return out;
}

/** The mount table, or [] when neither /proc/self/mounts nor /proc/mounts can be read. */
export function readMounts(root: Sysroot): MountEntry[] {
  for (const f of ['/proc/self/mounts', '/proc/mounts']) {
    let text: string;
    try { text = readFileSync(root.path(f), 'utf8'); } catch { continue; }
    return parseMounts(text);
  }
  return [];
}

/**
 * This process's own mount table (its mount namespace, whatever root a command acts on): for questions about
 * paths this process itself executes, e.g. whether an extension's directory is on a noexec mount.
 */
export function ownMounts(): MountEntry[] {
  try { return parseMounts(readFileSync('/proc/self/mounts', 'utf8')); } catch { return []; }
}

/** The mount that holds `path` (longest mount point that is the path or one of its parents), or null. */
export function mountHolding(entries: readonly MountEntry[], path: string): MountEntry | null {
  const p = clean(path);
  let best: MountEntry | null = null;
  for (const m of entries) {
    const mp = m.mountPoint;
    const inside = p === mp || p.startsWith(mp.endsWith('/') ? mp : `${mp}/`);
    if (inside && (best === null || mp.length >= best.mountPoint.length)) best = m;
  }
  return best;
}

/** Is something mounted at exactly `mountPoint`? */
export function isMounted(entries: readonly MountEntry[], mountPoint: string): boolean {
  const mp = clean(mountPoint);
  return entries.some((m) => m.mountPoint === mp);
}
