// User accounts through the shadow tools (useradd, usermod, chpasswd, userdel), always with
// `--root <dir>` when the Sysroot is not `/`, so tests and rescue mode act on another tree.
import type { Runner, ExecResult } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { validateUserName, show } from './validate.ts';
import { log } from '../util/logger.ts';
import { hashPassword, verifyPassword, type HashOptions } from '../crypto/password.ts';
import { readBoundedText } from '../util/fsread.ts';
import { AgentError, errorText } from '../util/errors.ts';

export class UserError extends AgentError {
  static override readonly errorName: string = 'UserError';
}

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

const MAX_DB_BYTES = 16 << 20;

function readDb(root: Sysroot, path: string): string {
  let text: string;
  try {
    text = readBoundedText(root.resolve(path), MAX_DB_BYTES, path, true);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw new UserError(`cannot read ${path}: ${errorText(e)}`);
  }
  if (text.length > MAX_DB_BYTES) throw new UserError(`${path} is larger than ${MAX_DB_BYTES} bytes`);
  return text;
}

/** passwd(5) lines; malformed lines are skipped (the tools skip them too). */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || line.startsWith('#') || line.startsWith('+') || line.startsWith('-')) continue;
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!)) continue;
    out.push({ name: f[0], uid, gid, gecos: f[4]!, home: f[5]!, shell: f[6]! });
  }
  return out;
}

export function readPasswd(root: Sysroot): PasswdEntry[] {
  return parsePasswd(readDb(root, '/etc/passwd'));
}

export function getUser(root: Sysroot, name: string): PasswdEntry | null {
  return readPasswd(root).find((e) => e.name === name) ?? null;
}

/** Group names present in /etc/group. */
export function readGroupNames(root: Sysroot): Set<string> {
  const names = new Set<string>();
  for (const line of readDb(root, '/etc/group').split('\n')) {
    const name = line.split(':')[0];
    if (name && !line.startsWith('#')) names.add(name);
  }
  return names;
}

/** UID_MIN from /etc/login.defs: first `UID_MIN` line's second field; missing -> 100 (as upstream). */
export function readUidMin(root: Sysroot): number {
  for (const line of readDb(root, '/etc/login.defs').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[0] === 'UID_MIN') {
      const n = Number(f[1]);
      return Number.isInteger(n) && n >= 0 ? n : 100;
    }
  }
  return 100;
}

export interface SysUserOptions {
  allowResetSysUser?: boolean;
  /** Names never considered system users (Flatcar's `core`). */
  neverSystemUsers?: string[];
}

/** docs/os.md §4.7: a system user is one that exists with uid < UID_MIN, unless AllowResetSysUser. */
export function isSystemUser(root: Sysroot, name: string, opts: SysUserOptions = {}): boolean {
  if (opts.allowResetSysUser) return false;
  if (opts.neverSystemUsers?.includes(name)) return false;
  const e = getUser(root, name);
  return e !== null && e.uid < readUidMin(root);
}

export function rootArgs(root: Sysroot): string[] {
  return root.isHost ? [] : ['--root', root.root];
}

function failure(what: string, r: ExecResult): UserError {
  const how = r.timedOut ? 'timed out' : `exit ${r.code}`;
  return new UserError(`${what} failed (${how}): ${r.stderr.trim().slice(0, 300)}`);
}

export interface EnsureUserOptions extends SysUserOptions {
  name: string;
  /** Login shell; used only when it exists in the root (else the useradd default applies). */
  shell?: string | null;
  /** Supplementary groups; those missing from /etc/group are ignored. */
  groups?: string[];
  comment?: string;
  /** YYYY-MM-DD (JIT users, docs/os.md §4.17). */
  expireDate?: string;
}

export interface EnsureUserResult {
  created: boolean;
  user: PasswdEntry;
}

/**
 * Create the user with a home (useradd -m) or, if it exists and is a normal user, add missing
 * groups (usermod -a -G). An existing system user is refused unless AllowResetSysUser.
 * Idempotent: a second call finds the user and changes nothing.
 */
export async function ensureUser(runner: Runner, root: Sysroot, opts: EnsureUserOptions): Promise<EnsureUserResult> {
  const name = validateUserName(opts.name, { allowResetSysUser: opts.allowResetSysUser });
  if (opts.expireDate !== undefined && !/^\d{4}-\d{2}-\d{2}$/.test(opts.expireDate)) {
    throw new UserError(`invalid expiry date ${show(opts.expireDate)}`);
  }
  if (opts.comment !== undefined && /[:\n\r\0]/.test(opts.comment)) throw new UserError('invalid user comment');
  const known = readGroupNames(root);
  const groups = (opts.groups ?? []).filter((g) => known.has(g));
  const existing = getUser(root, name);
  if (existing) {
    if (isSystemUser(root, name, opts)) {
      throw new UserError(`user ${show(name)} is a system user (uid ${existing.uid}); set Provisioning.AllowResetSysUser=y to reuse it`);
    }
    log.info(`User ${name} already exists, skip useradd`);
    const missing = groups.filter((g) => !memberOf(root, g, name));
    if (missing.length) {
      const r = await runner.run(['usermod', ...rootArgs(root), '-a', '-G', missing.join(','), '--', name], { timeoutMs: 60_000 });
      if (r.code !== 0) throw failure(`usermod -a -G for ${show(name)}`, r);
    }
    return { created: false, user: existing };
  }
  const argv = ['useradd', ...rootArgs(root), '-m'];
  if (opts.shell && shellExists(root, opts.shell)) argv.push('-s', opts.shell);
  if (groups.length) argv.push('-G', groups.join(','));
  if (opts.comment !== undefined) argv.push('-c', opts.comment);
  if (opts.expireDate !== undefined) argv.push('-e', opts.expireDate);
  argv.push('--', name);
  const r = await runner.run(argv, { timeoutMs: 60_000 });
  if (r.code !== 0) throw failure(`useradd ${show(name)}`, r);
  const user = getUser(root, name);
  if (!user) throw new UserError(`useradd ${show(name)} succeeded but the user is not in /etc/passwd`);
  return { created: true, user };
}

function shellExists(root: Sysroot, shell: string): boolean {
  try {
    return readBoundedText(root.resolve('/etc/shells'), 1 << 20, '/etc/shells', true).split('\n').some((l) => l.trim() === shell);
  } catch {
    return false;
  }
}

function memberOf(root: Sysroot, group: string, user: string): boolean {
  for (const line of readDb(root, '/etc/group').split('\n')) {
    const f = line.split(':');
    if (f[0] === group) return (f[3] ?? '').split(',').includes(user);
  }
  return false;
}

/**
 * Set an already-hashed password with `chpasswd -e`, the `user:hash` line on stdin (docs/os.md §4.8
 * recommendation: nothing secret in argv, unlike upstream's `usermod -p`). Refused for system users.
 */
export async function setPasswordHash(runner: Runner, root: Sysroot, name: string, hash: string, opts: SysUserOptions = {}): Promise<void> {
  validateUserName(name, { allowResetSysUser: opts.allowResetSysUser });
  if (!getUser(root, name)) throw new UserError(`cannot set the password of ${show(name)}: no such user`);
  if (isSystemUser(root, name, opts)) throw new UserError(`user ${show(name)} is a system user, will not set password`);
  if (!/^\$[0-9a-z]+\$[^\s:]+$/.test(hash)) throw new UserError('refusing to set a password hash in an unexpected format');
  const r = await runner.run(['chpasswd', '-e', ...rootArgs(root)], { input: `${name}:${hash}\n`, timeoutMs: 60_000, secrets: [hash] });
  // stderr of chpasswd names the line number, not the hash; still passed through `secrets` above.
  if (r.code !== 0) throw new UserError(`chpasswd for ${show(name)} failed (exit ${r.code})`);
}

/** The password field of the user's shadow entry (null: no entry or no shadow file). */
export function readShadowHash(root: Sysroot, name: string, opts: { passwordPath?: string } = {}): string | null {
  for (const line of readDb(root, opts.passwordPath ?? '/etc/shadow').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f.length >= 2) return f[1]!;
  }
  return null;
}

/**
 * Give the user this password (docs/os.md §4.8): hashed per PasswordCryptId/SaltLength with a CSPRNG
 * salt, applied with chpasswd -e. When the current hash already matches the password nothing is
 * changed, so a second run leaves the shadow file as it was. Returns whether it was set.
 */
export async function ensurePassword(runner: Runner, root: Sysroot, name: string, password: string,
  opts: SysUserOptions & HashOptions & { passwordPath?: string } = {}): Promise<boolean> {
  const current = readShadowHash(root, name, opts);
  if (current && await verifyPassword(runner, password, current, { openssl: opts.openssl })) return false;
  const hash = await hashPassword(runner, password, opts);
  await setPasswordHash(runner, root, name, hash, opts);
  return true;
}

/**
 * Remove a user and its home (`userdel -f -r`), for deprovision+user and expired JIT users.
 * Unlike upstream (docs/os.md §7.2 step 9), a system user is really skipped. Missing user: no-op.
 */
export async function deleteUser(runner: Runner, root: Sysroot, name: string, opts: SysUserOptions = {}): Promise<boolean> {
  validateUserName(name, { allowResetSysUser: true });
  if (!getUser(root, name)) return false;
  if (isSystemUser(root, name, { ...opts, allowResetSysUser: false })) throw new UserError(`${show(name)} is a system user, will not delete it`);
  const r = await runner.run(['userdel', ...rootArgs(root), '-f', '-r', '--', name], { timeoutMs: 120_000 });
  // userdel exits 12 when it could not remove the home or mail spool; the account itself is gone.
  if (r.code !== 0 && r.code !== 12) throw failure(`userdel ${show(name)}`, r);
  return true;
}
