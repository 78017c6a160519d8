// What was made of a file (parsed content, a derived status), kept while the file is unchanged
// (docs/architecture.md "idle cost"): the idle poll stats each file it reports from instead of opening,
// reading and parsing it again. A file counts as unchanged when its device, inode, size, mode, mtime and ctime
// are; one changed less than RACY_MS before it was read is not kept (timestamps are coarse: an in-place
// rewrite of the same size within one tick would look unchanged), as git treats "racily clean" entries.
// lstat, not stat: a path that becomes a link is a change, and the loader decides what a link means.
import { lstatSync } from 'node:fs';

export const RACY_MS = 2000;
export const MAX_ENTRIES = 4096;

interface Entry { sig: string; value: unknown }

export class FileCache {
  private readonly m = new Map<string, Entry>();
  private readonly max: number;
  private readonly now: () => number;

  constructor(o: { max?: number; now?: () => number } = {}) {
    this.max = o.max ?? MAX_ENTRIES;
    this.now = o.now ?? Date.now;
  }

  /** `load()`'s result for `path` under `kind`, from the cache while the file is unchanged. Missing files are never kept. */
  get<T>(kind: string, path: string, load: () => T): T {
    const key = `${kind}\0${path}`;
    const sig = this.signature(path);
    const hit = this.m.get(key);
    if (sig !== null && hit?.sig === sig) return hit.value as T;
    const value = load();
    this.keep(key, sig, path, value);
    return value;
  }

  async getAsync<T>(kind: string, path: string, load: () => Promise<T>): Promise<T> {
    const key = `${kind}\0${path}`;
    const sig = this.signature(path);
    const hit = this.m.get(key);
    if (sig !== null && hit?.sig === sig) return hit.value as T;
    const value = await load();
    // Kept only if the file did not change while it was being read.
    this.keep(key, sig !== null && this.signature(path) === sig ? sig : null, path, value);
    return value;
  }

  get size(): number { return this.m.size; }

  private signature(path: string): string | null {
    const st = lstatSync(path, { throwIfNoEntry: false });
    if (!st) return null;
    if (this.now() - Math.max(st.mtimeMs, st.ctimeMs) < RACY_MS) return null;
    return `${st.dev}:${st.ino}:${st.size}:${st.mode}:${st.mtimeMs}:${st.ctimeMs}`;
  }

  private keep(key: string, sig: string | null, path: string, value: unknown): void {
    if (sig === null || this.signature(path) !== sig) { this.m.delete(key); return; }
    if (!this.m.has(key) && this.m.size >= this.max) this.m.clear();
    this.m.set(key, { sig, value });
  }
}
