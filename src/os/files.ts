// File removal under a Sysroot for deprovisioning: list first (so -dry-run shows exactly what
// would go), then remove. Symbolic links are removed as links, never followed.
import { lstatSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import type { Sysroot } from '../util/sysroot.ts';
import { expandGlob } from '../util/glob.ts';

/** Regular files and symlinks matching any of the patterns (inner paths). Directories are skipped. */
export function matchFiles(root: Sysroot, patterns: string[]): string[] {
  const out = new Set<string>();
  for (const pat of patterns) {
    for (const p of expandGlob(pat, (x) => root.path(x))) {
      try {
        const st = lstatSync(root.path(p));
        if (st.isFile() || st.isSymbolicLink()) out.add(p);
      } catch { /* vanished */ }
    }
  }
  return [...out].sort();
}

/** The entries directly inside a directory (inner paths); the directory itself stays. */
export function dirContents(root: Sysroot, dir: string): string[] {
  let names: string[] = [];
  try {
    if (!lstatSync(root.path(dir)).isDirectory()) return [];
    names = readdirSync(root.path(dir));
  } catch { return []; }
  return names.sort().map((n) => `${dir.replace(/\/$/, '')}/${n}`);
}

/** Removes files, symlinks and whole subtrees (never following links). Missing paths are fine. */
export function removePaths(root: Sysroot, paths: string[]): void {
  for (const p of paths) {
    const host = root.path(p);
    let st;
    try { st = lstatSync(host); } catch { continue; }
    if (st.isDirectory()) rmSync(host, { recursive: true, force: true });
    else unlinkSync(host);
  }
}
