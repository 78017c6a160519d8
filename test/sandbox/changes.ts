// What a run changed: the overlay's upper directory holds every file written in the box (copied up
// or new), and whiteouts (character devices 0:0) for deletions. Directories that only hold changed
// children are copies, not changes, so they are listed only when they are new.
import { lstatSync, readdirSync, type Stats } from 'node:fs';
import { join } from 'node:path';

export interface Change {
  path: string;
  kind: 'added' | 'modified' | 'deleted';
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

/** Paths that change by themselves in any box and say nothing about the command that ran. */
export const NOISE = ['/tmp', '/run', '/var/tmp', '/var/log/journal', '/dev', '/proc', '/sys', '/root/.cache', '/root/.npm'];

const MAX_ENTRIES = 200_000;

function typeOf(st: Stats): Change['type'] {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  return 'other';
}

function isNoise(p: string, noise: string[]): boolean {
  return noise.some((n) => p === n || p.startsWith(n + '/'));
}

/**
 * Walks `upper`; `lower` maps a box path to the host path of the lower layer (to tell added from
 * modified). Bounded: at most MAX_ENTRIES entries are looked at.
 */
export function scanUpper(upper: string, lower: (p: string) => string, noise: string[] = NOISE): Change[] {
  const out: Change[] = [];
  let seen = 0;
  const walk = (dir: string, rel: string) => {
    let names: string[];
    try { names = readdirSync(dir); } catch { return; }
    for (const name of names.sort()) {
      if (++seen > MAX_ENTRIES) throw new Error(`changed files: more than ${MAX_ENTRIES} entries under ${upper}`);
      const p = `${rel}/${name}`;
      if (isNoise(p, noise)) continue;
      const host = join(dir, name);
      let st: Stats;
      try { st = lstatSync(host); } catch { continue; }
      let inLower = true;
      try { lstatSync(lower(p)); } catch { inLower = false; }
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: st.size };
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ path: p, kind: 'deleted', type: 'other', ...base });
        continue;
      }
      if (st.isDirectory()) {
        if (!inLower) out.push({ path: p, kind: 'added', type: 'dir', ...base });
        walk(host, p);
        continue;
      }
      out.push({ path: p, kind: inLower ? 'modified' : 'added', type: typeOf(st), ...base });
    }
  };
  walk(upper, '');
  return out;
}

/** A fingerprint per path, to leave out what the box itself wrote at start and nobody touched since. */
export function fingerprint(upper: string, p: string): string {
  try {
    const st = lstatSync(join(upper, p));
    return `${st.mode}:${st.uid}:${st.gid}:${st.size}:${st.mtimeMs}:${st.ino}`;
  } catch {
    return 'missing';
  }
}
