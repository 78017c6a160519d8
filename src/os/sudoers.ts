// The provisioned user's sudo rule in `<OS.SudoersDir>/waagent` (docs/os.md §4.9): file name and line
// forms kept for compatibility; created 0440 from the start and checked with `visudo -cf` first.
import { existsSync, lstatSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { posix } from 'node:path';
import { randomHex } from '../util/unique.ts';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { validateUserName, show } from './validate.ts';
import { readBoundedText } from '../util/fsread.ts';
import { AgentError } from '../util/errors.ts';

export class SudoersError extends AgentError {
  static override readonly errorName: string = 'SudoersError';
}

export interface SudoersOptions {
  /** OS.SudoersDir; default /etc/sudoers.d. */
  sudoersDir?: string;
  /** Default `waagent` (the Python agent's name; deprovision and JIT cleanup find it there). */
  fileName?: string;
}

/** `<user> ALL=(ALL) NOPASSWD: ALL` for key-only users, `<user> ALL=(ALL) ALL` when a password is set. */
export function sudoersLine(user: string, nopasswd: boolean): string {
  return nopasswd ? `${user} ALL=(ALL) NOPASSWD: ALL` : `${user} ALL=(ALL) ALL`;
}

const MAX_SUDOERS = 1 << 20;

function readOr(path: string, dflt: string): string {
  try {
    const st = lstatSync(path);
    if (!st.isFile()) throw new SudoersError(`${path} is not a regular file`);
    if (st.size > MAX_SUDOERS) throw new SudoersError(`${path} is larger than ${MAX_SUDOERS} bytes`);
    return readBoundedText(path, MAX_SUDOERS, path, true);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return dflt;
    throw e;
  }
}

/**
 * Validate sudoers text with `visudo -cf` before it goes live: a broken drop-in would disable sudo
 * for everyone. The candidate is written next to the target under a name containing a dot, which
 * sudo's #includedir ignores, and removed afterwards. visudo missing (exit 127) = no check.
 */
async function check(runner: Runner, hostDir: string, text: string, what: string): Promise<void> {
  const tmp = posix.join(hostDir, `.waagent-check.${randomHex(8)}`);
  writeFileSync(tmp, text, { mode: 0o440, flag: 'wx' });
  try {
    const r = await runner.run(['visudo', '-c', '-q', '-f', tmp], { timeoutMs: 30_000 });
    if (r.code === 127) return;
    if (r.code !== 0) throw new SudoersError(`visudo rejected the new ${what}: ${(r.stdout + r.stderr).trim().slice(0, 300)}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Make sure the user's rule is in the drop-in: other users' lines stay, an older rule for the same
 * user (other form) is replaced, so applying twice or switching form never duplicates.
 * Returns whether the file changed.
 */
export async function ensureSudoers(runner: Runner, root: Sysroot, user: string, nopasswd: boolean, opts: SudoersOptions = {}): Promise<boolean> {
  validateUserName(user, { allowResetSysUser: true });
  const dir = opts.sudoersDir ?? '/etc/sudoers.d';
  const name = opts.fileName ?? 'waagent';
  if (!/^[A-Za-z0-9_-]+$/.test(name)) throw new SudoersError(`sudoers file name ${show(name)} would be ignored by sudo`);
  await ensureIncludeDir(runner, root, dir);
  const hostDir = root.resolve(dir);
  const target = posix.join(hostDir, name);
  const old = readOr(target, '');
  const line = sudoersLine(user, nopasswd);
  const lines = old.split('\n').map((l) => l.replace(/\s+$/, '')).filter((l) => l !== '');
  const kept = lines.filter((l) => l.split(/\s+/)[0] !== user);
  const next = [...kept, line].join('\n') + '\n';
  if (next === old && (statSync(target).mode & 0o7777) === 0o440) return false;
  await check(runner, hostDir, next, `${dir}/${name}`);
  writeFileAtomic(target, next, { mode: 0o440, uid: 0, gid: 0 });
  return true;
}

/** Remove the user's lines (matching the first field only: `bob` does not remove `bobby`). */
export function removeSudoers(root: Sysroot, user: string, opts: SudoersOptions = {}): boolean {
  const target = posix.join(root.resolve(opts.sudoersDir ?? '/etc/sudoers.d'), opts.fileName ?? 'waagent');
  const old = readOr(target, '');
  if (!old) return false;
  const kept = old.split('\n').filter((l) => l.trim() === '' || l.trim().split(/\s+/)[0] !== user);
  const next = kept.join('\n');
  if (next === old) return false;
  writeFileAtomic(target, next, { mode: 0o440, uid: 0, gid: 0 });
  return true;
}

/**
 * Upstream: a missing sudoers dir is created and `#includedir <dir>` appended to `<dir>/../sudoers`.
 * We do the same, but only when the main file does not already include it, and atomically with the
 * main file's own mode (a failed check leaves the main file untouched).
 */
async function ensureIncludeDir(runner: Runner, root: Sysroot, dir: string): Promise<void> {
  const hostDir = root.resolve(dir);
  if (existsSync(hostDir)) {
    if (!statSync(hostDir).isDirectory()) throw new SudoersError(`${dir} is not a directory`);
    return;
  }
  mkdirSync(hostDir, { recursive: true, mode: 0o750 });
  const mainInner = posix.join(posix.dirname(dir), 'sudoers');
  const main = root.resolve(mainInner);
  // No main sudoers file means no sudo installed: the drop-in is harmless, inventing a main file is not.
  if (!existsSync(main)) return;
  const text = readOr(main, '');
  const included = text.split('\n').some((l) => /^[#@]includedir\s+/.test(l.trim()) && l.trim().split(/\s+/)[1] === dir);
  if (included) return;
  const mode = statSync(main).mode & 0o7777;
  const next = text + `\n#includedir ${dir}\n`;
  await check(runner, hostDir, next, mainInner);
  writeFileAtomic(main, next, { mode, uid: 0, gid: 0 });
}
