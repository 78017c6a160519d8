// Extracting an archive from a file on disk with bounded memory, whatever its size: the central directory
// is parsed by zipread.ts (from the end of the file), then each entry's compressed bytes are read in
// chunks, inflated as a stream and written to the entry's file as they come, counting the size (never
// past the declared one) and the CRC-32. Memory: one read chunk and zlib's window and output chunk.
// Everything goes into a fresh temp directory beside the destination, renamed into place only when
// every entry succeeded: a failure (or a crash) never leaves a half-extracted destination.
import { chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomHex } from './unique.ts';
import { nodeZlib } from './builtins.ts';
import { crc32, METHOD_STORED } from './zipformat.ts';
import { collectYoung } from './memory.ts';
import { DEFAULT_LIMITS, openZip, ZipError, type ZipArchive, type ZipEntryInfo, type ZipLimits } from './zipread.ts';
import { errorText } from './errors.ts';

/** Bytes read from the archive per step (and zlib's output chunk). */
const CHUNK = 64 << 10;
/**
 * Every chunk zlib hands out is a new buffer whose memory V8 only counts as "external": it lets ~64 MiB
 * of dead ones pile up before it collects them by itself. A young-generation collection every this many
 * bytes written keeps that pile small (read buffers are reused, so they add nothing). Measured on a
 * 200 MiB package (scripts/bench/extract.ts): no collection +55 MiB peak RSS; 256 KiB chunks and 8 MiB
 * +31 MiB; 64 KiB and 2 MiB +5 MiB; 64 KiB and 1 MiB +2.6 MiB. Needs the binary's --expose-gc (build.mjs); from source a no-op.
 */
const COLLECT_EVERY = 1 << 20;

export interface ExtractOptions extends ZipLimits {
  /** Mode of the destination directory and of directories created inside it. Default 0755. */
  dirMode?: number;
  /** Mode for files whose entry has no unix mode. Default 0644. Setuid/setgid/sticky bits are never set. */
  fileMode?: number;
}

/** Temp directories of extractZip are named `.<dest name>.extract-<pid>-<hex>` (crash leftovers to sweep). */
export const EXTRACT_TEMP_RE = /\.extract-\d+-[0-9a-f]{16}$/;

function writeAll(fd: number, b: Buffer): void {
  let off = 0;
  while (off < b.length) off += writeSync(fd, b, off, b.length - off);
}

/** Yields the event loop now and then during long synchronous copies (the daemon keeps reporting). */
const yieldLoop = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * Streams one entry's data from the archive into `outFd`; checks the size (inflation stops as soon as it
 * passes the declared size) and the CRC-32.
 */
async function streamEntry(z: ZipArchive, e: ZipEntryInfo, outFd: number): Promise<void> {
  const fd = z.src.fd!;
  const fail = (why: string): never => { throw new ZipError(z.source, e.rawName, why); };
  let crc = 0;
  let size = 0;
  let sinceCollect = 0;
  const sink = (c: Buffer): void => {
    size += c.length;
    if (size > e.size) fail(`inflated data exceeds the declared size ${e.size}`);
    crc = crc32(c, crc);
    writeAll(outFd, c);
    sinceCollect += c.length;
    if (sinceCollect >= COLLECT_EVERY) { sinceCollect = 0; collectYoung(); }
  };
  /** Reads `len` bytes at `pos` into `b` (reused) and returns the filled part. */
  const readChunk = (b: Buffer, pos: number, len: number): Buffer => {
    let off = 0;
    while (off < len) {
      const n = readSync(fd, b, off, len - off, pos + off);
      if (n === 0) fail('archive ends inside the entry data (truncated?)');
      off += n;
    }
    return b.subarray(0, len);
  };
  let pos = e.dataOffset;
  const end = e.dataOffset + e.compressedSize;
  if (e.method === METHOD_STORED) {
    const buf = Buffer.allocUnsafe(Math.min(CHUNK, e.compressedSize));
    for (let i = 0; pos < end; i++) {
      const n = Math.min(CHUNK, end - pos);
      sink(readChunk(buf, pos, n));
      pos += n;
      if (i % 64 === 63) await yieldLoop();
    }
  } else if (e.compressedSize > 0) {
    await new Promise<void>((resolve, reject) => {
      const inf = nodeZlib().createInflateRaw({ chunkSize: CHUNK });
      let failed = false;
      const stop = (err: unknown) => {
        if (failed) return;
        failed = true;
        inf.destroy();
        reject(err instanceof ZipError ? err : new ZipError(z.source, e.rawName, `corrupt compressed data: ${errorText(err)}`));
      };
      inf.on('data', (c: Buffer) => { if (failed) return; try { sink(c); } catch (err) { stop(err); } });
      inf.on('error', stop);
      inf.on('end', () => { if (!failed) resolve(); });
      // Two reads in flight, each buffer reused once zlib has consumed it (its write callback): reading
      // overlaps inflating, and no read leaves garbage behind.
      let ended = false;
      const feed = (b: Buffer) => {
        if (failed || ended) return;
        try {
          if (pos >= end) { ended = true; inf.end(); return; }
          const n = Math.min(CHUNK, end - pos);
          const chunk = readChunk(b, pos, n);
          pos += n;
          inf.write(chunk, (err) => { if (!err) feed(b); });
        } catch (err) {
          stop(err);
        }
      };
      feed(Buffer.allocUnsafe(Math.min(CHUNK, e.compressedSize)));
      feed(Buffer.allocUnsafe(Math.min(CHUNK, e.compressedSize)));
    });
  }
  if (size !== e.size) fail(`inflated size ${size} differs from the declared size ${e.size}`);
  if (crc !== e.crc) fail('CRC-32 mismatch');
}

/**
 * Extracts an archive file into `destDir`, which must not exist yet. Everything is written into a temp
 * directory beside it and renamed into place at the end, so on any error nothing is left behind.
 * Returns the extracted entries' normalised paths.
 */
export async function extractZip(zipPath: string, destDir: string, opts: ExtractOptions = {}): Promise<string[]> {
  const z = openZip(zipPath, opts);
  try {
    if (existsSync(destDir)) throw new ZipError(zipPath, undefined, `destination already exists: ${destDir}`);
    const tmp = join(dirname(destDir), `.${basename(destDir)}.extract-${process.pid}-${randomHex(16)}`);
    const dirMode = opts.dirMode ?? 0o755;
    mkdirSync(tmp, { mode: 0o700 });
    try {
      await extractInto(z, tmp, { ...DEFAULT_LIMITS, ...opts }, dirMode, opts.fileMode ?? 0o644);
      chmodSync(tmp, dirMode);
      renameSync(tmp, destDir);
      return z.entries.map((e) => e.path);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      if (err instanceof ZipError) throw err;
      throw new ZipError(zipPath, undefined, `cannot extract: ${errorText(err)}`);
    }
  } finally {
    z.close();
  }
}

async function extractInto(z: ZipArchive, tmp: string, limits: Required<ZipLimits>, dirMode: number, fileMode: number): Promise<void> {
  let total = 0;
  const dirs = new Set<string>();
  const ensureDir = (rel: string) => {
    if (rel === '' || dirs.has(rel)) return;
    ensureDir(dirname(rel) === '.' ? '' : dirname(rel));
    try {
      mkdirSync(join(tmp, rel), { mode: dirMode });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    chmodSync(join(tmp, rel), dirMode);
    dirs.add(rel);
  };
  for (const e of z.entries) {
    try {
      if (e.isDir) { ensureDir(e.path); continue; }
      ensureDir(dirname(e.path) === '.' ? '' : dirname(e.path));
      total += e.size;
      if (total > limits.maxTotalBytes) throw new ZipError(z.source, e.rawName, `inflated total exceeds the limit ${limits.maxTotalBytes}`);
      // O_EXCL|O_NOFOLLOW: the temp tree is ours alone and holds no symlinks, but never trust that.
      const fd = openSync(join(tmp, e.path), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
      try {
        await streamEntry(z, e, fd);
      } finally {
        closeSync(fd);
      }
      chmodSync(join(tmp, e.path), (e.mode ?? fileMode) & 0o777);
    } catch (err) {
      if (err instanceof ZipError) throw err;
      throw new ZipError(z.source, e.rawName, `cannot extract: ${errorText(err)}`);
    }
  }
}
