// Extension commands in flight, recorded so that an agent killed while one runs can stop it after its
// restart, before the same operation runs again (crash safety: an interrupted install never completes
// alongside the re-run one). Each command gets `<handler dir>/.cmd-running-<agent pid>-<hex>` holding its
// process group (the command leads its own session) and the leader's start time, removed when it ends.
// The next agent start kills the groups of records whose agent is gone (leftovers.ts).
import { closeSync, constants, openSync, readFileSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { randomHex } from '../util/unique.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export const INFLIGHT_RE = /^\.cmd-running-(\d+)-[0-9a-f]{12}$/;

/** Field 22 of /proc/<pid>/stat (start time in clock ticks since boot), or undefined when gone. */
function startTime(pid: number): string | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return st.slice(st.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Records the command `pid` running in `dir`; returns the function that drops the record. */
export function recordInFlight(dir: string, pid: number): () => void {
  const p = join(dir, `.cmd-running-${process.pid}-${randomHex(12)}`);
  try {
    const fd = openSync(p, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try { writeSync(fd, `${pid} ${startTime(pid) ?? '?'}\n`); } finally { closeSync(fd); }
  } catch (e) {
    log.warn(`recording the running command ${pid} in ${dir}: ${errorText(e)}`);
    return () => undefined;
  }
  return () => { try { rmSync(p, { force: true }); } catch { /* swept at the next start */ } };
}

/**
 * The process group of an interrupted command (record `file`), killed when its leader is the process
 * recorded (same start time) or gone (a pid still used as a process group id is never handed out again,
 * so the group is still that command's). Returns true when a signal was sent.
 */
export function killInFlight(file: string): boolean {
  let pid = 0;
  let started = '';
  try {
    const fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW);
    const b = Buffer.alloc(100);
    let n = 0;
    try { n = readSync(fd, b, 0, b.length, 0); } finally { closeSync(fd); }
    const m = /^(\d+) (\S+)\n?$/.exec(b.subarray(0, n).toString('utf8'));
    if (!m) return false;
    pid = Number(m[1]);
    started = m[2]!;
  } catch {
    return false;
  }
  if (pid <= 1 || pid === process.pid) return false;
  const now = startTime(pid);
  if (now !== undefined && now !== started) return false; // the pid belongs to another process now
  try {
    process.kill(-pid, 'SIGKILL');
    log.info(`killed the extension command (process group ${pid}) left running by an interrupted agent`);
    return true;
  } catch {
    return false;
  }
}
