// -collect-logs: gather the manifest's files (must-collect ones first) within the size budget,
// redact secrets from every text file, and write <Lib.Dir>/logcollector/logs.zip atomically.
// Memory stays bounded: one file (at most 30 MiB) is held at a time and entries stream to disk.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, statSync } from 'node:fs';
import { expandGlob } from '../util/glob.ts';
import { redact } from '../util/logger.ts';
import type { Runner } from '../util/exec.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { openZipFile, type ZipFileSink } from '../util/zip.ts';
import { manifest, mustCollect, type ManifestVars } from './manifest.ts';

export const TOTAL_BUDGET = 150 * 1024 * 1024;
export const FILE_BUDGET = 30 * 1024 * 1024;
const COMPRESSED = /\.(gz|zip|xz|bz2|zst)$/i;

export interface CollectOptions {
  full: boolean;
  vars: ManifestVars;
  runner: Runner;
  outDir: string;
  /** Default: openZipFile (streams to a temp file renamed into place). */
  openZip?: (path: string) => ZipFileSink;
  totalBudget?: number;
  fileBudget?: number;
  now?: () => Date;
}

export interface CollectResult {
  archive: string;
  results: string;
  files: { path: string; bytes: number; truncated: boolean }[];
  skipped: { path: string; reason: string }[];
}

function stamp(d: Date): string { return d.toISOString().replace(/\.\d{3}Z$/, 'Z'); }

/** Reads at most `max` bytes from the END of a file (the most recent log lines matter most). */
function readTail(path: string, max: number): { data: Buffer; truncated: boolean } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, max);
    const buf = Buffer.alloc(len);
    let off = 0;
    while (off < len) {
      const n = readSync(fd, buf, off, len - off, size - len + off);
      if (n === 0) break;
      off += n;
    }
    return { data: buf.subarray(0, off), truncated: size > max };
  } finally { closeSync(fd); }
}

export async function collectLogs(opts: CollectOptions): Promise<CollectResult> {
  const now = opts.now ?? (() => new Date());
  const total = opts.totalBudget ?? TOTAL_BUDGET;
  const perFile = opts.fileBudget ?? FILE_BUDGET;
  mkdirSync(opts.outDir, { recursive: true, mode: 0o700 });
  const resultsPath = `${opts.outDir}/results.txt`;
  const archive = `${opts.outDir}/logs.zip`;
  const lines: string[] = [];
  const note = (level: string, msg: string) => lines.push(`${stamp(now())} ${level} ${redact(msg)}`);
  note('INFO', `Running log collector mode ${opts.full ? 'full' : 'normal'}`);

  const ops = manifest(opts.full, opts.vars, (l) => note('WARNING', `Malformed manifest line: ${l}`));
  const wanted: string[] = [];
  for (const op of ops) {
    if (op.op === 'echo') note('INFO', op.arg);
    else if (op.op === 'll') {
      const r = await opts.runner.run(['ls', '-alF', op.arg], { timeoutMs: 10_000, maxOutput: 256 * 1024 });
      note('INFO', `ls -alF ${op.arg}:\n${r.code === 0 ? r.stdout : r.stderr}`);
    } else wanted.push(op.arg);
  }

  // Must-collect patterns first, then the rest in manifest order; each file once.
  const ordered: string[] = [];
  const seen = new Set<string>();
  for (const pat of [...mustCollect(opts.vars), ...wanted]) {
    for (const p of expandGlob(pat)) {
      if (seen.has(p)) continue;
      seen.add(p);
      ordered.push(p);
    }
  }

  const result: CollectResult = { archive, results: resultsPath, files: [], skipped: [] };
  const zip = (opts.openZip ?? openZipFile)(archive);
  let used = 0;
  try {
    for (const p of ordered) {
      if (p.startsWith(opts.outDir + '/')) continue;
      let st;
      try { st = statSync(p); } catch { continue; }
      if (!st.isFile()) continue;
      if (st.size > perFile && COMPRESSED.test(p)) { result.skipped.push({ path: p, reason: 'compressed file over the per-file limit' }); continue; }
      const size = Math.min(st.size, perFile);
      if (used + size > total) { result.skipped.push({ path: p, reason: 'total size budget reached' }); continue; }
      let file;
      try { file = readTail(p, perFile); } catch (e) { result.skipped.push({ path: p, reason: (e as Error).message }); continue; }
      // Text is redacted (SAS signatures, PEM private keys, protected settings, registered secrets);
      // compressed archives are kept as they are.
      const data = COMPRESSED.test(p) ? file.data : Buffer.from(redact(file.data.toString('utf8')), 'utf8');
      const name = file.truncated ? `truncated_${p.replaceAll('/', '_')}` : p.slice(1);
      zip.add(name, data);
      used += size;
      result.files.push({ path: p, bytes: data.length, truncated: file.truncated });
    }
    for (const s of result.skipped) note('WARNING', `Skipped ${s.path}: ${s.reason}`);
    note('INFO', `Collected ${result.files.length} files, ${used} bytes uncompressed`);
    const resultsText = lines.join('\n') + '\n';
    writeFileAtomic(resultsPath, resultsText, { mode: 0o600 });
    zip.add('results.txt', Buffer.from(resultsText));
    zip.close();
  } catch (e) {
    zip.abort();
    throw e;
  }
  return result;
}
