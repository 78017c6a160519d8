// -collect-logs: gather the manifest's files (must-collect ones first) within the size budget,
// redact secrets from every text file, and write <Lib.Dir>/logcollector/logs.zip atomically.
// Memory stays bounded: one file (at most 30 MiB) is held at a time and entries stream to disk.
import { closeSync, fstatSync, lstatSync, mkdirSync, openSync, readSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { OpenSsl } from '../crypto/openssl.ts';
import { expandGlob } from '../util/glob.ts';
import { redact } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import type { Runner } from '../util/exec.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { createZip, openZipFile, type ZipFileSink } from '../util/zipwrite.ts';
import { openZip } from '../util/zipread.ts';
import { manifest, mustCollect, type ManifestVars } from './manifest.ts';
import { registerProtectedSettings } from './secrets.ts';
import { redactedTail } from './redactstream.ts';
import { nodeZlib } from '../util/builtins.ts';
import { pidAlive } from '../os/process.ts';

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
  /** When given, handlers' protected settings are decrypted and their plaintext redacted everywhere. */
  openssl?: OpenSsl;
}

export interface CollectResult {
  archive: string;
  results: string;
  files: { path: string; bytes: number; truncated: boolean }[];
  skipped: { path: string; reason: string }[];
}

function stamp(d: Date): string { return d.toISOString().replace(/\.\d{3}Z$/, 'Z'); }

/** Redacts text without corrupting bytes: UTF-8 when the data is valid UTF-8, else byte-for-byte latin1. */
function redactBytes(data: Buffer): Buffer {
  const s = data.toString('utf8');
  if (Buffer.from(s, 'utf8').equals(data)) return Buffer.from(redact(s), 'utf8');
  return Buffer.from(redact(data.toString('latin1')), 'latin1');
}

/**
 * Compressed files are opened and redacted too (a goal-state history zip holds the status blob's SAS
 * URL; a rotated .gz log may come from an agent that did not redact): .zip members and .gz content,
 * bounded by `limit` bytes inflated. Returns null when the file cannot be read safely: it is then
 * left out rather than copied unredacted. Other compressed formats (.xz, .bz2, .zst) hold rotated
 * system logs and are copied as they are (no decompressor in Node; UNCONFIRMED whether any agent
 * file is ever stored that way — ours never are).
 */
function redactCompressed(path: string, data: Buffer, limit: number): Buffer | null {
  try {
    if (/\.zip$/i.test(path)) {
      const z = openZip(data, { maxEntries: 2000, maxEntryBytes: limit, maxTotalBytes: limit });
      return createZip(z.entries.map((e) => e.isDir
        ? { name: `${e.path}/` }
        : { name: e.path, data: redactBytes(z.read(e)), mode: e.mode }));
    }
    if (/\.gz$/i.test(path)) return nodeZlib().gzipSync(redactBytes(nodeZlib().gunzipSync(data, { maxOutputLength: limit })));
    return data;
  } catch {
    return null;
  }
}

/** Reads at most `max` bytes from the END of a file (the most recent log lines matter most); compressed files only. */
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

/**
 * The collector's scratch parent for decrypted protected settings: `<outDir>/.scratch-<pid>` (0700,
 * under Lib.Dir, never /tmp). Ones left by a collector that was killed (its pid is gone) are removed
 * first; a live collector's are left alone.
 */
function scratchParent(outDir: string): string {
  let names: string[] = [];
  try { names = readdirSync(outDir); } catch { /* new */ }
  for (const n of names) {
    const m = /^\.scratch-(\d{1,10})$/.exec(n);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    rmSync(`${outDir}/${n}`, { recursive: true, force: true });
  }
  const dir = `${outDir}/.scratch-${process.pid}`;
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function rootOnlyDir(dir: string): boolean {
  try {
    const d = lstatSync(dir);
    return d.isDirectory() && d.uid === 0 && (d.mode & 0o022) === 0;
  } catch { return false; }
}

function inside(p: string, dir: string): boolean {
  const d = dir.replace(/\/+$/, '');
  return d !== '' && p.startsWith(d + '/');
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
  if (opts.openssl) {
    let scratch: string | undefined;
    try {
      scratch = scratchParent(opts.outDir);
      for (const n of await registerProtectedSettings(opts.vars.libDir, opts.openssl, scratch)) note('WARNING', n);
    } catch (e) { note('WARNING', `protected settings not registered for redaction: ${errorText(e)}`); }
    finally { if (scratch) rmSync(scratch, { recursive: true, force: true }); }
  }

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
      try {
        // Links inside the agent's and the extensions' own trees are not followed: a handler could
        // otherwise point one of its log names at /etc/shadow. Elsewhere a link is followed only
        // where nobody but root can have made it (/etc/os-release is a link on most distros): its
        // directory is root's and not group- or world-writable (Ubuntu's /var/log is group syslog).
        if (lstatSync(p).isSymbolicLink()) {
          if (inside(p, opts.vars.libDir) || inside(p, opts.vars.logDir)) { result.skipped.push({ path: p, reason: 'symbolic link in an agent or extension directory' }); continue; }
          if (!rootOnlyDir(dirname(p))) { result.skipped.push({ path: p, reason: 'symbolic link in a directory others can write to' }); continue; }
        }
        st = statSync(p);
      } catch { continue; }
      if (!st.isFile()) continue;
      if (st.size > perFile && COMPRESSED.test(p)) { result.skipped.push({ path: p, reason: 'compressed file over the per-file limit' }); continue; }
      const size = Math.min(st.size, perFile);
      if (used + size > total) { result.skipped.push({ path: p, reason: 'total size budget reached' }); continue; }
      // Text is redacted (SAS signatures, PEM private keys, protected settings, registered secrets)
      // piece by piece, so memory stays flat; compressed files are opened (see redactCompressed).
      const tname = (truncated: boolean) => truncated ? `truncated_${p.replaceAll('/', '_')}` : p.slice(1);
      if (COMPRESSED.test(p)) {
        let file;
        try { file = readTail(p, perFile); } catch (e) { result.skipped.push({ path: p, reason: errorText(e) }); continue; }
        const data = redactCompressed(p, file.data, perFile);
        if (data === null) { result.skipped.push({ path: p, reason: 'compressed file not readable: left out rather than copied unredacted' }); continue; }
        zip.add(tname(file.truncated), data);
        used += size;
        result.files.push({ path: p, bytes: data.length, truncated: file.truncated });
        continue;
      }
      let bytes = 0;
      let truncated = false;
      try {
        const tail = redactedTail(p, perFile);
        truncated = tail.truncated;
        zip.addChunks(tname(tail.truncated), (function* () { for (const b of tail.pieces) { bytes += b.length; yield b; } })());
      } catch (e) { result.skipped.push({ path: p, reason: errorText(e) }); continue; }
      used += size;
      result.files.push({ path: p, bytes, truncated });
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
