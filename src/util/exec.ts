// Running system tools: argv arrays only (never a shell string), a timeout that kills the whole
// process group (grandchildren included), and captured output capped in size.
import { childProcess } from './builtins.ts';
import { AgentError } from './errors.ts';

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Written to stdin, then stdin is closed. Secrets go here, never into argv. */
  input?: string | Buffer;
  /** Default 60 s. 0 disables the timeout (only for commands with their own bound). */
  timeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL of the process group on timeout. Default 2 s. */
  killGraceMs?: number;
  /** Bytes kept of each of stdout/stderr. Default 1 MiB; the rest is dropped and `truncated` set. */
  maxOutput?: number;
  /** Values that must never appear in errors built from this run (argv or output). */
  secrets?: string[];
}

export interface ExecResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  truncated: boolean;
  durationMs: number;
}

export class ExecError extends AgentError {
  static override readonly errorName: string = 'ExecError';
  readonly result: ExecResult;
  constructor(result: ExecResult, secrets: string[] = []) {
    const how = result.timedOut
      ? `timed out after ${result.durationMs} ms`
      : result.signal
        ? `killed by ${result.signal}`
        : `exit code ${result.code}`;
    const err = hideSecrets(result.stderr.trim().slice(0, 500), secrets);
    super(`command ${hideSecrets(result.argv[0] ?? '?', secrets)} failed: ${how}${err ? `: ${err}` : ''}`);
    this.result = result;
  }
}

function hideSecrets(text: string, secrets: string[]): string {
  let out = text;
  for (const s of secrets) if (s) out = out.split(s).join('***');
  return out;
}

/** Commands go through a Runner so unit tests can record what would run. */
export interface Runner {
  run(argv: string[], opts?: ExecOptions): Promise<ExecResult>;
}

export function exec(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0 || !argv[0]) throw new Error('exec: empty argv');
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const grace = opts.killGraceMs ?? 2_000;
  const cap = opts.maxOutput ?? 1 << 20;
  const started = Date.now();
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let truncated = false;
    let timedOut = false;
    let settled = false;
    let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    const timers: NodeJS.Timeout[] = [];

    // detached => the child leads a new session and process group, so a timeout can kill the
    // whole group with kill(-pid) and reach grandchildren that still share it.
    const child = childProcess().spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      // No input: stdin is /dev/null (an end of file at once, as a closed pipe), one pipe and stream less.
      stdio: [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    });

    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      resolve({
        argv,
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        timedOut,
        truncated,
        durationMs: Date.now() - started,
      });
    };
    const collect = (chunks: Buffer[], which: 'out' | 'err') => (b: Buffer) => {
      const len = which === 'out' ? outLen : errLen;
      const room = cap - len;
      if (room <= 0) { truncated = true; return; }
      const piece = b.length > room ? b.subarray(0, room) : b;
      if (piece.length < b.length) truncated = true;
      chunks.push(piece);
      if (which === 'out') outLen += piece.length; else errLen += piece.length;
    };
    child.stdout!.on('data', collect(out, 'out'));
    child.stderr!.on('data', collect(err, 'err'));
    child.stdin?.on('error', () => { /* the command may not read stdin: EPIPE is not our failure */ });
    child.on('error', (e: NodeJS.ErrnoException) => {
      err.push(Buffer.from(`${e.code ?? ''} ${e.message}`));
      finish(e.code === 'ENOENT' ? 127 : 126, null);
    });
    child.on('exit', (code, signal) => {
      exitInfo = { code, signal };
      // A grandchild that keeps our pipes open must not hold us forever: give 'close' a moment.
      timers.push(setTimeout(() => {
        child.stdout!.destroy();
        child.stderr!.destroy();
        finish(code, signal);
      }, 2_000));
    });
    child.on('close', (code, signal) => finish(exitInfo?.code ?? code, exitInfo?.signal ?? signal));

    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, sig); } catch { /* group already gone */ }
    };
    if (timeoutMs > 0) {
      const t = setTimeout(() => {
        timedOut = true;
        killGroup('SIGTERM');
        timers.push(setTimeout(() => killGroup('SIGKILL'), grace));
      }, timeoutMs);
      timers.push(t);
    }
    if (opts.input !== undefined) child.stdin!.end(opts.input);
  });
}

/** Runs and throws ExecError unless the exit code is 0. */
export async function execOk(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const r = await exec(argv, opts);
  if (r.code !== 0 || r.timedOut) throw new ExecError(r, opts.secrets);
  return r;
}

export const realRunner: Runner = { run: exec };

/** Unit-test Runner: records every argv and answers from a list of handlers (first match wins). */
export class RecordingRunner implements Runner {
  readonly calls: { argv: string[]; input?: string }[] = [];
  private readonly answers: { match: (argv: string[]) => boolean; result: Partial<ExecResult> }[] = [];
  answer(match: string | ((argv: string[]) => boolean), result: Partial<ExecResult>): this {
    const m = typeof match === 'string' ? (a: string[]) => a.join(' ').startsWith(match) : match;
    this.answers.push({ match: m, result });
    return this;
  }
  async run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.calls.push({ argv, input: opts.input === undefined ? undefined : String(opts.input) });
    const a = this.answers.find((x) => x.match(argv));
    return {
      argv, code: 0, signal: null, stdout: '', stderr: '', timedOut: false, truncated: false, durationMs: 0,
      ...(a?.result ?? {}),
    };
  }
}

// ---------------------------------------------------------------------------------------------------
// Running a command whose stdout/stderr go to files the caller opened (not pipes). Used for extension
// commands: a background child that inherits the files can never block us, and the caller reads what
// it needs afterwards. The child leads its own session and process group; on timeout the whole group is
// killed. When the main process exits we return at once, even if children it forked live on.

export interface ExecToFdsOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** File descriptors for the child's stdout and stderr (stdin is /dev/null). */
  stdout: number;
  stderr: number;
  /** 0 disables the timeout. */
  timeoutMs: number;
  /** Grace between SIGTERM and SIGKILL of the group on timeout; 0 (default) sends SIGKILL at once. */
  killGraceMs?: number;
  /** Called once the child exists, with its pid (= its process group: it leads its own session). */
  onSpawn?: (pid: number) => void;
}

export interface ExecToFdsResult {
  argv: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  durationMs: number;
  pid: number | undefined;
  /** Set when the process could not be started at all (ENOENT, EACCES...). */
  spawnError?: NodeJS.ErrnoException;
}

export function execToFds(argv: string[], opts: ExecToFdsOptions): Promise<ExecToFdsResult> {
  if (argv.length === 0 || !argv[0]) throw new Error('execToFds: empty argv');
  const started = Date.now();
  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const child = childProcess().spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      detached: true,
      stdio: ['ignore', opts.stdout, opts.stderr],
    });
    const done = (code: number | null, signal: NodeJS.Signals | null, spawnError?: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      resolve({ argv, code, signal, timedOut, durationMs: Date.now() - started, pid: child.pid, spawnError });
    };
    child.on('error', (e: NodeJS.ErrnoException) => done(null, null, e));
    child.on('exit', (code, signal) => done(code, signal));
    if (child.pid !== undefined) opts.onSpawn?.(child.pid);
    const killGroup = (sig: NodeJS.Signals) => {
      if (child.pid === undefined) return;
      try { process.kill(-child.pid, sig); } catch { /* group already gone */ }
    };
    if (opts.timeoutMs > 0) {
      timers.push(setTimeout(() => {
        timedOut = true;
        const grace = opts.killGraceMs ?? 0;
        if (grace <= 0) { killGroup('SIGKILL'); return; }
        killGroup('SIGTERM');
        timers.push(setTimeout(() => killGroup('SIGKILL'), grace));
      }, opts.timeoutMs));
    }
  });
}
