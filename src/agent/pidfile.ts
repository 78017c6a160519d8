// Single-instance lock through the pid file (Pid.File, docs/os.md §3.2 step 4). The pid is in the file
// before the file becomes visible: it is written to a private temp file, which is then link(2)ed to
// the pid file's name (link fails if the name exists, like O_EXCL). So nobody can ever read an empty
// pid file and take it for stale. A file left by a dead process (or by a process that is not an
// agent: pid reuse) is removed only under a second lock (`<pid file>.takeover`, taken the same way),
// after reading it again: a racing start can never remove a lock another start has just won. Unlike
// waagent, the file is removed on a clean exit, and only if it still holds our pid.
import { closeSync, constants, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { AgentError } from '../util/errors.ts';
import { pidAlive, processCmdline } from '../os/process.ts';

/** A takeover lock older than this was left by a start that died while holding it (it is held for microseconds). */
const TAKEOVER_STALE_MS = 10_000;
/** For a synchronous pause of a few milliseconds (Atomics.wait on memory nobody notifies). */
const PAUSE = new Int32Array(new SharedArrayBuffer(4));

export class AlreadyRunningError extends AgentError {
  static override readonly errorName: string = 'AlreadyRunningError';
  readonly pid: number;
  constructor(pid: number) {
    super(`Daemon is already running: ${pid}`);
    this.pid = pid;
  }
}

/**
 * Is `pid` an agent process? A pid file that survived a crash may name a pid the kernel has since given
 * to something else: only a command line that looks like ours (waagent, or our daemon/loop switches)
 * counts. Unreadable /proc entry: assume it is (safe side: do not start a second agent).
 */
export function looksLikeAgent(pid: number, procRoot = '/proc'): boolean {
  const cmd = processCmdline(pid, procRoot);
  if (cmd === null) return pidAlive(pid);
  return /waagent|(^|\0)-+(daemon|run-exthandlers)(\0|$)/i.test(cmd);
}

function readPid(path: string): number | null {
  try {
    const t = readFileSync(path, 'utf8').slice(0, 64).trim();
    return /^\d{1,10}$/.test(t) ? Number(t) : null;
  } catch { return null; }
}

/** link(2): true when `name` was created, false when it exists. */
function tryLink(from: string, name: string): boolean {
  try { linkSync(from, name); return true; } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
}

/**
 * Removes a stale pid file under the takeover lock, after reading it again there: only a takeover
 * holder ever removes the pid file, and a new one can only appear once it is gone, so what is read
 * under the lock is what is removed. Without the takeover lock (another start holds it) nothing is
 * removed; the caller tries again.
 */
function takeOver(path: string, tmp: string, me: number, alive: (pid: number) => boolean): boolean {
  const guard = `${path}.takeover`;
  if (!tryLink(tmp, guard)) {
    try {
      // ctime: link(2) sets it, so it is when the guard was taken (the temp file itself may be older).
      if (Date.now() - lstatSync(guard).ctimeMs > TAKEOVER_STALE_MS) rmSync(guard, { force: true });
    } catch { /* gone meanwhile */ }
    return false;
  }
  try {
    const again = readPid(path);
    if (again === null || again === me || !alive(again)) {
      try { unlinkSync(path); } catch { /* already gone */ }
    }
  } finally {
    rmSync(guard, { force: true });
  }
  return true;
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
    const tmp = `${path}.${me}.${process.pid}.tmp`;
    rmSync(tmp, { force: true });
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
    try { writeSync(fd, String(me)); fsyncSync(fd); } finally { closeSync(fd); }
    try {
      for (let attempt = 0; attempt < 20; attempt++) {
        if (tryLink(tmp, path)) {
          const lock = new PidLock(path, me);
          lock.held = true;
          return lock;
        }
        const other = readPid(path);
        if (other !== null && other !== me && alive(other)) throw new AlreadyRunningError(other);
        // Stale (dead pid, garbage, or our own pid from a previous life): removed by one start only;
        // the others wait a few jittered milliseconds and look again.
        if (!takeOver(path, tmp, me, alive)) Atomics.wait(PAUSE, 0, 0, 2 + Math.floor(Math.random() * 8));
      }
    } finally {
      rmSync(tmp, { force: true });
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
