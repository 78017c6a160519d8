// Our own zip writer and reader (node:zlib raw deflate, our own CRC-32), because extension packages
// arrive from the network and Python's ZipFile.extractall has no path-traversal or bomb checks.
//
// Reader policy (decided here, documented for callers):
// - Names: `/` separated, relative. Refused: absolute names, Windows drive letters, any `..` component,
//   backslashes (ambiguous: a separator on Windows, a file-name character on Linux), NUL and other control
//   characters, empty names, duplicates after normalisation (`a/./b` == `a/b`).
// - Symlink entries (unix mode S_IFLNK) are refused, ALL of them, not only escaping ones: Python's
//   ZipFile.extractall never created symlinks either (it writes the target text into a regular file), so
//   no extension can depend on them, and refusing is the only rule that cannot be tricked.
// - Other special types (fifo, socket, device) become regular files holding the entry's data.
// - Only stored (0) and deflate (8) methods; encrypted entries and multi-disk archives are refused.
// - Sizes: declared sizes are checked against the limits BEFORE inflating, and inflating is capped at the
//   declared size, so a lying header cannot make us inflate more (zip bombs). Overlapping entries (the
//   "better zip bomb" construction) are refused. CRC-32 is verified for every entry.
// - Extraction goes into a fresh temp directory next to the destination and is renamed into place only
//   when every entry succeeded: a failure leaves nothing half-extracted.
// The writer writes names exactly as given (no validation) so tests can build hostile archives.
import { constants, closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync, chmodSync } from 'node:fs';
import { randomHex } from './unique.ts';
import { basename, dirname, join } from 'node:path';
import { readFully } from './fsread.ts';
import { nodeZlib } from './builtins.ts';

// ---------------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3), zlib's own (native): the daemon runs JS without an optimizing compiler
// (build.mjs), where a table-driven loop over a 30 MiB log would cost seconds of CPU.

export function crc32(data: Uint8Array, previous = 0): number {
  return nodeZlib().crc32(data, previous);
}

// ---------------------------------------------------------------------------------------------------
// Constants of the format (APPNOTE.TXT).

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const FLAG_ENCRYPTED = 0x0001;
const FLAG_UTF8 = 0x0800;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const HOST_UNIX = 3;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

// ---------------------------------------------------------------------------------------------------
// Writer

export interface ZipInputEntry {
  /** Stored as given. A name ending in `/` is a directory entry. */
  name: string;
  data?: Buffer | string;
  /** Unix mode, with or without the file-type bits (default 0644 files, 0755 directories). */
  mode?: number;
  /** Force stored instead of deflate (tests; deflate is used otherwise unless data is empty). */
  store?: boolean;
}

export interface CreateZipOptions {
  /** Modification time for every entry; default 1980-01-01 00:00 so output is reproducible. */
  mtime?: Date;
}

function dosDateTime(d: Date | undefined): { time: number; date: number } {
  if (!d || d.getFullYear() < 1980) return { time: 0, date: (0 << 9) | (1 << 5) | 1 };
  return {
    time: (d.getHours() << 11) | (d.getMinutes() << 5) | Math.floor(d.getSeconds() / 2),
    date: ((d.getFullYear() - 1980) << 9) | ((d.getMonth() + 1) << 5) | d.getDate(),
  };
}

/**
 * Streams entries to `out` as they are added (one entry's data in memory at a time), so a large
 * archive (log collection) never sits in memory whole. Deflate, unix modes in the external
 * attributes. No ZIP64: an archive over 4 GiB or 65535 entries is refused.
 */
export class ZipWriter {
  private readonly out: (b: Buffer) => void;
  private readonly time: number;
  private readonly date: number;
  private readonly centrals: Buffer[] = [];
  private offset = 0;
  private count = 0;

  constructor(out: (b: Buffer) => void, opts: CreateZipOptions = {}) {
    this.out = out;
    ({ time: this.time, date: this.date } = dosDateTime(opts.mtime));
  }

  add(e: ZipInputEntry): void {
    const raw = e.data === undefined ? Buffer.alloc(0) : typeof e.data === 'string' ? Buffer.from(e.data, 'utf8') : e.data;
    const method = e.store || raw.length === 0 ? METHOD_STORED : METHOD_DEFLATE;
    this.emit(e.name, e.mode, crc32(raw), raw.length, method, [method === METHOD_DEFLATE ? nodeZlib().deflateRawSync(raw) : raw]);
  }

  /**
   * Adds a file entry from chunks with only ONE raw chunk in memory at a time (large log files):
   * each chunk is deflated on its own and ended with a sync flush, which leaves the compressor on a
   * byte boundary without the final bit, so the pieces concatenate into one valid raw deflate
   * stream (the technique of pigz); an empty final block closes it. Only compressed bytes are kept
   * until the entry is written, because the local header carries the sizes and the CRC up front.
   */
  addChunks(name: string, chunks: Iterable<Buffer>, mode?: number): void {
    let crc = 0;
    let rawLen = 0;
    const comp: Buffer[] = [];
    for (const c of chunks) {
      if (c.length === 0) continue;
      crc = crc32(c, crc);
      rawLen += c.length;
      if (rawLen > 0xfffffffe) throw new Error('createZip: entry too large (no ZIP64 support in the writer)');
      comp.push(nodeZlib().deflateRawSync(c, { finishFlush: nodeZlib().constants.Z_SYNC_FLUSH }));
    }
    if (rawLen === 0) { this.emit(name, mode, 0, 0, METHOD_STORED, []); return; }
    comp.push(nodeZlib().deflateRawSync(Buffer.alloc(0)));
    this.emit(name, mode, crc, rawLen, METHOD_DEFLATE, comp);
  }

  private emit(name: string, modeIn: number | undefined, crc: number, rawLength: number, method: number, compParts: Buffer[]): void {
    const nameBuf = Buffer.from(name, 'utf8');
    if (nameBuf.length === 0 || nameBuf.length > 0xffff) throw new Error(`createZip: bad entry name length: ${name.length}`);
    if (++this.count > 0xffff) throw new Error('createZip: too many entries (no ZIP64 support in the writer)');
    const isDir = name.endsWith('/');
    let mode = modeIn ?? (isDir ? 0o755 : 0o644);
    if ((mode & S_IFMT) === 0) mode |= isDir ? S_IFDIR : S_IFREG;
    const compLength = compParts.reduce((n, b) => n + b.length, 0);
    if (compLength > 0xfffffffe || rawLength > 0xfffffffe || this.offset + compLength > 0xfffffffe) {
      throw new Error('createZip: archive too large (no ZIP64 support in the writer)');
    }
    const flags = /[^\x00-\x7f]/.test(name) ? FLAG_UTF8 : 0;

    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(SIG_LOCAL, 0);
    lh.writeUInt16LE(20, 4); // version needed: 2.0 (deflate)
    lh.writeUInt16LE(flags, 6);
    lh.writeUInt16LE(method, 8);
    lh.writeUInt16LE(this.time, 10);
    lh.writeUInt16LE(this.date, 12);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(compLength, 18);
    lh.writeUInt32LE(rawLength, 22);
    lh.writeUInt16LE(nameBuf.length, 26);
    lh.writeUInt16LE(0, 28);

    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(SIG_CENTRAL, 0);
    ch.writeUInt16LE((HOST_UNIX << 8) | 30, 4); // made by: unix, spec 3.0
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(flags, 8);
    ch.writeUInt16LE(method, 10);
    ch.writeUInt16LE(this.time, 12);
    ch.writeUInt16LE(this.date, 14);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(compLength, 20);
    ch.writeUInt32LE(rawLength, 24);
    ch.writeUInt16LE(nameBuf.length, 28);
    ch.writeUInt16LE(0, 30); // extra
    ch.writeUInt16LE(0, 32); // comment
    ch.writeUInt16LE(0, 34); // disk
    ch.writeUInt16LE(0, 36); // internal attrs
    ch.writeUInt32LE(((mode & 0xffff) << 16 | (isDir ? 0x10 : 0)) >>> 0, 38); // unix mode high, MS-DOS dir bit low
    ch.writeUInt32LE(this.offset, 42);
    this.centrals.push(ch, nameBuf);

    this.out(lh);
    this.out(nameBuf);
    for (const part of compParts) this.out(part);
    this.offset += lh.length + nameBuf.length + compLength;
  }

  /** Writes the central directory and the end record. */
  finish(): void {
    const cd = Buffer.concat(this.centrals);
    const eocd = Buffer.alloc(22);
    eocd.writeUInt32LE(SIG_EOCD, 0);
    eocd.writeUInt16LE(0, 4);
    eocd.writeUInt16LE(0, 6);
    eocd.writeUInt16LE(this.count, 8);
    eocd.writeUInt16LE(this.count, 10);
    eocd.writeUInt32LE(cd.length, 12);
    eocd.writeUInt32LE(this.offset, 16);
    eocd.writeUInt16LE(0, 20);
    this.out(cd);
    this.out(eocd);
  }
}

/** Builds a zip archive in memory. */
export function createZip(entries: ZipInputEntry[], opts: CreateZipOptions = {}): Buffer {
  const parts: Buffer[] = [];
  const w = new ZipWriter((b) => parts.push(b), opts);
  for (const e of entries) w.add(e);
  w.finish();
  return Buffer.concat(parts);
}

/** A zip file written entry by entry to a temp file beside `path`, renamed into place by close(). */
export interface ZipFileSink {
  add(name: string, data: Buffer, mode?: number): void;
  /** See ZipWriter.addChunks. */
  addChunks(name: string, chunks: Iterable<Buffer>, mode?: number): void;
  close(): void;
  abort(): void;
}

export function openZipFile(path: string, fileMode = 0o600): ZipFileSink {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${process.pid}-${randomHex(8)}`);
  let fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, fileMode);
  const writer = new ZipWriter((b) => { let off = 0; while (off < b.length) off += writeSync(fd, b, off, b.length - off); }, { mtime: new Date() });
  const release = () => { if (fd >= 0) { closeSync(fd); fd = -1; } };
  return {
    add: (name, data, mode) => writer.add({ name, data, mode }),
    addChunks: (name, chunks, mode) => writer.addChunks(name, chunks, mode),
    close: () => {
      writer.finish();
      fsyncSync(fd);
      release();
      renameSync(tmp, path);
    },
    abort: () => { release(); rmSync(tmp, { force: true }); },
  };
}

// ---------------------------------------------------------------------------------------------------
// Reader

export interface ZipLimits {
  /** Size of the archive file itself. Default 512 MiB. */
  maxArchiveBytes?: number;
  /** Number of entries (directories included). Default 10 000. */
  maxEntries?: number;
  /** Inflated size of one entry. Default 256 MiB. */
  maxEntryBytes?: number;
  /** Inflated size of all entries together. Default 1 GiB. */
  maxTotalBytes?: number;
}

const DEFAULT_LIMITS: Required<ZipLimits> = {
  maxArchiveBytes: 512 << 20,
  maxEntries: 10_000,
  maxEntryBytes: 256 << 20,
  maxTotalBytes: 1 << 30,
};

export class ZipError extends Error {
  readonly archive: string;
  readonly entry: string | undefined;
  constructor(archive: string, entry: string | undefined, reason: string) {
    super(`zip ${archive}${entry === undefined ? '' : `: entry ${quoteName(entry)}`}: ${reason}`);
    this.name = 'ZipError';
    this.archive = archive;
    this.entry = entry;
  }
}

/** Entry names come from the attacker: escape control characters and cap the length in messages. */
function quoteName(name: string): string {
  const s = JSON.stringify(name.length > 200 ? name.slice(0, 200) + '...' : name);
  return s;
}

export interface ZipEntryInfo {
  /** Normalised relative path (`./` and duplicate slashes removed), no trailing slash. */
  path: string;
  /** The name as stored in the archive. */
  rawName: string;
  isDir: boolean;
  /** Permission bits (0o777 at most) from the unix external attributes, or undefined when absent. */
  mode: number | undefined;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  /** Offset of the compressed data inside the archive. */
  dataOffset: number;
}

export interface ZipEntry extends ZipEntryInfo {
  data: Buffer;
}

/** Validates an entry name and returns its normalised path (throws ZipError). */
export function safeEntryPath(archive: string, name: string): { path: string; isDir: boolean } {
  const bad = (why: string) => new ZipError(archive, name, `refused: ${why}`);
  if (name.length === 0) throw bad('empty name');
  if (/[\x00-\x1f\x7f]/.test(name)) throw bad('control character in name');
  if (name.includes('\\')) throw bad('backslash in name');
  if (name.startsWith('/')) throw bad('absolute path');
  if (/^[A-Za-z]:/.test(name)) throw bad('drive letter');
  const isDir = name.endsWith('/');
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) throw bad('".." component');
  if (parts.length === 0) throw bad('name has no path component');
  if (parts.length > 64) throw bad('path too deep');
  return { path: parts.join('/'), isDir };
}

function readInput(input: Buffer | string, max: number): { buf: Buffer; source: string } {
  if (Buffer.isBuffer(input)) {
    if (input.length > max) throw new ZipError('<buffer>', undefined, `archive is ${input.length} bytes, limit ${max}`);
    return { buf: input, source: '<buffer>' };
  }
  let fd = -1;
  try {
    fd = openSync(input, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ZipError(input, undefined, 'not a regular file');
    if (st.size > max) throw new ZipError(input, undefined, `archive is ${st.size} bytes, limit ${max}`);
    const buf = readFully(fd, st.size);
    return { buf, source: input };
  } catch (e) {
    if (e instanceof ZipError) throw e;
    throw new ZipError(input, undefined, `cannot read: ${(e as Error).message}`);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** Parsed central directory of an archive held in memory; entries are inflated on demand. */
export class ZipArchive {
  readonly source: string;
  readonly entries: ZipEntryInfo[];
  private readonly buf: Buffer;
  private readonly limits: Required<ZipLimits>;

  constructor(buf: Buffer, source: string, limits: ZipLimits = {}) {
    this.buf = buf;
    this.source = source;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.entries = this.parse();
  }

  private fail(entry: string | undefined, reason: string): never {
    throw new ZipError(this.source, entry, reason);
  }

  private findEocd(): number {
    const b = this.buf;
    if (b.length < 22) this.fail(undefined, 'truncated or not a zip archive (no end of central directory)');
    const stop = Math.max(0, b.length - 22 - 0xffff);
    for (let i = b.length - 22; i >= stop; i--) {
      if (b.readUInt32LE(i) === SIG_EOCD && i + 22 + b.readUInt16LE(i + 20) === b.length) return i;
    }
    // A signature whose comment length does not reach the end exactly: the archive was cut or padded.
    for (let i = b.length - 22; i >= stop; i--) if (b.readUInt32LE(i) === SIG_EOCD) return i;
    return this.fail(undefined, 'truncated or not a zip archive (no end of central directory)');
  }

  private parse(): ZipEntryInfo[] {
    const b = this.buf;
    const eocd = this.findEocd();
    const diskNo = b.readUInt16LE(eocd + 4);
    const cdDisk = b.readUInt16LE(eocd + 6);
    let count = b.readUInt16LE(eocd + 10);
    let cdSize = b.readUInt32LE(eocd + 12);
    let cdOffset = b.readUInt32LE(eocd + 16);
    if (diskNo !== 0 || cdDisk !== 0 || b.readUInt16LE(eocd + 8) !== count) this.fail(undefined, 'multi-disk archives are not supported');
    let cdEndLimit = eocd;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // ZIP64: the locator sits right before the classic end record.
      const loc = eocd - 20;
      if (loc < 0 || b.readUInt32LE(loc) !== SIG_ZIP64_LOCATOR) this.fail(undefined, 'ZIP64 locator missing (truncated archive?)');
      const z = Number(b.readBigUInt64LE(loc + 8));
      if (z < 0 || z + 56 > loc || b.readUInt32LE(z) !== SIG_ZIP64_EOCD) this.fail(undefined, 'ZIP64 end of central directory missing or corrupt');
      if (b.readUInt32LE(z + 16) !== 0 || b.readUInt32LE(z + 20) !== 0) this.fail(undefined, 'multi-disk archives are not supported');
      count = safeNumber(b.readBigUInt64LE(z + 32));
      cdSize = safeNumber(b.readBigUInt64LE(z + 40));
      cdOffset = safeNumber(b.readBigUInt64LE(z + 48));
      cdEndLimit = z;
    }
    if (count > this.limits.maxEntries) this.fail(undefined, `too many entries: ${count}, limit ${this.limits.maxEntries}`);
    if (cdOffset + cdSize > cdEndLimit) this.fail(undefined, 'central directory lies outside the archive (truncated?)');

    const entries: ZipEntryInfo[] = [];
    const seen = new Set<string>();
    let declaredTotal = 0;
    let p = cdOffset;
    const cdEnd = cdOffset + cdSize;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdEnd || b.readUInt32LE(p) !== SIG_CENTRAL) this.fail(undefined, `central directory record ${i} is corrupt or truncated`);
      const madeBy = b.readUInt16LE(p + 4);
      const flags = b.readUInt16LE(p + 8);
      const method = b.readUInt16LE(p + 10);
      const crc = b.readUInt32LE(p + 16);
      let compressedSize = b.readUInt32LE(p + 20);
      let size = b.readUInt32LE(p + 24);
      const nameLen = b.readUInt16LE(p + 28);
      const extraLen = b.readUInt16LE(p + 30);
      const commentLen = b.readUInt16LE(p + 32);
      const diskStart = b.readUInt16LE(p + 34);
      const external = b.readUInt32LE(p + 38);
      let localOffset = b.readUInt32LE(p + 42);
      const next = p + 46 + nameLen + extraLen + commentLen;
      if (next > cdEnd) this.fail(undefined, `central directory record ${i} is truncated`);
      const nameBytes = b.subarray(p + 46, p + 46 + nameLen);
      // Names without the UTF-8 flag are CP437 in theory; extension packages use ASCII, and any byte
      // that is not valid UTF-8 becomes U+FFFD, which is still a harmless file-name character.
      const rawName = nameBytes.toString('utf8');
      // ZIP64 extended information: values are present only for fields that are 0xFFFFFFFF.
      const extra = b.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
      if (size === 0xffffffff || compressedSize === 0xffffffff || localOffset === 0xffffffff) {
        const z = findExtra(extra, 0x0001);
        if (!z) this.fail(rawName, 'ZIP64 sizes announced but the ZIP64 extra field is missing');
        let q = 0;
        const take = (): number => {
          if (q + 8 > z.length) this.fail(rawName, 'ZIP64 extra field too short');
          const v = safeNumber(z.readBigUInt64LE(q));
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      if (diskStart !== 0 && diskStart !== 0xffff) this.fail(rawName, 'multi-disk archives are not supported');
      if ((flags & FLAG_ENCRYPTED) !== 0) this.fail(rawName, 'encrypted entries are not supported');
      if (method !== METHOD_STORED && method !== METHOD_DEFLATE) this.fail(rawName, `unsupported compression method ${method}`);

      const { path, isDir: dirByName } = safeEntryPath(this.source, rawName);
      const unixMode = madeBy >> 8 === HOST_UNIX ? (external >>> 16) & 0xffff : 0;
      const fileType = unixMode & S_IFMT;
      if (fileType === S_IFLNK) this.fail(rawName, 'refused: symbolic link entries are not allowed');
      // Other types (fifo, socket, device: e.g. `zip` reading a pipe records S_IFIFO/S_IFSOCK) are
      // extracted as regular files, as Python's extractall does; only the permission bits are kept.
      const isDir = dirByName || fileType === S_IFDIR;
      if (isDir && size !== 0) this.fail(rawName, 'directory entry with data');
      if (method === METHOD_STORED && compressedSize !== size) this.fail(rawName, 'stored entry whose sizes differ');
      if (size > this.limits.maxEntryBytes) this.fail(rawName, `declared size ${size} exceeds the per-entry limit ${this.limits.maxEntryBytes}`);
      declaredTotal += size;
      if (declaredTotal > this.limits.maxTotalBytes) this.fail(rawName, `declared total size exceeds the limit ${this.limits.maxTotalBytes}`);
      const key = isDir ? path + '/' : path;
      if (seen.has(path) || seen.has(path + '/')) this.fail(rawName, 'refused: duplicate entry name');
      seen.add(key);

      // The local header repeats name and extra with their own lengths: the data starts after those.
      if (localOffset + 30 > cdOffset || b.readUInt32LE(localOffset) !== SIG_LOCAL) this.fail(rawName, 'local header missing or corrupt (truncated archive?)');
      const dataOffset = localOffset + 30 + b.readUInt16LE(localOffset + 26) + b.readUInt16LE(localOffset + 28);
      if (dataOffset + compressedSize > cdOffset) this.fail(rawName, 'entry data extends past the end of the file data (truncated archive?)');

      entries.push({
        path, rawName, isDir,
        mode: unixMode !== 0 ? unixMode & 0o777 : undefined,
        method, crc, compressedSize, size, dataOffset,
      });
      p = next;
    }
    // Overlapping data ranges let one compressed stream be counted many times (zip bombs).
    const ranges = entries.map((e) => [e.dataOffset, e.dataOffset + e.compressedSize, e] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < ranges.length; i++) {
      const prev = ranges[i - 1]!;
      const cur = ranges[i]!;
      if (cur[0] < prev[1]) this.fail(cur[2].rawName, 'refused: entry data overlaps another entry');
    }
    return entries;
  }

  /** Inflates one entry, verifying its size and CRC-32. */
  read(e: ZipEntryInfo): Buffer {
    const comp = this.buf.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    let data: Buffer;
    if (e.method === METHOD_STORED) {
      data = comp;
    } else {
      try {
        // Never inflate past the declared size: a liar header cannot make us allocate more.
        data = nodeZlib().inflateRawSync(comp, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        const msg = (err as Error).message;
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || /maxOutputLength|too large/i.test(msg)) {
          this.fail(e.rawName, `inflated data exceeds the declared size ${e.size}`);
        }
        this.fail(e.rawName, `corrupt compressed data: ${msg}`);
      }
    }
    if (data.length !== e.size) this.fail(e.rawName, `inflated size ${data.length} differs from the declared size ${e.size}`);
    if (crc32(data) !== e.crc) this.fail(e.rawName, 'CRC-32 mismatch');
    return data;
  }
}

function findExtra(extra: Buffer, id: number): Buffer | undefined {
  let i = 0;
  while (i + 4 <= extra.length) {
    const hid = extra.readUInt16LE(i);
    const len = extra.readUInt16LE(i + 2);
    if (i + 4 + len > extra.length) return undefined;
    if (hid === id) return extra.subarray(i + 4, i + 4 + len);
    i += 4 + len;
  }
  return undefined;
}

function safeNumber(v: bigint): number {
  return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
}

/** Opens an archive (a Buffer or a file path) and parses its central directory. */
export function openZip(input: Buffer | string, limits: ZipLimits = {}): ZipArchive {
  const max = limits.maxArchiveBytes ?? DEFAULT_LIMITS.maxArchiveBytes;
  const { buf, source } = readInput(input, max);
  return new ZipArchive(buf, source, limits);
}

/** Reads every entry into memory (for small archives and tests). */
export function readZip(input: Buffer | string, limits: ZipLimits = {}): ZipEntry[] {
  const z = openZip(input, limits);
  return z.entries.map((e) => ({ ...e, data: e.isDir ? Buffer.alloc(0) : z.read(e) }));
}

export interface ExtractOptions extends ZipLimits {
  /** Mode of the destination directory and of directories created inside it. Default 0755. */
  dirMode?: number;
  /** Mode for files whose entry has no unix mode. Default 0644. Setuid/setgid/sticky bits are never set. */
  fileMode?: number;
}

/**
 * Extracts an archive into `destDir`, which must not exist yet. Everything is written into a temp
 * directory beside it and renamed into place at the end, so on any error nothing is left behind.
 * Returns the extracted entries' normalised paths.
 */
export function extractZip(zipPath: string, destDir: string, opts: ExtractOptions = {}): string[] {
  const z = openZip(zipPath, opts);
  if (existsSync(destDir)) throw new ZipError(zipPath, undefined, `destination already exists: ${destDir}`);
  const parent = dirname(destDir);
  const tmp = join(parent, `.${basename(destDir)}.extract-${process.pid}-${randomHex(8)}`);
  const dirMode = opts.dirMode ?? 0o755;
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const limits = { ...DEFAULT_LIMITS, ...opts };
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
        const parentRel = dirname(e.path) === '.' ? '' : dirname(e.path);
        ensureDir(parentRel);
        const data = z.read(e);
        total += data.length;
        if (total > limits.maxTotalBytes) throw new ZipError(zipPath, e.rawName, `inflated total exceeds the limit ${limits.maxTotalBytes}`);
        const mode = (e.mode ?? opts.fileMode ?? 0o644) & 0o777;
        // O_EXCL|O_NOFOLLOW: the temp tree is ours alone and holds no symlinks, but never trust that.
        const fd = openSync(join(tmp, e.path), constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
        try {
          let off = 0;
          while (off < data.length) off += writeSync(fd, data, off, data.length - off);
        } finally {
          closeSync(fd);
        }
        chmodSync(join(tmp, e.path), mode);
      } catch (err) {
        if (err instanceof ZipError) throw err;
        throw new ZipError(zipPath, e.rawName, `cannot extract: ${(err as Error).message}`);
      }
    }
    chmodSync(tmp, dirMode);
    renameSync(tmp, destDir);
    return z.entries.map((e) => e.path);
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    if (err instanceof ZipError) throw err;
    throw new ZipError(zipPath, undefined, `cannot extract: ${(err as Error).message}`);
  }
}
