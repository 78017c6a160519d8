// Atomic file replacement: temp file in the same directory, fsync, mode/owner, rename, fsync of
// the directory. A crash at any point leaves either the old file or the new one, never half.
import { closeSync, fchmodSync, fchownSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync, constants } from 'node:fs';
import { randomHex } from './unique.ts';
import { basename, dirname, join } from 'node:path';

export interface AtomicOptions {
  /** File mode, applied with fchmod so the umask cannot widen or narrow it. Default 0600. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Create missing parent directories with this mode (default: do not create). */
  mkdirMode?: number;
  /**
   * false: no fsync of the file and its directory. The replacement stays atomic for a crash of the process
   * (SIGKILL: the old file or the new one); only a power loss may leave the new name with less than its
   * data. For copies kept for people to read, rewritten often, whose loss costs nothing. Default true.
   */
  durable?: boolean;
}

/** Test hook: called after the temp file is complete and before the rename. */
export let beforeRenameHook: ((tmp: string, target: string) => void) | null = null;
export function setBeforeRenameHook(h: ((tmp: string, target: string) => void) | null): void { beforeRenameHook = h; }

export function writeFileAtomic(path: string, data: string | Uint8Array, opts: AtomicOptions = {}): void {
  const dir = dirname(path);
  if (opts.mkdirMode !== undefined) mkdirSync(dir, { recursive: true, mode: opts.mkdirMode });
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomHex(8)}`);
  const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  let fd = -1;
  try {
    // O_EXCL|O_NOFOLLOW: never write through a planted symlink or into someone else's file.
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fchmodSync(fd, opts.mode ?? 0o600);
    if (opts.uid !== undefined || opts.gid !== undefined) fchownSync(fd, opts.uid ?? -1, opts.gid ?? -1);
    if (opts.durable !== false) fsyncSync(fd);
    closeSync(fd);
    fd = -1;
    beforeRenameHook?.(tmp, path);
    renameSync(tmp, path);
  } catch (e) {
    if (fd >= 0) try { closeSync(fd); } catch { /* ignore */ }
    try { unlinkSync(tmp); } catch { /* ignore */ }
    throw e;
  }
  if (opts.durable !== false) syncDir(dir);
}

export function syncDir(dir: string): void {
  let fd = -1;
  try {
    fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
    fsyncSync(fd);
  } catch { /* some filesystems refuse fsync on directories: the rename is still atomic */ }
  finally { if (fd >= 0) closeSync(fd); }
}
