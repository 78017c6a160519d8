// What a killed agent leaves behind in the extension area, removed at service start (crash safety): the
// temp trees of package extraction (`.<H-V>.pkg-<pid>-<hex>`, `…extract-…`, `.<H-V>.old-…`) and the temp
// files of atomic writes (`.<file>.tmp-<pid>-<hex>`) in Lib.Dir; in each handler dir and its config/ and
// status/, atomic-write temps and command output files (`.cmd-output-<pid>-<hex>`); a command still
// running from the killed agent (inflight.ts) is killed first. Only names made by a process that is no
// longer running are touched. None of these is ever used: every handler dir and state
// file comes into place by one rename, so a crash leaves the previous complete one (or none).
import { lstatSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { listHandlerDirs } from './layout.ts';
import { INFLIGHT_RE, killInFlight } from './inflight.ts';

const LIB_TEMP = /^\..+\.(?:pkg|old|extract|tmp)-(\d+)-[0-9a-f]{8,32}$/;
const HANDLER_TEMP = /^(?:\..+\.tmp|\.cmd-output)-(\d+)-[0-9a-f]{8,32}$/;

function running(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function sweepDir(dir: string, re: RegExp): number {
  let names: string[];
  try { names = readdirSync(dir); } catch { return 0; }
  let n = 0;
  for (const name of names) {
    const inflight = INFLIGHT_RE.exec(name);
    const m = inflight ?? re.exec(name);
    if (!m || running(Number(m[1]))) continue;
    const p = join(dir, name);
    try {
      if (inflight) killInFlight(p);
      const st = lstatSync(p);
      rmSync(p, { recursive: st.isDirectory(), force: true });
      n++;
    } catch (e) {
      log.warn(`removing the leftover ${p}: ${errorText(e)}`);
    }
  }
  return n;
}

/** Removes the leftovers of dead agent processes; returns how many were removed. Never throws. */
export function sweepExtensionLeftovers(libDir: string): number {
  let n = sweepDir(libDir, LIB_TEMP);
  for (const d of listHandlerDirs(libDir)) {
    const dir = join(libDir, d.dirName);
    for (const sub of [dir, join(dir, 'config'), join(dir, 'status')]) n += sweepDir(sub, HANDLER_TEMP);
  }
  if (n > 0) log.info(`removed ${n} leftover temp file(s)/dir(s) of an interrupted agent from ${libDir}`);
  return n;
}
