// Positioned reads that handle short reads: the one loop every bounded file reader here needs.
import { readSync } from 'node:fs';

/** Reads up to `length` bytes from `fd` at `position`; shorter only at end of file. */
export function readFully(fd: number, length: number, position = 0): Buffer {
  const buf = Buffer.alloc(length);
  let off = 0;
  while (off < length) {
    const n = readSync(fd, buf, off, length - off, position + off);
    if (n === 0) break;
    off += n;
  }
  return off === length ? buf : buf.subarray(0, off);
}
