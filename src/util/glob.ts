// Minimal glob expansion (`*`, `?`, `[...]` within one path component) used for waagent's file
// lists (deprovision, log collection). It never descends through a symbolic link to a directory,
// so a planted link cannot lead a recursive operation outside the tree it was pointed at.
import { lstatSync, readdirSync } from 'node:fs';

function componentRegex(c: string): RegExp {
  let re = '';
  for (let i = 0; i < c.length; i++) {
    const ch = c[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '[') {
      const end = c.indexOf(']', i + 1);
      if (end < 0) { re += '\\['; continue; }
      let body = c.slice(i + 1, end);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += '[' + body.replace(/\\/g, '\\\\') + ']';
      i = end;
    } else re += ch.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const MAGIC = /[*?[]/;

/**
 * Expand an absolute pattern. `toHost` maps an inner absolute path to the host path to read
 * (Sysroot.path). Returns inner absolute paths, sorted. Hidden files match `*` (like Python's
 * glob they would not, but waagent's lists never rely on that distinction). At most `limit` results.
 */
export function expandGlob(pattern: string, toHost: (p: string) => string = (p) => p, limit = 100_000): string[] {
  if (!pattern.startsWith('/')) throw new Error(`glob pattern must be absolute: ${pattern}`);
  const parts = pattern.split('/').filter(Boolean);
  let current = ['/'];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const last = i === parts.length - 1;
    const next: string[] = [];
    for (const dir of current) {
      const join = (name: string) => (dir === '/' ? `/${name}` : `${dir}/${name}`);
      if (!MAGIC.test(part)) {
        const p = join(part);
        if (last) { if (exists(toHost(p))) next.push(p); }
        else if (isRealDir(toHost(p))) next.push(p);
        continue;
      }
      let names: string[] = [];
      try { names = readdirSync(toHost(dir)); } catch { continue; }
      const re = componentRegex(part);
      for (const n of names.sort()) {
        if (!re.test(n)) continue;
        const p = join(n);
        if (last || isRealDir(toHost(p))) next.push(p);
        if (next.length >= limit) break;
      }
    }
    current = next;
    if (current.length === 0) break;
  }
  return current.filter((p) => p !== '/').sort();
}

function exists(p: string): boolean {
  try { lstatSync(p); return true; } catch { return false; }
}

function isRealDir(p: string): boolean {
  try { return lstatSync(p).isDirectory(); } catch { return false; }
}
