// Plain output for the command line, safe against a closed pipe: `waagent -help | head -1` must
// end quietly, not with an EPIPE stack trace. Writes are synchronous so the text is out before
// process.exit().
import { writeSync } from 'node:fs';

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

const closed = new Set<number>();

/** Writes all of `text` to `fd`; after EPIPE (reader gone) the fd is silently dropped for good. */
export function writeFd(fd: number, text: string): void {
  if (closed.has(fd)) return;
  const buf = Buffer.from(text, 'utf8');
  let off = 0;
  let spins = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
      spins = 0;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // A non-blocking pipe that is full: wait a little, a bounded number of times.
      if (code === 'EAGAIN' && spins++ < 1000) { Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5); continue; }
      closed.add(fd); // EPIPE, EBADF, or a reader that never drains: stop writing there
      return;
    }
  }
}

export const stdio: Output = {
  out: (t) => writeFd(1, t),
  err: (t) => writeFd(2, t),
};

/** Collects output in memory (tests). */
export class MemoryOutput implements Output {
  stdout = '';
  stderr = '';
  out(t: string): void { this.stdout += t; }
  err(t: string): void { this.stderr += t; }
}
