// What was made of a file (parsed content, a derived status), kept while the file is unchanged
// (docs/architecture.md "idle cost"): the idle poll stats each file it reports from instead of opening,
// reading and parsing it again. A file counts as unchanged when its device, inode, size, mode, mtime and ctime
// are; one changed less than RACY_MS before it was read is not kept (timestamps are coarse: an in-place
// rewrite of the same size within one tick would look unchanged), as git treats "racily clean" entries.
// lstat, not stat: a path that becomes a link is a change, and the loader decides what a link means.
import { lstatSync, type Stats } from 'node:fs';

export const RACY_MS = 2000;
export const MAX_ENTRIES = 4096;
/** Distinct kinds kept at once (see entries()). */
export const MAX_KINDS = 1024;
/** How long an own file's entry is used without a stat (getOwn); distrust() ends it at once. */
export const OWN_TRUST_MS = 60_000;

/** What identifies a file's version: compared field by field (no signature string built per poll). */
interface Sig { dev: number; ino: number; size: number; mode: number; mtimeMs: number; ctimeMs: number }
/** `checked`: when the file was last seen unchanged; `epoch`: the distrust() count then. */
interface Entry { sig: Sig; value: unknown; checked: number; epoch: number }

function same(a: Sig, b: Sig): boolean {
  return a.ino === b.ino && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs && a.size === b.size && a.dev === b.dev && a.mode === b.mode;
}

export class FileCache {
  /** kind -> path -> entry: the callers' path strings are kept ones (layouts), so no key is built per lookup. */
  private readonly kinds = new Map<string, Map<string, Entry>>();
  private count = 0;
  private readonly max: number;
  private readonly now: () => number;
  /** distrust() calls so far. */
  private epoch = 0;

  constructor(o: { max?: number; now?: () => number } = {}) {
    this.max = o.max ?? MAX_ENTRIES;
    this.now = o.now ?? Date.now;
  }

  /** `load()`'s result for `path` under `kind`, from the cache while the file is unchanged. Missing files are never kept. */
  get<T>(kind: string, path: string, load: () => T): T {
    const entries = this.entries(kind);
    const sig = this.signature(path);
    const hit = entries.get(path);
    if (sig !== null && hit !== undefined && same(hit.sig, sig)) {
      hit.checked = this.now();
      hit.epoch = this.epoch;
      return hit.value as T;
    }
    const value = load();
    this.keep(entries, sig, path, value);
    return value;
  }

  /**
   * As get(), for a file only this agent writes (a handler's HandlerState, HandlerStatus, its manifest): its
   * entry is used without a stat for OWN_TRUST_MS after the file was last seen unchanged, unless distrust()
   * was called since. Whoever writes such files calls distrust() (before and after); a change by anyone
   * else is seen within OWN_TRUST_MS. The idle poll then stats only the files extensions write.
   */
  getOwn<T>(kind: string, path: string, load: () => T): T {
    const hit = this.kinds.get(kind)?.get(path);
    if (hit !== undefined && hit.epoch === this.epoch && this.now() - hit.checked < OWN_TRUST_MS) return hit.value as T;
    return this.get(kind, path, load);
  }

  /** Own files may have changed: every getOwn() entry is checked again before it is used. */
  distrust(): void {
    this.epoch++;
  }

  /** As get() with an async loader. A hit is answered as it is, without a promise (the idle poll's case). */
  getAsync<T>(kind: string, path: string, load: () => Promise<T>): T | Promise<T> {
    const entries = this.entries(kind);
    const sig = this.signature(path);
    const hit = entries.get(path);
    if (sig !== null && hit !== undefined && same(hit.sig, sig)) return hit.value as T;
    return this.loadAsync(entries, sig, path, load);
  }

  get size(): number { return this.count; }

  /** Kinds with a map of their own (bounded by MAX_KINDS). */
  get kindCount(): number { return this.kinds.size; }

  private async loadAsync<T>(entries: Map<string, Entry>, sig: Sig | null, path: string, load: () => Promise<T>): Promise<T> {
    const value = await load();
    // Kept only if the file did not change while it was being read (keep() looks once more).
    this.keep(entries, sig, path, value);
    return value;
  }

  private entries(kind: string): Map<string, Entry> {
    let m = this.kinds.get(kind);
    if (m === undefined) {
      // Kinds may carry a name (`status:<extension>`): a long-lived daemon sees ever new ones, so they are
      // bounded too, the whole cache starting over as when the entries reach `max`.
      if (this.kinds.size >= MAX_KINDS) { this.kinds.clear(); this.count = 0; }
      m = new Map();
      this.kinds.set(kind, m);
    }
    return m;
  }

  private signature(path: string): Stats | null {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return null;
    if (this.now() - Math.max(st.mtimeMs, st.ctimeMs) < RACY_MS) return null;
    return st;
  }

  private keep(entries: Map<string, Entry>, sig: Sig | null, path: string, value: unknown): void {
    const again = sig === null ? null : this.signature(path);
    if (sig === null || again === null || !same(sig, again)) {
      if (entries.delete(path)) this.count--;
      return;
    }
    if (!entries.has(path)) {
      if (this.count >= this.max) {
        for (const m of this.kinds.values()) m.clear();
        this.count = 0;
      }
      this.count++;
    }
    // Only the six numbers are kept, not the Stats object.
    entries.set(path, { sig: { dev: sig.dev, ino: sig.ino, size: sig.size, mode: sig.mode, mtimeMs: sig.mtimeMs, ctimeMs: sig.ctimeMs }, value, checked: this.now(), epoch: this.epoch });
  }
}
