// Input from the platform (user name, hostname, key paths) is checked here before any OS tool or
// file sees it. The Python agent validates nothing (docs/os.md §4.5, §4.7, §4.14); we refuse instead.
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';
import { AgentError, errorText } from '../util/errors.ts';

export class ValidationError extends AgentError {
  static override readonly errorName: string = 'ValidationError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(`invalid ${field}: ${message}`);
    this.field = field;
  }
}

/** Shown in errors: printable, bounded, so a hostile value cannot flood or corrupt a log line. */
export function show(value: string): string {
  const s = value.length > 80 ? value.slice(0, 80) + '…' : value;
  return JSON.stringify(s);
}

/**
 * Accounts that belong to the system on common distros. Refused as the provisioned user unless
 * Provisioning.AllowResetSysUser=y (then only `root` stays refused). The uid < UID_MIN test in
 * users.ts catches the ones not listed here.
 */
export const SYSTEM_USER_NAMES: ReadonlySet<string> = new Set([
  'root', 'bin', 'daemon', 'adm', 'lp', 'sync', 'shutdown', 'halt', 'mail', 'news', 'uucp', 'operator',
  'games', 'gopher', 'ftp', 'nobody', 'nogroup', 'sys', 'man', 'proxy', 'www-data', 'backup', 'list',
  'irc', 'gnats', 'sshd', 'messagebus', 'polkitd', 'dbus', 'systemd-network', 'systemd-resolve',
  'systemd-timesync', 'systemd-journal', 'systemd-coredump', 'tss', 'chrony', 'rpc', 'rpcuser', 'postfix',
  'apache', 'nginx', 'mysql', 'postgres', 'tcpdump', 'syslog', 'uuidd', '_apt', 'portage', 'docker',
]);

// POSIX portable user name (letters, digits, `.`, `_`, `-`), not starting with `-` or a digit (a
// numeric name would be taken for a uid by chown and friends), at most 32 characters (utmp).
// Upper case is allowed because Azure allows it; Debian's useradd will then refuse it itself.
const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export function validateUserName(name: unknown, opts: { allowResetSysUser?: boolean } = {}): string {
  if (typeof name !== 'string' || name.length === 0) throw new ValidationError('user name', 'missing');
  if (!USER_RE.test(name)) {
    throw new ValidationError('user name', `${show(name)} must match ${USER_RE.source} (no shell metacharacters, spaces or path separators)`);
  }
  if (name.endsWith('.')) throw new ValidationError('user name', `${show(name)} must not end with "."`);
  // root is refused even with AllowResetSysUser: handing root's password and keys to the platform's
  // user definition is never what an image wants.
  if (name === 'root') throw new ValidationError('user name', '"root" cannot be the provisioned user');
  if (!opts.allowResetSysUser && SYSTEM_USER_NAMES.has(name.toLowerCase())) {
    throw new ValidationError('user name', `${show(name)} is a reserved system account (set Provisioning.AllowResetSysUser=y to allow)`);
  }
  return name;
}

const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, ≤63 each, ≤253 total. */
export function validateHostname(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) throw new ValidationError('hostname', 'missing');
  if (name.length > 253) throw new ValidationError('hostname', `longer than 253 characters (${name.length})`);
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length === 0) throw new ValidationError('hostname', `${show(name)} has an empty label`);
    if (label.length > 63) throw new ValidationError('hostname', `${show(name)} has a label longer than 63 characters`);
    if (!LABEL_RE.test(label)) {
      throw new ValidationError('hostname', `${show(name)}: label ${show(label)} may contain only letters, digits and inner hyphens`);
    }
  }
  return name;
}

export interface KeyPathOptions {
  /** OS.HomeDir: what a literal `$HOME` in the ovf path stands for (the home ROOT, docs/os.md §4.14). */
  homeRoot: string;
  /** The user's home directory (from passwd, or `<homeRoot>/<user>` before the user exists). */
  userHome: string;
  /** Extra directories where key files may live (e.g. an AuthorizedKeysFile outside homes). */
  allowedDirs?: string[];
}

function within(p: string, dir: string): boolean {
  const d = dir === '/' ? '/' : dir.replace(/\/+$/, '') + '/';
  return p.startsWith(d) && p.length > d.length;
}

/**
 * Lexical check of an ovf key path; needs no file system, so it can run before anything is changed.
 * Returns the normalised absolute path. `$HOME` is replaced by the home root (upstream semantics);
 * the result must be absolute, free of `..`, and inside the user's home or an allowed dir.
 */
export function keyPathLexical(path: unknown, opts: KeyPathOptions): string {
  if (typeof path !== 'string' || path.length === 0) throw new ValidationError('key path', 'missing');
  if (path.length > 4096) throw new ValidationError('key path', 'longer than 4096 characters');
  if (/[\x00-\x1f\x7f]/.test(path)) throw new ValidationError('key path', `${show(path)} contains control characters`);
  const expanded = path.split('$HOME').join(opts.homeRoot.replace(/\/+$/, ''));
  if (!expanded.startsWith('/')) throw new ValidationError('key path', `${show(path)} is neither absolute nor $HOME-relative`);
  if (expanded.split('/').includes('..')) throw new ValidationError('key path', `${show(path)} contains ".."`);
  const norm = posix.normalize(expanded);
  if (norm.endsWith('/')) throw new ValidationError('key path', `${show(path)} names a directory, not a file`);
  const dirs = [opts.userHome, ...(opts.allowedDirs ?? [])].map((d) => posix.normalize(d));
  if (!dirs.some((d) => within(norm, d))) {
    throw new ValidationError('key path', `${show(path)} is outside the user's home ${show(opts.userHome)}`);
  }
  return norm;
}

/**
 * Lexical check plus symlink resolution inside the root (as under chroot): the path and the home are
 * both resolved, so /home -> /var/home setups pass, and a link pointing out of the home is refused.
 * Call after the user exists. Returns the inner path to write (not resolved: writers refuse links).
 */
export function validateKeyPath(root: Sysroot, path: unknown, opts: KeyPathOptions): string {
  const norm = keyPathLexical(path, opts);
  let resolved: string;
  const bases: string[] = [];
  try {
    resolved = root.resolveInner(norm);
    for (const d of [opts.userHome, ...(opts.allowedDirs ?? [])]) bases.push(root.resolveInner(posix.normalize(d)));
  } catch (e) {
    throw new ValidationError('key path', `${show(norm)}: ${errorText(e)}`);
  }
  if (!bases.some((b) => within(resolved, b))) {
    throw new ValidationError('key path', `${show(norm)} resolves to ${show(resolved)}, outside the user's home`);
  }
  return norm;
}
