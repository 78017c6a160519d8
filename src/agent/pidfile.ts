// Single-instance lock through the pid file (Pid.File, os.md §3.2 step 4). The file is created with
// O_EXCL, so two daemons starting together cannot both win; a file left by a dead process (or by a
// process that is not an agent: pid reuse) is taken over. Unlike waagent, the file is removed on a clean
// exit, and only if it still holds our pid.
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class AlreadyRunningError extends Error {
  readonly pid: number;
  constructor(pid: number) {
    super(`Daemon is already running: ${pid}`);
    this.name = 'AlreadyRunningError';
    this.pid = pid;
  }
}

/** kill(pid, 0): alive when it succeeds or fails with EPERM (exists, not ours to signal). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try { process.kill(pid, 0); return true; } catch (e) { return (e as NodeJS.ErrnoException).code === 'EPERM'; }
}

/**
 * Is `pid` an agent process? A pid file that survived a crash may name a pid the kernel has since given
 * to something else: only a command line that looks like ours (waagent, or our daemon/loop switches)
 * counts. Unreadable /proc entry: assume it is (safe side: do not start a second agent).
 */
export function looksLikeAgent(pid: number, procRoot = '/proc'): boolean {
  let cmd: string;
  try { cmd = readFileSync(`${procRoot}/${pid}/cmdline`, 'latin1'); } catch { return pidAlive(pid); }
  return /waagent|(^|\0)-+(daemon|run-exthandlers)(\0|$)/i.test(cmd);
}

function readPid(path: string): number | null {
  try {
    const t = readFileSync(path, 'utf8').slice(0, 64).trim();
    return /^\d{1,10}$/.test(t) ? Number(t) : null;
  } catch { return null; }
}

export class PidLock {
  readonly path: string;
  readonly pid: number;
  private held = false;

  private constructor(path: string, pid: number) { this.path = path; this.pid = pid; }

  /** Takes the lock or throws AlreadyRunningError. Other errors (unwritable dir) propagate. */
  static acquire(path: string, o: { pid?: number; alive?: (pid: number) => boolean } = {}): PidLock {
    const me = o.pid ?? process.pid;
    const alive = o.alive ?? ((p: number) => pidAlive(p) && looksLikeAgent(p));
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    for (let attempt = 0; attempt < 5; attempt++) {
      let fd = -1;
      try {
        fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const other = readPid(path);
        if (other !== null && other !== me && alive(other)) throw new AlreadyRunningError(other);
        // Stale (dead pid, garbage, or our own pid from a previous life): remove and try again.
        rmSync(path, { force: true });
        continue;
      }
      try { writeSync(fd, String(me)); } finally { closeSync(fd); }
      const lock = new PidLock(path, me);
      lock.held = true;
      return lock;
    }
    throw new Error(`${path}: could not take the pid file (another process keeps recreating it)`);
  }

  /** Still ours? (Somebody may have deleted or replaced it.) */
  get valid(): boolean { return this.held && readPid(this.path) === this.pid; }

  release(): void {
    if (!this.held) return;
    this.held = false;
    if (readPid(this.path) === this.pid) rmSync(this.path, { force: true });
  }
}
