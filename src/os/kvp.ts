// The Hyper-V KVP guest pool (`/var/lib/hyperv/.kvp_pool_1`): how a guest hands small key/value
// strings to the host without a network. The file is a flat array of fixed records, 512 bytes of
// key then 2048 bytes of value, UTF-8, NUL-padded; hv_kvp_daemon re-reads the whole file before
// every host request, so appending records is all a writer has to do. The host receives at most
// 254 bytes of key and 1022 bytes of value per record (the kernel's UTF-16 conversion), so longer
// text is cut to those limits here, on a character boundary.
//
// Writers lock the file with flock(2) (cloud-init and azure-init do; the daemon re-reads and does
// not need it). Node has no flock, so flock(1) locks OUR open file description (passed as its fd 3):
// the lock outlives flock(1) and ends when we close the fd. Bounded everywhere: the lock wait, the
// file size read, the number of records; when a write would exceed the bounds, only OUR oldest
// records (the caller's `ours` predicate) are removed, never another writer's. A write never
// throws: the outcome says what happened, and provisioning goes on either way.
import { closeSync, constants, fstatSync, lstatSync, openSync, writeSync, ftruncateSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';
import { childProcess } from '../util/builtins.ts';
import { readFully } from '../util/fsread.ts';
import { errorText } from '../util/errors.ts';

export const KVP_KEY_SIZE = 512;
export const KVP_VALUE_SIZE = 2048;
export const KVP_RECORD_SIZE = KVP_KEY_SIZE + KVP_VALUE_SIZE;
/** HV_KVP_EXCHANGE_MAX_RECORDS: the daemon serves no more than this many per pool. */
export const KVP_MAX_RECORDS = 1024;
/** What reaches the host intact (bytes of UTF-8, without the terminating NUL). */
export const KVP_SAFE_KEY_BYTES = 254;
export const KVP_SAFE_VALUE_BYTES = 1022;
export const KVP_GUEST_POOL = '/var/lib/hyperv/.kvp_pool_1';

export interface KvpRecord { key: string; value: string }

/** `s` cut to at most `max` bytes of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, max: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return s;
  let end = max;
  while (end > 0 && (b[end]! & 0xc0) === 0x80) end--;
  return b.subarray(0, end).toString('utf8');
}

/** One record: key and value cut to the safe sizes, NUL-padded to 512 + 2048 bytes. */
export function encodeRecord(key: string, value: string): Buffer {
  const out = Buffer.alloc(KVP_RECORD_SIZE);
  out.write(truncateUtf8(key.replace(/\0/g, ''), KVP_SAFE_KEY_BYTES), 0, 'utf8');
  out.write(truncateUtf8(value.replace(/\0/g, ''), KVP_SAFE_VALUE_BYTES), KVP_KEY_SIZE, 'utf8');
  return out;
}

function field(b: Buffer): string {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('utf8');
}

/** Records of a pool image (a trailing partial record is ignored). */
export function decodeRecords(buf: Buffer): KvpRecord[] {
  const out: KvpRecord[] = [];
  for (let o = 0; o + KVP_RECORD_SIZE <= buf.length; o += KVP_RECORD_SIZE) {
    out.push({ key: field(buf.subarray(o, o + KVP_KEY_SIZE)), value: field(buf.subarray(o + KVP_KEY_SIZE, o + KVP_RECORD_SIZE)) });
  }
  return out;
}

export interface KvpPoolOptions {
  root: Sysroot;
  /** Inner path of the pool file. Default /var/lib/hyperv/.kvp_pool_1. */
  path?: string;
  /** Which records are ours (the only ones ever removed). */
  ours: (r: KvpRecord) => boolean;
  /** Our records kept at most (oldest removed first). Default 256. */
  maxOwn?: number;
  /** Bound on waiting for the lock. Default 2 s. */
  lockTimeoutMs?: number;
  /** Our records written before this moment (ms since the epoch) are stale: removed on the first write. */
  staleBeforeMs?: number;
  /** flock(1). Default 'flock' from PATH. */
  flock?: string;
}

export type KvpWriteOutcome =
  | { ok: true; appended: number; removed: number; locked: boolean }
  | { ok: false; error: string };

export interface KvpWrite {
  records: KvpRecord[];
  /** Our existing records this write supersedes (e.g. an earlier PROVISIONING_REPORT): removed. */
  replaces?: (r: KvpRecord) => boolean;
}

/** flock(1) on our fd: true = locked, false = flock(1) is not installed. Throws on timeout or error. */
function lockFd(fd: number, flock: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    let done = false;
    const child = childProcess().spawn(flock, ['-x', '-w', String(secs), '3'], { stdio: ['ignore', 'ignore', 'ignore', fd] });
    const timer = setTimeout(() => { try { child.kill('SIGKILL'); } catch { /* gone */ } }, timeoutMs + 2_000);
    const end = (f: () => void) => { if (!done) { done = true; clearTimeout(timer); f(); } };
    child.on('error', (e: NodeJS.ErrnoException) => end(() => (e.code === 'ENOENT' ? resolve(false) : reject(e))));
    child.on('exit', (code, signal) => end(() => (code === 0 ? resolve(true)
      : reject(new Error(signal ? `flock killed by ${signal}` : `not locked within ${secs} s (flock exit ${code})`)))));
  });
}

export class KvpPool {
  readonly inner: string;
  private readonly o: KvpPoolOptions;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(o: KvpPoolOptions) {
    this.o = o;
    this.inner = o.path ?? KVP_GUEST_POOL;
  }

  /**
   * The pool's directory exists and only root can change it (a real directory, owned by root, not
   * writable by group or others): the KVP daemon's. We never create it.
   */
  available(): boolean {
    try {
      const st = lstatSync(this.o.root.path(posix.dirname(this.inner)));
      return st.isDirectory() && (st.uid === 0 || st.uid === process.getuid?.()) && (st.mode & 0o022) === 0;
    } catch {
      return false;
    }
  }

  /** Appends (serialised with our other writes); never throws. */
  write(w: KvpWrite): Promise<KvpWriteOutcome> {
    const p = this.queue.then(() => this.writeNow(w));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async writeNow(w: KvpWrite): Promise<KvpWriteOutcome> {
    if (!this.available()) return { ok: false, error: `${posix.dirname(this.inner)} is missing or not a root-only directory` };
    let fd = -1;
    try {
      // O_NOFOLLOW: never a symlink; the directory was checked to be root's (node opens with O_CLOEXEC).
      fd = openSync(this.o.root.path(this.inner), constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o644);
      const st0 = fstatSync(fd);
      if (!st0.isFile()) return { ok: false, error: `${this.inner} is not a regular file` };
      const locked = await lockFd(fd, this.o.flock ?? 'flock', this.o.lockTimeoutMs ?? 2_000);
      const st = fstatSync(fd);
      if (st.size % KVP_RECORD_SIZE !== 0) return { ok: false, error: `${this.inner} is ${st.size} bytes, not whole ${KVP_RECORD_SIZE}-byte records: left alone` };
      if (st.size > KVP_MAX_RECORDS * KVP_RECORD_SIZE) return { ok: false, error: `${this.inner} holds more than ${KVP_MAX_RECORDS} records: left alone` };
      const buf = readFully(fd, st.size);
      const existing = decodeRecords(buf);
      const stale = this.o.staleBeforeMs !== undefined && st.mtimeMs < this.o.staleBeforeMs;
      const drop = new Set<number>();
      existing.forEach((r, i) => { if (this.o.ours(r) && (stale || w.replaces?.(r))) drop.add(i); });
      const own = existing.map((r, i) => (this.o.ours(r) && !drop.has(i) ? i : -1)).filter((i) => i >= 0);
      const maxOwn = this.o.maxOwn ?? 256;
      const fresh = w.records.slice(-Math.min(maxOwn, KVP_MAX_RECORDS));
      // Our oldest first, until both bounds hold (own lists only records not dropped yet).
      let kept = existing.length - drop.size;
      let ownKept = own.length;
      for (const i of own) {
        if (kept + fresh.length <= KVP_MAX_RECORDS && ownKept + fresh.length <= maxOwn) break;
        drop.add(i);
        kept--;
        ownKept--;
      }
      if (existing.length - drop.size + fresh.length > KVP_MAX_RECORDS) {
        return { ok: false, error: `${this.inner} is full of other writers' records (${existing.length - drop.size})` };
      }
      if (drop.size > 0 && !locked) return { ok: false, error: 'flock(1) is missing: our old records cannot be removed safely' };
      const first = drop.size ? Math.min(...drop) : existing.length;
      // Records after the first removed one move up, byte for byte (another writer's text is never re-encoded).
      const tail: Buffer[] = [];
      for (let i = first; i < existing.length; i++) if (!drop.has(i)) tail.push(buf.subarray(i * KVP_RECORD_SIZE, (i + 1) * KVP_RECORD_SIZE));
      const out = Buffer.concat([...tail, ...fresh.map((r) => encodeRecord(r.key, r.value))]);
      let off = 0;
      while (off < out.length) off += writeSync(fd, out, off, out.length - off, first * KVP_RECORD_SIZE + off);
      if (drop.size) ftruncateSync(fd, (first * KVP_RECORD_SIZE) + out.length);
      return { ok: true, appended: fresh.length, removed: drop.size, locked };
    } catch (e) {
      return { ok: false, error: `${this.inner}: ${errorText(e)}` };
    } finally {
      if (fd >= 0) closeSync(fd); // releases the flock
    }
  }
}
