// The openssl binary behind a small interface. Node's crypto cannot open CMS or PKCS#12, so those go
// through openssl; binary data moves through files in a private (0700) temp directory because command
// output is captured as text. Secrets never go into argv.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ExecError, realRunner, type ExecOptions, type ExecResult, type Runner } from '../util/exec.ts';

export const DEFAULT_OPENSSL = '/usr/bin/openssl';

export class OpenSsl {
  readonly bin: string;
  readonly runner: Runner;
  constructor(bin = DEFAULT_OPENSSL, runner: Runner = realRunner) {
    this.bin = bin;
    this.runner = runner;
  }

  /** Runs `openssl <args>`; throws ExecError on a non-zero exit. */
  async run(args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    const r = await this.runner.run([this.bin, ...args], { timeoutMs: 60_000, ...opts });
    if (r.code !== 0 || r.timedOut) throw new ExecError(r, opts.secrets);
    return r;
  }
}

/**
 * A private scratch directory (0700) for files that may hold secrets (decrypted PFX, keys), removed with
 * everything in it when `fn` ends, whatever happens.
 */
export async function withScratch<T>(fn: (dir: string) => Promise<T>, parent = tmpdir()): Promise<T> {
  const dir = mkdtempSync(join(parent, '.waagent-crypto-'));
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Removes scratch directories a killed process left behind in `parent` (they may hold decrypted keys).
 * Only our own prefix is touched.
 */
export function cleanStaleScratch(parent: string): number {
  let n = 0;
  let names: string[] = [];
  try { names = readdirSync(parent); } catch { return 0; }
  for (const name of names) {
    if (!name.startsWith('.waagent-crypto-')) continue;
    rmSync(join(parent, name), { recursive: true, force: true });
    n++;
  }
  return n;
}

export function writePrivate(path: string, data: string | Uint8Array): void {
  writeFileSync(path, data, { mode: 0o600, flag: 'wx' });
}

export function readBinary(path: string): Buffer {
  return readFileSync(path);
}
