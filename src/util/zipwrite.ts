// Our own zip writer (node:zlib raw deflate): log collection and goal-state history archives, and test
// fixtures. It writes names exactly as given (no validation) so tests can build hostile archives; the
// reader with its policy is zipread.ts.
import { constants, closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomHex } from './unique.ts';
import { nodeZlib } from './builtins.ts';
import { crc32, FLAG_UTF8, HOST_UNIX, METHOD_DEFLATE, METHOD_STORED, S_IFDIR, S_IFMT, S_IFREG, SIG_CENTRAL, SIG_EOCD, SIG_LOCAL } from './zipformat.ts';

export { crc32 } from './zipformat.ts';

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
