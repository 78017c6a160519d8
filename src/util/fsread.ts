// Positioned reads that handle short reads: the one loop every bounded file reader here needs.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

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

/**
 * The whole text of a file someone else may control (a user's authorized_keys, a rescued disk's
 * /etc/passwd), read with a bound whatever its size claims or becomes: regular files only, and an
 * error naming the file when it holds more than `max` bytes. Never through a final symbolic link
 * unless `follow` (for paths a Sysroot already resolved). ENOENT is passed through.
 */
export function readBoundedText(path: string, max: number, name = path, follow = false): string {
  const fd = openSync(path, constants.O_RDONLY | (follow ? 0 : constants.O_NOFOLLOW) | constants.O_NONBLOCK);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${name} is not a regular file`);
    if (st.size > max) throw new Error(`${name} is larger than ${max} bytes`);
    // Sized by what the file holds (plus one byte to see it grow), never by the bound: a zero-filled
    // buffer of `max` bytes per read would touch megabytes for a file of a few hundred bytes, and that
    // memory stays in the process (measured: +15 MiB daemon RSS). A file still growing is read on, in
    // steps, up to the bound.
    let want = Math.min(max + 1, st.size + 1);
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = readFully(fd, want, total);
      parts.push(buf);
      total += buf.length;
      if (total > max) throw new Error(`${name} is larger than ${max} bytes`);
      if (buf.length < want) break;
      want = Math.min(max + 1 - total, Math.max(want, 64 << 10));
    }
    return (parts.length === 1 ? parts[0]! : Buffer.concat(parts, total)).toString('utf8');
  } finally {
    closeSync(fd);
  }
}
