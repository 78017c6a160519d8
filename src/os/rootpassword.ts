// Provisioning.DeleteRootPassword (docs/os.md §4.11): root's password field in the shadow file becomes
// `*LOCK*`, so no password can log in as root. Done on the file through the Sysroot (works for a
// rescue root too), atomically, keeping the file's mode and owner.
import { lstatSync } from 'node:fs';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { readBoundedText } from '../util/fsread.ts';
import { AgentError } from '../util/errors.ts';

export class ShadowError extends AgentError {
  static override readonly errorName: string = 'ShadowError';
}

/** Upstream's whole line, used when the file has no root entry at all. */
export const LOCKED_ROOT_LINE = 'root:*LOCK*:14600::::::';

/**
 * Pure edit: the first `root:` line keeps its position and other fields (aging data) with the
 * password replaced by `*LOCK*`; further root lines are dropped (upstream drops all and inserts its
 * fixed line first — same effect on authentication, less churn). No root line: upstream's line first.
 */
export function lockRootInShadow(text: string): string {
  const lines = text.split('\n');
  let seen = false;
  const out: string[] = [];
  for (const line of lines) {
    if (!line.startsWith('root:')) { out.push(line); continue; }
    if (seen) continue;
    seen = true;
    const f = line.split(':');
    while (f.length < 9) f.push('');
    f[1] = '*LOCK*';
    out.push(f.join(':'));
  }
  if (!seen) out.unshift(LOCKED_ROOT_LINE);
  return out.join('\n');
}

/** Returns whether the file changed (a second run changes nothing). */
export function deleteRootPassword(root: Sysroot, opts: { passwordPath?: string } = {}): boolean {
  const inner = opts.passwordPath ?? '/etc/shadow';
  const host = root.resolve(inner);
  let st;
  try { st = lstatSync(host); } catch { throw new ShadowError(`${inner} not found`); }
  if (!st.isFile()) throw new ShadowError(`${inner} is not a regular file`);
  if (st.size > 16 << 20) throw new ShadowError(`${inner} is larger than 16 MiB`);
  const old = readBoundedText(host, 16 << 20, inner, true);
  const next = lockRootInShadow(old);
  if (next === old) return false;
  writeFileAtomic(host, next, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  return true;
}
