// Goal-state history (docs/extensions.md §6.6, docs/protocol.md §1.14): LIB/history/<timestamp>__<incarnation>[-<etag>]/
// with the (redacted) documents of each new goal state and the last status blob. Bounded twice — by count
// (50 entries, like waagent) AND by bytes (waagent's history filled disks) — and older directories are
// zipped. Every failure is logged by the caller, never fatal.
import { mkdirSync, readdirSync, rmSync, statSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { redact } from '../util/logger.ts';
import { openZipFile } from '../util/zipwrite.ts';

export const HISTORY_MAX_ENTRIES = 50;
export const HISTORY_MAX_BYTES = 32 << 20;
/** One document larger than this is not kept (a goal state is a few KiB). */
const MAX_DOC_BYTES = 4 << 20;

/** Secret parts of goal-state documents: protected settings and SAS query strings. */
export function redactDocument(text: string): string {
  // Linear on any input (util/redact.ts): redact() has already replaced every protected element's
  // body by <redacted>; URL queries are found by taking each run of non-delimiters once.
  return redact(text)
    .replace(/("protectedSettings"\s*:\s*)"(?:[^"\\]|\\.)*"/gi, '$1"***REDACTED***"')
    .replace(/(<ProtectedSettings\b[^<>]{0,4096}>)<redacted>/gi, '$1***REDACTED***')
    .replace(/([^\s"'<>?]+)(\?[^\s"'<>]*)?/g, (m: string, run: string, query: string | undefined) =>
      query && /https?:\/\/[^\s"'<>?]/i.test(run) ? `${run}?***REDACTED***` : m);
}

function stamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, '').replace(/:/g, '-');
}

export function entryName(now: Date, incarnation: string, etag: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 64);
  return `${stamp(now)}__${safe(incarnation)}${etag ? `-${safe(etag)}` : ''}`;
}

function sizeOf(p: string): number {
  try {
    const st = statSync(p);
    if (!st.isDirectory()) return st.size;
    let n = 0;
    for (const f of readdirSync(p)) n += sizeOf(join(p, f));
    return n;
  } catch { return 0; }
}

export class GoalStateHistory {
  readonly dir: string;
  private current: string | null = null;
  private readonly maxEntries: number;
  private readonly maxBytes: number;

  constructor(libDir: string, o: { maxEntries?: number; maxBytes?: number } = {}) {
    this.dir = join(libDir, 'history');
    this.maxEntries = o.maxEntries ?? HISTORY_MAX_ENTRIES;
    this.maxBytes = o.maxBytes ?? HISTORY_MAX_BYTES;
  }

  /** Starts a new entry with these documents (names are file names; contents are redacted here). */
  add(name: string, docs: Record<string, string>): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const dir = join(this.dir, name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const [file, text] of Object.entries(docs)) {
      if (!/^[A-Za-z0-9_.-]+$/.test(file) || text.length > MAX_DOC_BYTES) continue;
      writeFileAtomic(join(dir, file), redactDocument(text), { mode: 0o600 });
    }
    this.current = dir;
    this.purge();
    return dir;
  }

  /** One more document in the current entry, as is (e.g. waagent_policy.json); no-op until an entry exists. */
  save(file: string, text: string): void {
    if (!this.current || !/^[A-Za-z0-9_.-]+$/.test(file) || text.length > MAX_DOC_BYTES) return;
    writeFileAtomic(join(this.current, file), text, { mode: 0o600 });
  }

  /** waagent_status.json of the current entry (rewritten on every report; no-op until an entry exists). */
  saveStatus(text: string): void {
    if (!this.current) return;
    // Not fsync'ed: a copy for people and the log collector, rewritten every minute (two fsyncs were ~0.4 ms of
    // CPU each time, scripts/bench/poll-cost.ts, ~3 % of an idle poll). waagent writes it without fsync too.
    writeFileAtomic(join(this.current, 'waagent_status.json'), text, { mode: 0o600, durable: false });
  }

  /** Zips every entry directory but the newest (after a new extensions goal state was processed). */
  archive(): number {
    let names: string[];
    try { names = readdirSync(this.dir).sort(); } catch { return 0; }
    const dirs = names.filter((n) => { try { return statSync(join(this.dir, n)).isDirectory(); } catch { return false; } });
    let n = 0;
    for (const d of dirs.slice(0, -1)) {
      const src = join(this.dir, d);
      if (src === this.current) continue;
      const sink = openZipFile(join(this.dir, `${d}.zip`));
      try {
        for (const f of readdirSync(src).sort()) sink.add(f, readFileSync(join(src, f)));
        sink.close();
      } catch (e) {
        sink.abort();
        throw e;
      }
      rmSync(src, { recursive: true, force: true });
      n++;
    }
    return n;
  }

  /** Keeps the newest entries within the count and byte caps (names sort by time). */
  purge(): string[] {
    let names: string[];
    try { names = readdirSync(this.dir).sort(); } catch { return []; }
    const removed: string[] = [];
    const drop = (n: string) => { rmSync(join(this.dir, n), { recursive: true, force: true }); removed.push(n); };
    while (names.length > this.maxEntries) drop(names.shift()!);
    let total = names.reduce((s, n) => s + sizeOf(join(this.dir, n)), 0);
    // The newest entry is always kept, whatever its size.
    while (total > this.maxBytes && names.length > 1) {
      const n = names.shift()!;
      total -= sizeOf(join(this.dir, n));
      drop(n);
    }
    return removed;
  }
}
