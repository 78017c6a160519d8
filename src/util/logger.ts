// waagent's log line format, several appenders, and a redaction layer that every line passes
// through (redact.ts): SAS signatures, PEM private keys and registered secret values can never be written.
import { closeSync, constants, existsSync, openSync, renameSync, writeSync } from 'node:fs';
import { appendLogFile, openLogFile } from './logfile.ts';
import { redact } from './redact.ts';

export { addSecret, redact, secretsGeneration } from './redact.ts';
/** errorText lives in errors.ts; re-exported for the modules that import it with the logger. */
export { errorText } from './errors.ts';

export type Level = 'VERBOSE' | 'INFO' | 'WARNING' | 'ERROR';
const RANK: Record<Level, number> = { VERBOSE: 0, INFO: 1, WARNING: 2, ERROR: 3 };

export interface Appender {
  level: Level;
  write(line: string): void;
}

/** waagent forces lines to ASCII with backslash escapes. */
function asciiEscape(s: string): string {
  return s.replace(/[^\x09\x0a\x20-\x7e]/gu, (c) => {
    const cp = c.codePointAt(0)!;
    if (cp <= 0xff) return '\\x' + cp.toString(16).padStart(2, '0');
    if (cp <= 0xffff) return '\\u' + cp.toString(16).padStart(4, '0');
    return '\\U' + cp.toString(16).padStart(8, '0');
  });
}

/** UTC ISO-8601 with microseconds: 2025-11-19T12:41:22.123000Z */
export function timestamp(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class StreamAppender implements Appender {
  level: Level;
  private readonly fd: number;
  constructor(fd: number, level: Level) { this.fd = fd; this.level = level; }
  write(line: string): void {
    try { writeSync(this.fd, line); } catch { /* EPIPE or closed console: logging must never kill us */ }
  }
}

/**
 * Appends per line (so external rotation works) and rotates itself past maxBytes (bounded disk).
 * The file is 0600 and root's (an existing one is tightened when the appender starts) and never
 * written through a symbolic link: one in the way is replaced, and that is logged in the new file.
 */
export class FileAppender implements Appender {
  level: Level;
  readonly path: string;
  private readonly maxBytes: number;
  private readonly keep: number;
  private written = 0;
  constructor(path: string, level: Level, maxBytes = 20 << 20, keep = 3) {
    this.path = path; this.level = level; this.maxBytes = maxBytes; this.keep = keep;
    try {
      const o = openLogFile(path);
      closeSync(o.fd);
      this.written = o.size;
      if (o.note) this.note(o.note);
    } catch { this.written = 0; }
  }
  write(line: string): void {
    try {
      if (this.written + line.length > this.maxBytes) this.rotate();
      const r = appendLogFile(this.path, line);
      this.written = r.size;
      if (r.note) this.note(r.note);
    } catch { /* swallowed like upstream: a full disk must not stop the agent */ }
  }
  private note(msg: string): void {
    try { this.written = appendLogFile(this.path, `${timestamp()} WARNING MainThread ${asciiEscape(redact(msg))}\n`).size; } catch { /* as above */ }
  }
  private rotate(): void {
    for (let i = this.keep - 1; i >= 1; i--) {
      const from = `${this.path}.${i}`;
      if (existsSync(from)) renameSync(from, `${this.path}.${i + 1}`);
    }
    if (existsSync(this.path)) renameSync(this.path, `${this.path}.1`);
    this.written = 0;
  }
}

/**
 * A character device (waagent's /dev/console appender) opened per line, non-blocking and never as
 * a controlling terminal, so a stuck or absent console can neither hang nor kill the agent. No size
 * accounting or rotation: it is not a file.
 */
export class DeviceAppender implements Appender {
  level: Level;
  readonly path: string;
  constructor(path: string, level: Level) { this.path = path; this.level = level; }
  write(line: string): void {
    let fd = -1;
    try {
      fd = openSync(this.path, constants.O_WRONLY | constants.O_NOCTTY | constants.O_NONBLOCK | constants.O_APPEND);
      writeSync(fd, line);
    } catch { /* no console, or it is full: drop the line */ }
    finally { if (fd >= 0) try { closeSync(fd); } catch { /* ignore */ } }
  }
}

export class MemoryAppender implements Appender {
  level: Level;
  readonly lines: string[] = [];
  constructor(level: Level = 'VERBOSE') { this.level = level; }
  write(line: string): void { this.lines.push(line); }
}

export class Logger {
  thread = 'MainThread';
  prefix = '';
  appenders: Appender[] = [];

  /** Set on child loggers: they write through the parent's appenders as they are at each call. */
  private parent: Logger | undefined;

  /**
   * A logger with its own thread name (waagent's EnvHandler, MonitorHandler...) and, optionally,
   * prefix, writing through this logger's appenders, including ones added or removed later.
   */
  child(thread: string, prefix: string = this.prefix): Logger {
    const c = new Logger();
    c.parent = this;
    c.thread = thread;
    c.prefix = prefix;
    return c;
  }

  private emit(level: Level, msg: string): void {
    // Nothing is formatted (redaction regexes, escaping, time stamp) for a level no appender writes:
    // the daemon's idle poll logs its requests at VERBOSE, which is usually off.
    if (!this.enabled(level)) return;
    const appenders = this.parent ? this.parent.appenders : this.appenders;
    const rank = RANK[level];
    const body = asciiEscape(redact(msg));
    const line = `${timestamp()} ${level} ${this.thread} ${this.prefix ? this.prefix + ' ' : ''}${body}\n`;
    for (const a of appenders) if (rank >= RANK[a.level]) a.write(line);
  }
  /** Removes the appenders matching `pred` (e.g. the console once provisioning is done); returns how many. */
  removeAppenders(pred: (a: Appender) => boolean): number {
    const before = this.appenders.length;
    this.appenders = this.appenders.filter((a) => !pred(a));
    return before - this.appenders.length;
  }
  /** True when some appender writes `level`: lets a caller skip building a message nobody reads. */
  enabled(level: Level): boolean {
    const appenders = this.parent ? this.parent.appenders : this.appenders;
    const rank = RANK[level];
    // A loop, not some(): asked on every request of the idle poll (no closure per call).
    for (const a of appenders) if (rank >= RANK[a.level]) return true;
    return false;
  }
  verbose(msg: string): void { this.emit('VERBOSE', msg); }
  info(msg: string): void { this.emit('INFO', msg); }
  warn(msg: string): void { this.emit('WARNING', msg); }
  error(msg: string): void { this.emit('ERROR', msg); }

  private readonly onceKeys = new Set<string>();
  /** Log a message only the first time its key is seen (bounded: at most 1000 keys are kept). */
  once(level: Level, key: string, msg: string): void {
    if (this.onceKeys.has(key)) return;
    if (this.onceKeys.size < 1000) this.onceKeys.add(key);
    this.emit(level, msg);
  }
}

/** The process-wide logger; main.ts attaches appenders. */
export const log = new Logger();

