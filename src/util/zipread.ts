// Our own zip reader, because extension packages arrive from the network and Python's ZipFile.extractall
// has no path-traversal or bomb checks. The archive is read where it lies (a file on disk, or a Buffer for
// small archives and tests): the end record and the central directory are read from the end of the file,
// local headers one by one, and extraction (zipextract.ts) streams each entry; nothing holds the archive.
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
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { nodeZlib } from './builtins.ts';
import {
  crc32, FLAG_ENCRYPTED, HOST_UNIX, METHOD_DEFLATE, METHOD_STORED, S_IFDIR, S_IFLNK, S_IFMT,
  SIG_CENTRAL, SIG_EOCD, SIG_LOCAL, SIG_ZIP64_EOCD, SIG_ZIP64_LOCATOR,
} from './zipformat.ts';
import { AgentError } from './errors.ts';
import { errorText } from './errors.ts';

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

export const DEFAULT_LIMITS: Required<ZipLimits> = {
  maxArchiveBytes: 512 << 20,
  maxEntries: 10_000,
  maxEntryBytes: 256 << 20,
  maxTotalBytes: 1 << 30,
};

/** The central directory is read into memory whole: this caps it (20 000 entries with long names fit). */
export const MAX_CENTRAL_DIRECTORY_BYTES = 16 << 20;

export class ZipError extends AgentError {
  static override readonly errorName: string = 'ZipError';
  readonly archive: string;
  readonly entry: string | undefined;
  constructor(archive: string, entry: string | undefined, reason: string) {
    super(`zip ${archive}${entry === undefined ? '' : `: entry ${quoteName(entry)}`}: ${reason}`);
    this.archive = archive;
    this.entry = entry;
  }
}

/** Entry names come from the attacker: escape control characters and cap the length in messages. */
function quoteName(name: string): string {
  return JSON.stringify(name.length > 200 ? name.slice(0, 200) + '...' : name);
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

/** Random access to the archive's bytes: a Buffer, or an open file read with positional reads. */
export interface ZipSource {
  readonly name: string;
  readonly size: number;
  /** Exactly `len` bytes at `pos` (throws when the file is shorter). */
  read(pos: number, len: number): Buffer;
  /** The open file, for streaming extraction; undefined for a Buffer. */
  readonly fd: number | undefined;
  close(): void;
}

function bufferSource(buf: Buffer): ZipSource {
  return {
    name: '<buffer>', size: buf.length, fd: undefined, close: () => undefined,
    read: (pos, len) => {
      if (pos < 0 || pos + len > buf.length) throw new Error(`read past the end (${pos}+${len} > ${buf.length})`);
      return buf.subarray(pos, pos + len);
    },
  };
}

function fileSource(path: string, max: number): ZipSource {
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new ZipError(path, undefined, 'not a regular file');
    if (st.size > max) throw new ZipError(path, undefined, `archive is ${st.size} bytes, limit ${max}`);
    const f = fd;
    let open = true;
    return {
      name: path, size: st.size, fd: f,
      close: () => { if (open) { open = false; closeSync(f); } },
      read: (pos, len) => {
        const out = Buffer.allocUnsafe(len);
        let off = 0;
        while (off < len) {
          const n = readSync(f, out, off, len - off, pos + off);
          if (n === 0) throw new Error(`read past the end (${pos}+${len} > ${st.size})`);
          off += n;
        }
        return out;
      },
    };
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    if (e instanceof ZipError) throw e;
    throw new ZipError(path, undefined, `cannot read: ${errorText(e)}`);
  }
}

/** Parsed central directory of an archive; entries are read on demand. close() when done (files). */
export class ZipArchive {
  readonly source: string;
  readonly entries: ZipEntryInfo[];
  readonly src: ZipSource;
  private readonly limits: Required<ZipLimits>;

  constructor(src: ZipSource, limits: ZipLimits = {}) {
    this.src = src;
    this.source = src.name;
    this.limits = { ...DEFAULT_LIMITS, ...limits };
    this.entries = this.parse();
  }

  close(): void { this.src.close(); }

  private fail(entry: string | undefined, reason: string): never {
    throw new ZipError(this.source, entry, reason);
  }

  /** The end record's offset, searched backwards through the last 64 KiB + 22 bytes only. */
  private findEocd(): number {
    const size = this.src.size;
    if (size < 22) this.fail(undefined, 'truncated or not a zip archive (no end of central directory)');
    const start = Math.max(0, size - 22 - 0xffff);
    const tail = this.src.read(start, size - start);
    for (let i = tail.length - 22; i >= 0; i--) {
      if (tail.readUInt32LE(i) === SIG_EOCD && i + 22 + tail.readUInt16LE(i + 20) === tail.length) return start + i;
    }
    // A signature whose comment length does not reach the end exactly: the archive was cut or padded.
    for (let i = tail.length - 22; i >= 0; i--) if (tail.readUInt32LE(i) === SIG_EOCD) return start + i;
    return this.fail(undefined, 'truncated or not a zip archive (no end of central directory)');
  }

  private parse(): ZipEntryInfo[] {
    const eocd = this.findEocd();
    const e = this.src.read(eocd, 22);
    const diskNo = e.readUInt16LE(4);
    const cdDisk = e.readUInt16LE(6);
    let count = e.readUInt16LE(10);
    let cdSize = e.readUInt32LE(12);
    let cdOffset = e.readUInt32LE(16);
    if (diskNo !== 0 || cdDisk !== 0 || e.readUInt16LE(8) !== count) this.fail(undefined, 'multi-disk archives are not supported');
    let cdEndLimit = eocd;
    if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      // ZIP64: the locator sits right before the classic end record.
      const loc = eocd - 20;
      const l = loc >= 0 ? this.src.read(loc, 20) : undefined;
      if (!l || l.readUInt32LE(0) !== SIG_ZIP64_LOCATOR) this.fail(undefined, 'ZIP64 locator missing (truncated archive?)');
      const z = Number(l.readBigUInt64LE(8));
      if (z < 0 || z + 56 > loc) this.fail(undefined, 'ZIP64 end of central directory missing or corrupt');
      const zr = this.src.read(z, 56);
      if (zr.readUInt32LE(0) !== SIG_ZIP64_EOCD) this.fail(undefined, 'ZIP64 end of central directory missing or corrupt');
      if (zr.readUInt32LE(16) !== 0 || zr.readUInt32LE(20) !== 0) this.fail(undefined, 'multi-disk archives are not supported');
      count = safeNumber(zr.readBigUInt64LE(32));
      cdSize = safeNumber(zr.readBigUInt64LE(40));
      cdOffset = safeNumber(zr.readBigUInt64LE(48));
      cdEndLimit = z;
    }
    if (count > this.limits.maxEntries) this.fail(undefined, `too many entries: ${count}, limit ${this.limits.maxEntries}`);
    if (cdOffset + cdSize > cdEndLimit) this.fail(undefined, 'central directory lies outside the archive (truncated?)');
    if (cdSize > MAX_CENTRAL_DIRECTORY_BYTES) this.fail(undefined, `central directory of ${cdSize} bytes exceeds the limit ${MAX_CENTRAL_DIRECTORY_BYTES}`);
    const b = this.src.read(cdOffset, cdSize);

    const entries: ZipEntryInfo[] = [];
    const seen = new Set<string>();
    let declaredTotal = 0;
    let p = 0;
    for (let i = 0; i < count; i++) {
      if (p + 46 > cdSize || b.readUInt32LE(p) !== SIG_CENTRAL) this.fail(undefined, `central directory record ${i} is corrupt or truncated`);
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
      if (next > cdSize) this.fail(undefined, `central directory record ${i} is truncated`);
      // Names without the UTF-8 flag are CP437 in theory; extension packages use ASCII, and any byte
      // that is not valid UTF-8 becomes U+FFFD, which is still a harmless file-name character.
      const rawName = b.subarray(p + 46, p + 46 + nameLen).toString('utf8');
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
      if (localOffset + 30 > cdOffset) this.fail(rawName, 'local header missing or corrupt (truncated archive?)');
      const lh = this.src.read(localOffset, 30);
      if (lh.readUInt32LE(0) !== SIG_LOCAL) this.fail(rawName, 'local header missing or corrupt (truncated archive?)');
      const dataOffset = localOffset + 30 + lh.readUInt16LE(26) + lh.readUInt16LE(28);
      if (dataOffset + compressedSize > cdOffset) this.fail(rawName, 'entry data extends past the end of the file data (truncated archive?)');

      entries.push({
        path, rawName, isDir,
        mode: unixMode !== 0 ? unixMode & 0o777 : undefined,
        method, crc, compressedSize, size, dataOffset,
      });
      p = next;
    }
    // Overlapping data ranges let one compressed stream be counted many times (zip bombs).
    const ranges = entries.map((x) => [x.dataOffset, x.dataOffset + x.compressedSize, x] as const).sort((x, y) => x[0] - y[0]);
    for (let i = 1; i < ranges.length; i++) {
      const prev = ranges[i - 1]!;
      const cur = ranges[i]!;
      if (cur[0] < prev[1]) this.fail(cur[2].rawName, 'refused: entry data overlaps another entry');
    }
    return entries;
  }

  /** Inflates one entry into memory, verifying its size and CRC-32 (small entries; extraction streams). */
  read(e: ZipEntryInfo): Buffer {
    const comp = this.src.read(e.dataOffset, e.compressedSize);
    let data: Buffer;
    if (e.method === METHOD_STORED) {
      data = comp;
    } else {
      try {
        // Never inflate past the declared size: a liar header cannot make us allocate more.
        data = nodeZlib().inflateRawSync(comp, { maxOutputLength: Math.max(1, e.size) });
      } catch (err) {
        const msg = errorText(err);
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

/**
 * Opens an archive (a Buffer or a file path) and parses its central directory. A file stays open for
 * reading entries: close() the archive when done.
 */
export function openZip(input: Buffer | string, limits: ZipLimits = {}): ZipArchive {
  const max = limits.maxArchiveBytes ?? DEFAULT_LIMITS.maxArchiveBytes;
  let src: ZipSource;
  if (Buffer.isBuffer(input)) {
    if (input.length > max) throw new ZipError('<buffer>', undefined, `archive is ${input.length} bytes, limit ${max}`);
    src = bufferSource(input);
  } else {
    src = fileSource(input, max);
  }
  try {
    return new ZipArchive(src, limits);
  } catch (e) {
    src.close();
    if (e instanceof ZipError) throw e;
    throw new ZipError(src.name, undefined, `cannot read: ${errorText(e)}`);
  }
}

/** Reads every entry into memory (for small archives and tests). */
export function readZip(input: Buffer | string, limits: ZipLimits = {}): ZipEntry[] {
  const z = openZip(input, limits);
  try {
    return z.entries.map((e) => ({ ...e, data: e.isDir ? Buffer.alloc(0) : z.read(e) }));
  } finally {
    z.close();
  }
}
