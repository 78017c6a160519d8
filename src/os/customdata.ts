// CustomData (docs/os.md §4.10): saved to <Lib.Dir>/CustomData raw or decoded, and — when
// Provisioning.ExecuteCustomData=y — executed AT MOST ONCE EVER on this VM.
//
// At-most-once: a marker `<Lib.Dir>/CustomData.executed` is written and fsynced (file and directory)
// BEFORE the script starts. If the agent is killed while the script runs, the next run sees the
// marker and does not start it again: a script interrupted half-way is not repeated, because running
// a user's script twice (creating users, formatting disks...) can do more harm than running it
// partially once. Deprovisioning empties Lib.Dir, so an image made from this VM runs its own
// CustomData again on the new VM.
import { chmodSync, existsSync, lstatSync, readFileSync } from 'node:fs';
import { sha256, toHex } from '../crypto/digest.ts';
import { posix } from 'node:path';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { AgentError } from '../util/errors.ts';

export class CustomDataError extends AgentError {
  static override readonly errorName: string = 'CustomDataError';
}

/** Azure allows 64 KiB of CustomData; anything far beyond that is not CustomData. */
export const MAX_CUSTOM_DATA = 1 << 20;

export const CUSTOM_DATA_FILE = 'CustomData';
export const EXECUTED_MARKER = 'CustomData.executed';

/**
 * Strict base64 (RFC 4648 alphabet, whitespace between groups allowed). Unlike upstream the bytes are
 * not required to be UTF-8: gzip-compressed CustomData (accepted by cloud-init) is saved as is.
 */
export function decodeCustomData(raw: string): Buffer {
  const compact = raw.replace(/[\s]+/g, '');
  if (compact.length > (MAX_CUSTOM_DATA * 4) / 3 + 4) throw new CustomDataError(`CustomData is larger than ${MAX_CUSTOM_DATA} bytes`);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw new CustomDataError('CustomData is not valid base64');
  }
  return Buffer.from(compact, 'base64');
}

export interface SaveOptions {
  /** Lib.Dir (inner path). */
  libDir: string;
  /** Provisioning.DecodeCustomData. */
  decode: boolean;
  /** Provisioning.ExecuteCustomData (implies decoding, as upstream). */
  execute?: boolean;
}

/**
 * Write `<Lib.Dir>/CustomData` atomically, mode 0600 (it may hold secrets; upstream uses the umask).
 * Idempotent: same input, same file.
 */
export function saveCustomData(root: Sysroot, raw: string, opts: SaveOptions): { path: string; bytes: number; decoded: boolean } {
  if (raw.length > MAX_CUSTOM_DATA * 2) throw new CustomDataError(`CustomData is larger than ${MAX_CUSTOM_DATA} bytes`);
  const decoded = opts.decode || opts.execute === true;
  const data = decoded ? decodeCustomData(raw) : Buffer.from(raw, 'utf8');
  const path = posix.join(opts.libDir, CUSTOM_DATA_FILE);
  writeFileAtomic(root.pathNoFollow(path), data, { mode: 0o600, uid: 0, gid: 0, mkdirMode: 0o700 });
  return { path, bytes: data.length, decoded };
}

export interface ExecuteOptions {
  libDir: string;
  /** Bound on the script's run time (default 10 min); the whole process group is killed after it. */
  timeoutMs?: number;
  /** Bytes of stdout/stderr kept (default 64 KiB each). */
  maxOutput?: number;
  /** Run on the running system; default only when the root is `/` (never a rescue root's script). */
  live?: boolean;
}

export type ExecuteResult =
  | { ran: false; reason: 'already-executed' | 'no-custom-data' | 'not-live' }
  | { ran: true; code: number | null; signal: string | null; timedOut: boolean; stdout: string; stderr: string; durationMs: number };

export function customDataExecuted(root: Sysroot, libDir: string): boolean {
  return existsSync(root.path(posix.join(libDir, EXECUTED_MARKER)));
}

/**
 * Execute `<Lib.Dir>/CustomData` unless it ever ran before (see the header). Runs it like upstream
 * (`/bin/sh -c <path>`: a shebang picks the interpreter, none means sh), path passed as "$0" so no
 * shell parsing of our own strings. The exit code is reported, not judged (upstream ignores it).
 */
export async function executeCustomDataOnce(runner: Runner, root: Sysroot, opts: ExecuteOptions): Promise<ExecuteResult> {
  const inner = posix.join(opts.libDir, CUSTOM_DATA_FILE);
  const markerInner = posix.join(opts.libDir, EXECUTED_MARKER);
  if (existsSync(root.path(markerInner))) return { ran: false, reason: 'already-executed' };
  const host = root.path(inner);
  let st;
  try { st = lstatSync(host); } catch { return { ran: false, reason: 'no-custom-data' }; }
  if (!st.isFile()) throw new CustomDataError(`${inner} is not a regular file`);
  if (!(opts.live ?? root.isHost)) return { ran: false, reason: 'not-live' };
  const digest = toHex(sha256(readFileSync(host)));
  // The marker goes to disk (writeFileAtomic fsyncs the file and the directory) before the start.
  writeFileAtomic(root.pathNoFollow(markerInner), JSON.stringify({ startedAt: new Date().toISOString(), sha256: digest }) + '\n', { mode: 0o600 });
  chmodSync(host, 0o700);
  const r = await runner.run(['/bin/sh', '-c', '"$0"', host], {
    cwd: root.path(opts.libDir),
    timeoutMs: opts.timeoutMs ?? 600_000,
    maxOutput: opts.maxOutput ?? 64 * 1024,
  });
  return { ran: true, code: r.code, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout, stderr: r.stderr, durationMs: r.durationMs };
}
