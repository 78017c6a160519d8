// sshd settings from provisioning (docs/os.md §4.13): PasswordAuthentication,
// ChallengeResponseAuthentication and ClientAliveInterval — in a drop-in under sshd_config.d when
// sshd reads it, else by editing sshd_config exactly as the Python agent does.
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/logger.ts';
import type { DistroProfile } from './distro.ts';
import { AgentError } from '../util/errors.ts';

export class SshdConfigError extends AgentError {
  static override readonly errorName: string = 'SshdConfigError';
}

export interface SshdOptions {
  /** OS.SshDir; default /etc/ssh. */
  sshDir?: string;
  /** ovf DisableSshPasswordAuthentication (absent in the ovf -> false -> password auth enabled). */
  disablePasswordAuth: boolean;
  /** OS.SshClientAliveInterval (read as a string upstream); anything but digits -> 180. */
  clientAliveInterval?: number | string;
  /** The distro's sshd strategy (drop-in name, whether the Include must be verified). */
  profile: DistroProfile['sshd'];
}

export interface SshdResult {
  mode: 'dropin' | 'main';
  /** Inner path of the file written (or that would have been). */
  path: string;
  changed: boolean;
}

/**
 * The three options in upstream's order. `ChallengeResponseAuthentication` is kept (not replaced by
 * `KbdInteractiveAuthentication`): OpenSSH ≥ 8.7 still accepts it as an alias of the same option,
 * and older sshd versions would refuse to start on a keyword they do not know.
 */
export function sshdSettings(disablePasswordAuth: boolean, clientAliveInterval: number | string | undefined): [string, string][] {
  const v = disablePasswordAuth ? 'no' : 'yes';
  const s = String(clientAliveInterval ?? '180').trim();
  const interval = /^\d{1,9}$/.test(s) ? String(Number(s)) : '180';
  return [['PasswordAuthentication', v], ['ChallengeResponseAuthentication', v], ['ClientAliveInterval', interval]];
}

const isMatch = (line: string) => /^match(\s|$)/i.test(line);
const isMatchAll = (line: string) => /^match\s+all\s*$/i.test(line);
const sets = (line: string, name: string) => line.startsWith(name) && /^[\s=]|^$/.test(line.slice(name.length));

/**
 * Upstream `set_ssh_config`: the first column-0 line setting `name` outside a Match block is
 * replaced; otherwise the setting is inserted before the first Match line, or appended.
 * `lines` is the text split on '\n' (a trailing '' element for a final newline).
 */
export function setSshConfig(lines: string[], name: string, value: string): string[] {
  const out = [...lines];
  const setting = `${name} ${value}`;
  let inMatch = false;
  let firstMatch = -1;
  for (let i = 0; i < out.length; i++) {
    const line = out[i]!;
    if (isMatch(line)) {
      if (firstMatch < 0 && !isMatchAll(line)) firstMatch = i;
      inMatch = !isMatchAll(line);
      continue;
    }
    if (!inMatch && sets(line, name)) {
      out[i] = setting;
      return out;
    }
  }
  if (firstMatch >= 0) out.splice(firstMatch, 0, setting);
  else if (out.length > 0 && out[out.length - 1] === '') out.splice(out.length - 1, 0, setting);
  else out.push(setting);
  return out;
}

function hasGlobal(lines: string[], name: string): boolean {
  let inMatch = false;
  for (const line of lines) {
    if (isMatch(line)) { inMatch = !isMatchAll(line); continue; }
    if (!inMatch && sets(line, name)) return true;
  }
  return false;
}

/** Glob (sshd Include: `*`, `?`) against a path, segment-wise like glob(3). */
function globMatches(pattern: string, path: string): boolean {
  const re = pattern.split('').map((c) => (c === '*' ? '[^/]*' : c === '?' ? '[^/]' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${re}$`).test(path);
}

/**
 * Where the drop-in would stop winning: returns true when sshd_config Includes the drop-in (outside
 * Match blocks) and sets none of our options before that Include (sshd keeps the first value seen).
 */
export function includesDropIn(mainText: string, sshDir: string, dropIn: string, names: string[]): boolean {
  let inMatch = false;
  for (const raw of mainText.split('\n')) {
    const line = raw.trim();
    if (isMatch(line)) { inMatch = !isMatchAll(line); continue; }
    if (inMatch || line.startsWith('#')) continue;
    const [kw, ...args] = line.split(/\s+/);
    if (!kw) continue;
    if (names.some((n) => n.toLowerCase() === kw.toLowerCase())) return false;
    if (kw.toLowerCase() === 'include') {
      // Relative Include paths are taken relative to /etc/ssh by sshd (its compiled-in dir).
      if (args.some((a) => globMatches(a.startsWith('/') ? a : posix.join(sshDir, a), dropIn))) return true;
    }
  }
  return false;
}

function isDir(path: string): boolean {
  try { return lstatSync(path).isDirectory(); } catch { return false; }
}

function readText(path: string, what: string): string | null {
  try {
    const st = statSync(path);
    if (st.size > 4 << 20) throw new SshdConfigError(`${what} is larger than 4 MiB`);
    return readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

export function configureSshd(root: Sysroot, opts: SshdOptions): SshdResult {
  const sshDir = opts.sshDir ?? '/etc/ssh';
  const settings = sshdSettings(opts.disablePasswordAuth, opts.clientAliveInterval);
  // KbdInteractiveAuthentication is the same sshd option as ChallengeResponseAuthentication.
  const names = [...settings.map(([n]) => n), 'KbdInteractiveAuthentication'];
  const mainInner = posix.join(sshDir, 'sshd_config');
  const dropDirInner = posix.join(sshDir, 'sshd_config.d');
  const dropInner = posix.join(dropDirInner, opts.profile.dropInName);
  const mainText = readText(root.resolve(mainInner), mainInner);

  const result = (r: SshdResult): SshdResult => {
    log.info(`${opts.disablePasswordAuth ? 'Disabled' : 'Enabled'} SSH password-based authentication methods.`);
    log.info('Configured SSH client probing to keep connections alive.');
    if (r.changed) log.verbose(`sshd settings written to ${r.path}`);
    return r;
  };
  const useDropIn = isDir(root.path(dropDirInner)) &&
    (opts.profile.dropInWithoutInclude || (mainText !== null && includesDropIn(mainText, sshDir, dropInner, names)));
  if (useDropIn) {
    const text = settings.map(([n, v]) => `${n} ${v}`).join('\n') + '\n';
    const host = root.pathNoFollow(dropInner);
    const old = readText(host, dropInner);
    if (old === text) return result({ mode: 'dropin', path: dropInner, changed: false });
    if (old !== null && lstatSync(host).isSymbolicLink()) throw new SshdConfigError(`${dropInner} is a symbolic link`);
    writeFileAtomic(host, text, { mode: 0o644, uid: 0, gid: 0 });
    return result({ mode: 'dropin', path: dropInner, changed: true });
  }

  if (mainText === null) throw new SshdConfigError(`${mainInner} not found and no usable ${dropDirInner}`);
  let lines = mainText.split('\n');
  for (const [n, v] of settings) lines = setSshConfig(lines, n, v);
  // A global KbdInteractiveAuthentication line (Debian ships one) would win over the alias we set
  // after it: replace it too, but never add the keyword where it is absent (older sshd lack it).
  if (hasGlobal(lines, 'KbdInteractiveAuthentication')) lines = setSshConfig(lines, 'KbdInteractiveAuthentication', settings[1]![1]);
  const next = lines.join('\n');
  if (next === mainText) return result({ mode: 'main', path: mainInner, changed: false });
  // Writing at the link path replaces a symlink (Flatcar: into read-only /usr) by a real file, like
  // the Flatcar agent's copy-then-edit; the mode of the file it pointed to is kept.
  const mode = statSync(root.resolve(mainInner)).mode & 0o7777;
  writeFileAtomic(root.pathNoFollow(mainInner), next, { mode, uid: 0, gid: 0 });
  return result({ mode: 'main', path: mainInner, changed: true });
}

/**
 * Make sshd pick the settings up, per distro (RHEL `systemctl condrestart sshd`; nothing on
 * Flatcar's socket-activated sshd or where upstream does nothing). Failure is reported, not thrown:
 * the settings are on disk and apply at the next sshd start.
 */
export async function restartSshd(runner: Runner, root: Sysroot, profile: DistroProfile['sshd']): Promise<{ ran: boolean; ok: boolean }> {
  if (!profile.restart || !root.isHost) return { ran: false, ok: true };
  const r = await runner.run(profile.restart, { timeoutMs: 60_000 });
  return { ran: true, ok: r.code === 0 };
}
