// File removal under a Sysroot for deprovisioning: list first (so -dry-run shows exactly what
// would go), then remove. Symbolic links are removed as links, never followed.
import { lstatSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';
import { expandGlob } from '../util/glob.ts';
import { errorText } from '../util/errors.ts';

/**
 * Regular files and symlinks matching any of the patterns (inner paths). Directories are skipped.
 * A pattern whose directories cannot be resolved inside the root (a link loop on a hostile disk)
 * matches nothing and is reported through `problems`.
 */
export function matchFiles(root: Sysroot, patterns: string[], problems?: string[]): string[] {
  const out = new Set<string>();
  for (const pat of patterns) {
    let found: string[];
    try { found = expandGlob(pat, (x) => root.pathNoFollow(x)); } catch (e) {
      problems?.push(`${pat}: ${errorText(e)}`);
      continue;
    }
    for (const p of found) {
      try {
        const st = lstatSync(root.pathNoFollow(p));
        if (st.isFile() || st.isSymbolicLink()) out.add(p);
      } catch { /* vanished */ }
    }
  }
  return [...out].sort();
}

/**
 * Host path of an inner path whose parent directories are resolved as inside the root (chroot
 * semantics) while the last component itself is not followed. On a rescued disk an absolute link
 * such as var/log -> /data/log then points into that disk, never at the rescue VM's own files.
 */
export function hostPathNoFollow(root: Sysroot, p: string): string {
  return root.pathNoFollow(p);
}

/**
 * The entries directly inside a directory (inner paths, the directory resolved as inside the root);
 * the directory itself stays. A directory that cannot be resolved (a loop) is reported in `problems`.
 */
export function dirContents(root: Sysroot, dir: string, problems?: string[]): string[] {
  let names: string[] = [];
  let real: string;
  try {
    real = root.resolveInner(dir);
  } catch (e) {
    problems?.push(`${dir}: ${errorText(e)}`);
    return [];
  }
  try {
    if (!lstatSync(root.path(real)).isDirectory()) return [];
    names = readdirSync(root.path(real));
  } catch { return []; }
  return names.sort().map((n) => posix.join(real, n));
}

/** Removes files, symlinks and whole subtrees (never following links). Missing paths are fine. */
export function removePaths(root: Sysroot, paths: string[]): void {
  for (const p of paths) {
    const host = hostPathNoFollow(root, p);
    let st;
    try { st = lstatSync(host); } catch { continue; }
    if (st.isDirectory()) rmSync(host, { recursive: true, force: true });
    else unlinkSync(host);
  }
}
