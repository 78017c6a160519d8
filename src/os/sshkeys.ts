// SSH keys on the machine (docs/os.md §4.12, §4.14): the user's authorized_keys (append, never
// overwrite: Ignition's keys on Flatcar must survive), key pairs from the goal-state certificates,
// and the SSH host keys with the thumbprint reported to the platform.
import { closeSync, constants, existsSync, fchmodSync, fchownSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { randomHex } from '../util/unique.ts';
import { posix } from 'node:path';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic, syncDir } from '../util/atomic.ts';
import { readBoundedText } from '../util/fsread.ts';
import {
  generateKeyPair, fingerprint, thumbprintOf, publicKeyFromPrivate, parseOpensshPublicKey, isSshKeyType, SshKeyError,
  type SshKeyType, type ParsedPublicKey,
} from '../crypto/sshkeygen.ts';
import { errorText } from '../util/errors.ts';

export { SshKeyError };

export interface KeyOwner {
  uid: number;
  gid: number;
}

export interface KeyTarget {
  /** Inner path of the file, already checked with validate.ts `validateKeyPath`. */
  path: string;
  /** Inner directory the path must stay under (the user's home); directories below it are created. */
  base: string;
  owner: KeyOwner;
}

function rel(base: string, path: string): string[] {
  const b = posix.normalize(base).replace(/\/+$/, '');
  const p = posix.normalize(path);
  if (!p.startsWith(b + '/')) throw new SshKeyError(`${path} is not under ${base}`);
  const parts = p.slice(b.length + 1).split('/');
  if (parts.some((x) => x === '' || x === '.' || x === '..')) throw new SshKeyError(`bad key path ${path}`);
  return parts;
}

/**
 * A directory held open without following a link (O_NOFOLLOW|O_DIRECTORY). `path` (/proc/self/fd/N)
 * reaches that very directory afterwards, even if the user renames it and plants a link in its place
 * between our check and our write (the home is user-owned: a lstat-then-write sequence could be
 * raced into writing root's files). Without /proc the plain path is used.
 */
interface HeldDir { fd: number; path: string }
let procFd: boolean | undefined;

function hold(host: string, inner: string): HeldDir {
  let fd: number;
  try {
    fd = openSync(host, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ELOOP' || code === 'ENOTDIR') {
      let link = code === 'ELOOP';
      try { link = lstatSync(host).isSymbolicLink(); } catch { /* gone */ }
      throw new SshKeyError(`${inner} is ${link ? 'a symbolic link' : 'not a directory'}; refusing to write keys through it`);
    }
    throw e;
  }
  procFd ??= existsSync(`/proc/self/fd/${fd}`);
  return { fd, path: procFd ? `/proc/self/fd/${fd}` : host };
}

/**
 * Create the directories between `base` and the file without following any symlink (the home is
 * user-owned: a planted link must not redirect our root writes). New directories are 0700 and owned
 * by the user; the leaf directory is forced to 0700 + owner even if it existed (upstream does so).
 * Returns the leaf directory, held open (close its fd), and its plain host path.
 */
export function ensureKeyDir(root: Sysroot, target: KeyTarget): { dir: HeldDir; real: string } {
  const parts = rel(target.base, target.path);
  let real = root.resolve(target.base);
  let inner = posix.normalize(target.base);
  let dir = hold(real, inner);
  try {
    for (const part of parts.slice(0, -1)) {
      real = posix.join(real, part);
      inner = posix.join(inner, part);
      let created = false;
      try { mkdirSync(`${dir.path}/${part}`, { mode: 0o700 }); created = true; } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const next = hold(`${dir.path}/${part}`, inner);
      closeSync(dir.fd);
      dir = next;
      if (created) fchownSync(dir.fd, target.owner.uid, target.owner.gid);
    }
    if (parts.length > 1) {
      fchmodSync(dir.fd, 0o700);
      fchownSync(dir.fd, target.owner.uid, target.owner.gid);
    }
    return { dir, real };
  } catch (e) {
    closeSync(dir.fd);
    throw e;
  }
}

/**
 * The file's directories made safe and held; refuses a file that is a link or not regular. `host`
 * writes through the held directory; `real` is the plain path (for a child process); close() when done.
 */
function leafPath(root: Sysroot, target: KeyTarget): { host: string; real: string; close: () => void } {
  const { dir, real } = ensureKeyDir(root, target);
  const name = posix.basename(target.path);
  const host = `${dir.path}/${name}`;
  try {
    const st = lstatSync(host);
    if (!st.isFile()) throw new SshKeyError(`${target.path} is ${st.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}`);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') { closeSync(dir.fd); throw e; }
  }
  return { host, real: posix.join(real, name), close: () => closeSync(dir.fd) };
}

const identity = (k: { type: string; blob: string }) => `${k.type} ${k.blob}`;

/** Identities (type + blob) of the keys in an authorized_keys text; option prefixes are skipped over. */
export function keyIdentities(text: string): Set<string> {
  const ids = new Set<string>();
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const tokens = t.split(/[ \t]+/);
    for (let i = 0; i + 1 < tokens.length; i++) {
      if (/^AAAA[A-Za-z0-9+/=]+$/.test(tokens[i + 1]!)) { ids.add(`${tokens[i]} ${tokens[i + 1]}`); break; }
    }
  }
  return ids;
}

export interface AuthorizedKeysResult {
  added: number;
  /** Keys already present (same type and key data, comment ignored). */
  present: number;
}

/**
 * Append keys to an authorized_keys file (docs/os.md §4.14: append semantics, kept from upstream ≥ 2.12):
 * existing lines stay, keys already present are not added again, the file is replaced atomically
 * with mode 0600 owned by the user (upstream 0644; 0600 is what sshd's StrictModes prefers).
 */
export function addAuthorizedKeys(root: Sysroot, target: KeyTarget, keys: string[], opts: { acceptAllKeyTypes?: boolean } = {}): AuthorizedKeysResult {
  const parsed: ParsedPublicKey[] = keys.map((k) => parseOpensshPublicKey(k, opts));
  const leaf = leafPath(root, target);
  try { return addKeysAt(leaf.host, target, parsed); } finally { leaf.close(); }
}

function addKeysAt(host: string, target: KeyTarget, parsed: ParsedPublicKey[]): AuthorizedKeysResult {
  let old = '';
  try {
    // Bounded before reading: the file is the user's, and could be any size.
    old = readBoundedText(host, 4 << 20, target.path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new SshKeyError(errorText(e));
  }
  const have = keyIdentities(old);
  const lines: string[] = [];
  let present = 0;
  for (const k of parsed) {
    if (have.has(identity(k))) { present++; continue; }
    have.add(identity(k));
    lines.push([k.type, k.blob, k.comment].filter(Boolean).join(' '));
  }
  const st = old ? lstatSync(host) : null;
  const ownerOk = st !== null && st.uid === target.owner.uid && st.gid === target.owner.gid && (st.mode & 0o777) === 0o600;
  if (lines.length === 0 && ownerOk) return { added: 0, present };
  const prefix = old === '' || old.endsWith('\n') ? old : old + '\n';
  const next = prefix + lines.map((l) => l + '\n').join('');
  writeFileAtomic(host, next, { mode: 0o600, uid: target.owner.uid, gid: target.owner.gid });
  return { added: lines.length, present };
}

/**
 * Key pair from the goal-state certificates (docs/os.md §4.14): `<Lib.Dir>/<FP>.prv` copied to the path
 * with mode 0600 and the user as owner (upstream leaves it 0644 root-owned, which ssh refuses), and
 * `<path>.pub` in OpenSSH format, 0644 (upstream writes PEM; ssh tools expect OpenSSH).
 */
export async function deployKeyPair(runner: Runner, root: Sysroot, target: KeyTarget, privateKeyInner: string): Promise<{ publicKey: string }> {
  let pem: string;
  const src = root.resolve(privateKeyInner);
  try {
    if (lstatSync(src).size > 64 * 1024) throw new SshKeyError(`${privateKeyInner} is larger than 64 KiB`);
    pem = readFileSync(src, 'utf8');
  } catch (e) {
    if (e instanceof SshKeyError) throw e;
    throw new SshKeyError(`Can't find ${posix.basename(privateKeyInner)}: ${(e as NodeJS.ErrnoException).code ?? errorText(e)}`);
  }
  if (!/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(pem)) throw new SshKeyError(`${privateKeyInner} is not a PEM private key`);
  const leaf = leafPath(root, target);
  let publicKey: string;
  try {
    writeFileAtomic(leaf.host, pem, { mode: 0o600, uid: target.owner.uid, gid: target.owner.gid });
    // From the source in Lib.Dir (root's), not from the copy in the user's directory, which
    // ssh-keygen (another process) could only be given by its plain path.
    publicKey = await publicKeyFromPrivate(runner, src);
    const pub = leafPath(root, { ...target, path: target.path + '.pub' });
    try { writeFileAtomic(pub.host, publicKey + '\n', { mode: 0o644, uid: target.owner.uid, gid: target.owner.gid }); } finally { pub.close(); }
  } finally {
    leaf.close();
  }
  return { publicKey };
}

export type HostKeyPairType = SshKeyType | 'auto';

export interface HostKeyOptions {
  /** OS.SshDir; default /etc/ssh. */
  sshDir?: string;
  /** Provisioning.SshHostKeyPairType; `auto` = every type `ssh-keygen -A` makes today. */
  type: HostKeyPairType;
}

function typesFor(type: HostKeyPairType): SshKeyType[] {
  if (type === 'auto') return ['rsa', 'ecdsa', 'ed25519'];
  if (!isSshKeyType(type)) throw new SshKeyError(`unknown SSH host key type ${JSON.stringify(type)}`);
  return [type];
}

const isHostKeyFile = (name: string) => name.startsWith('ssh_host_') && name.includes('key');

/**
 * Provisioning.RegenerateSshHostKeyPair (docs/os.md §4.12): new keys are generated first under temporary
 * names, then the old `ssh_host_*key*` files are deleted and the new ones renamed into place — so
 * a failure during generation leaves the old keys working. Each type is generated explicitly
 * (instead of `ssh-keygen -A`) so a non-default OS.SshDir and a Sysroot both work.
 * Returns the inner paths of the new private keys.
 */
export async function regenerateHostKeys(runner: Runner, root: Sysroot, opts: HostKeyOptions): Promise<string[]> {
  const sshDir = opts.sshDir ?? '/etc/ssh';
  const types = typesFor(opts.type);
  const dir = root.resolve(sshDir);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const tag = randomHex(8);
  const fresh: { tmp: string; final: string }[] = [];
  try {
    for (const t of types) {
      const tmp = posix.join(dir, `.waagent-new-${tag}-${t}`);
      await generateKeyPair(runner, tmp, t);
      fresh.push({ tmp, final: posix.join(dir, `ssh_host_${t}_key`) });
    }
  } catch (e) {
    for (const f of fresh) { rmSync(f.tmp, { force: true }); rmSync(f.tmp + '.pub', { force: true }); }
    throw e;
  }
  for (const name of readdirSync(dir)) {
    if (!isHostKeyFile(name)) continue;
    const p = posix.join(dir, name);
    const st = lstatSync(p);
    if (st.isFile() || st.isSymbolicLink()) unlinkSync(p);
  }
  for (const f of fresh) {
    renameSync(f.tmp + '.pub', f.final + '.pub');
    renameSync(f.tmp, f.final);
  }
  syncDir(dir);
  return types.map((t) => posix.join(sshDir, `ssh_host_${t}_key`));
}

/**
 * Thumbprint of the host key to report (roleProperties CertificateThumbprint, docs/protocol.md §1.11):
 * `ssh-keygen -lf <OS.SshDir>/ssh_host_<type>_key.pub`, colons removed; `auto` means rsa.
 * A missing or unreadable key is an error (upstream fails provisioning too).
 */
export async function hostKeyThumbprint(runner: Runner, root: Sysroot, opts: HostKeyOptions): Promise<string> {
  const t = opts.type === 'auto' ? 'rsa' : opts.type;
  if (!isSshKeyType(t)) throw new SshKeyError(`unknown SSH host key type ${JSON.stringify(t)}`);
  const inner = posix.join(opts.sshDir ?? '/etc/ssh', `ssh_host_${t}_key.pub`);
  const host = root.resolve(inner);
  try { lstatSync(host); } catch { throw new SshKeyError(`Failed to generate ssh host key: ${inner} not found`); }
  return thumbprintOf(await fingerprint(runner, host));
}

/**
 * docs/os.md §4.2 step 7 / §4.12 in one call: regenerate when Provisioning.RegenerateSshHostKeyPair=y,
 * then always fingerprint the key of the configured type (a missing key fails provisioning, as
 * upstream). Returns what was generated and the thumbprint for roleProperties.
 */
export async function provisionHostKeys(runner: Runner, root: Sysroot, opts: HostKeyOptions & { regenerate: boolean }): Promise<{ regenerated: string[]; thumbprint: string }> {
  const regenerated = opts.regenerate ? await regenerateHostKeys(runner, root, opts) : [];
  return { regenerated, thumbprint: await hostKeyThumbprint(runner, root, opts) };
}
