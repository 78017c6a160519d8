// Positioned reads over an image file or a block device, shared by the UDF and ISO9660 readers.
// Every read is exact (a short read is an error naming the structure being read) and bounded, so a
// truncated or hostile medium gives a clear MediaError instead of garbage or an unbounded allocation.
import { openAsync, type AsyncFile } from '../../util/fsasync.ts';
import { AgentError } from '../../util/errors.ts';

/** Bad or unsupported medium: names the medium and the on-disc structure that was wrong. */
export class MediaError extends AgentError {
  static override readonly errorName: string = 'MediaError';
  readonly source: string;
  readonly structure: string;
  constructor(source: string, structure: string, message: string) {
    super(`${source}: ${structure}: ${message}`);
    this.source = source;
    this.structure = structure;
  }
}

export interface ByteSource {
  /** For messages: the image or device path. */
  readonly name: string;
  /** Size in bytes when known (regular files, or a device size from sysfs); reads past it fail. */
  readonly size: number | undefined;
  /** Exactly `length` bytes at `offset`, or a MediaError naming `what`. */
  read(offset: number, length: number, what: string): Promise<Buffer>;
}

/** No single structure we read is larger than this (directories and files are capped lower). */
export const MAX_READ = 4 << 20;

function checkRange(src: ByteSource, offset: number, length: number, what: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0) {
    throw new MediaError(src.name, what, `invalid position ${offset}+${length}`);
  }
  if (length > MAX_READ) throw new MediaError(src.name, what, `read of ${length} bytes is over the limit of ${MAX_READ}`);
  if (src.size !== undefined && offset + length > src.size) {
    throw new MediaError(src.name, what, `truncated medium: needs bytes ${offset}..${offset + length} but the medium has ${src.size}`);
  }
}

export function bufferSource(buf: Buffer, name = 'image'): ByteSource {
  const src: ByteSource = {
    name,
    size: buf.length,
    async read(offset, length, what) {
      checkRange(src, offset, length, what);
      return Buffer.from(buf.subarray(offset, offset + length));
    },
  };
  return src;
}

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

/**
 * Opens an image file or block device read-only. `size` overrides the size from fstat (a block
 * device reports 0 there: pass /sys/block/<dev>/size × 512 when known, else reads are bounded only
 * by what the device returns).
 */
export async function openSource(hostPath: string, opts: { size?: number; name?: string } = {}): Promise<FileSource> {
  const fh: AsyncFile = await openAsync(hostPath, 'r');
  let size = opts.size;
  try {
    const st = await fh.stat();
    if (size === undefined && st.isFile()) size = st.size;
    if (st.isDirectory()) throw new MediaError(opts.name ?? hostPath, 'medium', 'is a directory');
  } catch (e) {
    await fh.close();
    throw e;
  }
  const src: FileSource = {
    name: opts.name ?? hostPath,
    size,
    async read(offset, length, what) {
      checkRange(src, offset, length, what);
      const buf = Buffer.alloc(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      if (got < length) {
        throw new MediaError(src.name, what, `truncated medium: needs bytes ${offset}..${offset + length}, got ${got} of them`);
      }
      return buf;
    },
    async close() { await fh.close(); },
  };
  return src;
}
