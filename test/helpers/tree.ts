// Snapshots of a directory tree, to prove what a command did NOT change: every path with its mode,
// owner and content hash (or link target). Two equal snapshots mean the tree is the same.
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** mode:uid:gid, then the kind and what identifies its content; 'missing' when absent. */
export function fingerprintPath(hostPath: string): string {
  let st;
  try { st = lstatSync(hostPath); } catch { return 'missing'; }
  const head = `${st.mode.toString(8)}:${st.uid}:${st.gid}`;
  if (st.isSymbolicLink()) return `${head}:link:${readlinkSync(hostPath)}`;
  if (st.isFile()) return `${head}:file:${createHash('sha256').update(readFileSync(hostPath)).digest('hex')}`;
  if (st.isDirectory()) return `${head}:dir`;
  return `${head}:other`;
}

/**
 * Every entry below `dir` (not following symlinks), sorted, keyed by its path relative to `dir`
 * (starting with "/"), with its fingerprint. Bounded: more than `maxEntries` entries is an error.
 */
export function treeSnapshot(dir: string, maxEntries = 100_000): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    for (const name of readdirSync(join(dir, rel)).sort()) {
      const p = `${rel}/${name}`;
      const f = fingerprintPath(join(dir, p));
      out.set(p, f);
      if (out.size > maxEntries) throw new Error(`treeSnapshot: more than ${maxEntries} entries under ${dir}`);
      if (f.endsWith(':dir')) walk(p);
    }
  };
  walk('');
  return out;
}

/** `path: before -> after` for every path that differs, sorted; [] when equal. */
export function diffSnapshots(a: Map<string, string>, b: Map<string, string>): string[] {
  const diffs: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) diffs.push(`${k}: ${a.get(k) ?? 'absent'} -> ${b.get(k) ?? 'absent'}`);
  }
  return diffs.sort();
}
