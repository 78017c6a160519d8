// crypt(3)-style password hashes made by `openssl passwd`, with a CSPRNG salt (the Python agent uses
// Python's `random`, docs/os.md §4.8). The password travels on stdin only: never argv, never a log.
import { constantTimeEqual, secureRandomString } from './random.ts';
import type { Runner } from '../util/exec.ts';
import { addSecret } from '../util/logger.ts';
import { AgentError } from '../util/errors.ts';

export class PasswordError extends AgentError {
  static override readonly errorName: string = 'PasswordError';
}

const SALT_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** `Provisioning.PasswordCryptId` -> openssl passwd switch and the longest salt the scheme keeps. */
const SCHEMES: Record<string, { flag: string; maxSalt: number }> = {
  '1': { flag: '-1', maxSalt: 8 }, // MD5-crypt
  '5': { flag: '-5', maxSalt: 16 }, // SHA-256-crypt
  '6': { flag: '-6', maxSalt: 16 }, // SHA-512-crypt (default)
};

/** openssl passwd reads at most this many bytes of a stdin line and silently cuts the rest (measured). */
export const MAX_PASSWORD_LENGTH = 256;

/** Salt from the kernel's CSPRNG, uniform over [A-Za-z0-9] (rejection sampling, no modulo bias). */
export function makeSalt(length: number): string {
  return secureRandomString(SALT_CHARS, length);
}

export interface HashOptions {
  /** Provisioning.PasswordCryptId; default '6'. */
  cryptId?: string;
  /** Provisioning.PasswordCryptSaltLength; default 10. Clamped to what the scheme keeps. */
  saltLength?: number;
  /** OS.OpensslPath; default 'openssl' from PATH. */
  openssl?: string;
  /** Fixed salt for tests; production always draws a fresh one. */
  salt?: string;
}

export async function hashPassword(runner: Runner, password: string, opts: HashOptions = {}): Promise<string> {
  const id = opts.cryptId ?? '6';
  const scheme = SCHEMES[id];
  // Other ids (yescrypt 'y', bcrypt '2b'...) cannot be made by openssl; failing is safer than
  // silently falling back to a scheme the image owner did not ask for.
  if (!scheme) throw new PasswordError(`Provisioning.PasswordCryptId ${JSON.stringify(id)} is not supported (use 1, 5 or 6)`);
  if (password.length === 0) throw new PasswordError('the password is empty');
  if (/[\r\n\0]/.test(password)) throw new PasswordError('the password contains a line break or NUL character');
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_LENGTH) {
    throw new PasswordError(`the password is longer than ${MAX_PASSWORD_LENGTH} bytes`);
  }
  // Defence in depth: whatever logs later, neither the password nor its hash is ever written.
  addSecret(password);
  const wanted = opts.saltLength ?? 10;
  const len = Math.max(1, Math.min(Number.isFinite(wanted) ? Math.trunc(wanted) : 10, scheme.maxSalt));
  const salt = opts.salt ?? makeSalt(len);
  if (!/^[A-Za-z0-9./]{1,16}$/.test(salt)) throw new PasswordError('invalid salt');
  const r = await runner.run([opts.openssl ?? 'openssl', 'passwd', scheme.flag, '-salt', salt, '-stdin'], {
    input: password + '\n',
    timeoutMs: 30_000,
    secrets: [password],
  });
  const out = r.stdout.trim();
  // Never echo stdout in the error: on success it is the hash, which is as sensitive as the password.
  if (r.code !== 0) throw new PasswordError(`openssl passwd failed (exit ${r.code}${r.timedOut ? ', timed out' : ''})`);
  const expect = new RegExp(`^\\$${id}\\$${salt.slice(0, scheme.maxSalt).replace(/[.]/g, '\\.')}\\$[./A-Za-z0-9]{22,86}$`);
  if (!expect.test(out)) throw new PasswordError('openssl passwd produced an unexpected hash format');
  addSecret(out);
  return out;
}

/**
 * Does `password` produce `hash`? Re-hashes with the hash's own scheme and salt (ids 1/5/6 without
 * `rounds=`); anything else is "no" so the caller simply sets the password again. Lets a second
 * provisioning run leave /etc/shadow byte-for-byte unchanged.
 */
export async function verifyPassword(runner: Runner, password: string, hash: string, opts: { openssl?: string } = {}): Promise<boolean> {
  const m = /^\$([156])\$([A-Za-z0-9./]{1,16})\$[./A-Za-z0-9]+$/.exec(hash);
  if (!m) return false;
  let again: string;
  try {
    again = await hashPassword(runner, password, { cryptId: m[1], salt: m[2], openssl: opts.openssl });
  } catch {
    return false;
  }
  const a = Buffer.from(again);
  const b = Buffer.from(hash);
  return constantTimeEqual(a, b);
}
