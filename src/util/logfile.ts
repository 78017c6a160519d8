// Log files root appends to (/var/log/waagent.log, the extensions' CommandExecution logs): they
// can hold extension output, so they are 0600 and root's, whatever they were before, and they are
// never opened through a symbolic link (O_NOFOLLOW): a link in the way is removed and reported, and
// a new file takes its place. O_NONBLOCK: a FIFO planted at the path can never hang the agent
// (libuv opens every file close-on-exec, so extension processes never inherit the descriptor).
import { closeSync, constants, fchmodSync, fchownSync, fstatSync, lstatSync, openSync, readdirSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';

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

/**
 * Start-up: log files named by `name` one directory level below `dir` (the extensions'
 * CommandExecution logs under Extension.LogDir/<name>/) made 0600 if they are looser; links and
 * non-files are left alone (never followed). Bounded: at most `maxDirs` directories. Returns how many
 * files were tightened.
 */
export function tightenLogFiles(dir: string, name: RegExp, maxDirs = 512): number {
  let n = 0;
  let subdirs: string[] = [];
  try { subdirs = readdirSync(dir).slice(0, maxDirs); } catch { return 0; }
  for (const sub of subdirs) {
    let files: string[] = [];
    try {
      if (!lstatSync(`${dir}/${sub}`).isDirectory()) continue;
      files = readdirSync(`${dir}/${sub}`).filter((f) => name.test(f)).slice(0, 64);
    } catch { continue; }
    for (const f of files) {
      let fd = -1;
      try {
        fd = openSync(`${dir}/${sub}/${f}`, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
        const st = fstatSync(fd);
        if (st.isFile() && (st.mode & 0o077) !== 0) { fchmodSync(fd, LOG_FILE_MODE); n++; }
      } catch { /* a link or gone: left alone */ } finally {
        if (fd >= 0) closeSync(fd);
      }
    }
  }
  return n;
}
