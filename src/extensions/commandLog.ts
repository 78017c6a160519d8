// EXTLOG/<Name>/CommandExecution*.log: the per-extension log of commands run and their output. Bounded:
// trimmed to its last 10 MiB at a line boundary (the Python agent trims at each handler instance; we trim
// when an append would cross the cap). Every line is redacted (SAS tokens, secrets) before it is written.
import { closeSync, fstatSync, mkdirSync, openSync, readSync, constants } from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { redact, timestamp } from '../util/logger.ts';
import { appendLogFile, LOG_FILE_MODE } from '../util/logfile.ts';

export const COMMAND_LOG_MAX_BYTES = 10 * 1024 * 1024;

/** Keeps the last `max` bytes, starting after the first newline in the kept part. */
export function trimLogHead(path: string, max = COMMAND_LOG_MAX_BYTES): void {
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    const size = fstatSync(fd).size;
    if (size <= max) return;
    const buf = Buffer.alloc(max);
    const n = readSync(fd, buf, 0, max, size - max);
    const nl = buf.subarray(0, n).indexOf(0x0a);
    closeSync(fd);
    fd = -1;
    writeFileAtomic(path, nl >= 0 ? buf.subarray(nl + 1, n) : Buffer.alloc(0), { mode: LOG_FILE_MODE });
  } catch { /* missing log: nothing to trim */ } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export function appendCommandLog(path: string, message: string, max = COMMAND_LOG_MAX_BYTES): void {
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    const line = `${timestamp()} ${redact(message)}\n`;
    // 0600, never through a link (extension output may hold secrets; see util/logfile.ts).
    const r = appendLogFile(path, line);
    if (r.note) appendLogFile(path, `${timestamp()} ${r.note}\n`);
    trimLogHead(path, max);
  } catch { /* a full disk must not fail the extension command */ }
}
