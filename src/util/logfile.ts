// Log files root appends to (/var/log/waagent.log, the extensions' CommandExecution logs): they
// can hold extension output, so they are 0600 and root's, whatever they were before, and they are
// never opened through a symbolic link (O_NOFOLLOW): a link in the way is removed and reported, and
// a new file takes its place. O_NONBLOCK: a FIFO planted at the path can never hang the agent
// (libuv opens every file close-on-exec, so extension processes never inherit the descriptor).
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';

const APPEND = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK;
export const LOG_FILE_MODE = 0o600;

export interface OpenedLog {
  fd: number;
  /** Size before this append. */
  size: number;
  /** Set when something was repaired (a link replaced, a loose mode or owner tightened). */
  note?: string;
}

/** Opens `path` for appending as described above. Throws for a path that is neither a file nor a link. */
export function openLogFile(path: string): OpenedLog {
  let fd: number;
  let note: string | undefined;
  try {
    fd = openSync(path, APPEND, LOG_FILE_MODE);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ELOOP') throw e;
    // The last component is a symbolic link (ELOOP with O_NOFOLLOW): remove the link, never its target.
    let target = '?';
    try { target = readlinkSync(path); } catch { /* raced away */ }
    if (lstatSync(path).isSymbolicLink()) unlinkSync(path);
    fd = openSync(path, APPEND | constants.O_EXCL, LOG_FILE_MODE);
    note = `${path} was a symbolic link (to ${target}): replaced by a new log file`;
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file; not writing the log there`);
    const tightened: string[] = [];
    if ((st.mode & 0o7777) !== LOG_FILE_MODE) {
      fchmodSync(fd, LOG_FILE_MODE);
      tightened.push(`mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')} -> 0600`);
    }
    if (process.geteuid?.() === 0 && st.uid !== 0) {
      fchownSync(fd, 0, 0);
      tightened.push(`owner uid ${st.uid} -> root`);
    }
    if (tightened.length) note = [note, `${path}: ${tightened.join(', ')}`].filter(Boolean).join('; ');
    return { fd, size: st.size, ...(note ? { note } : {}) };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Appends `text` (one open per call, so external rotation works); returns the repair note, if any. */
export function appendLogFile(path: string, text: string): { size: number; note?: string } {
  const o = openLogFile(path);
  try {
    const buf = Buffer.from(text, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(o.fd, buf, off, buf.length - off);
    return { size: o.size + buf.length, ...(o.note ? { note: o.note } : {}) };
  } finally {
    closeSync(o.fd);
  }
}
