// Reads the operator's policy file for one extensions goal state (2.15 reads it anew for each goal state,
// so an edited policy applies to the next one without a restart). Enforcement is on only when
// Debug.EnableExtensionPolicy=y AND the file exists, as in 2.15. Anything wrong with an existing file —
// unreadable, not a regular file, too large, owned by another user or writable by every user, not JSON,
// not the schema — is an InvalidPolicyError, and the caller then blocks every extension with it (fail closed).
import { closeSync, constants, fstatSync, lstatSync, openSync } from 'node:fs';
import { readFully } from '../../util/fsread.ts';
import { log } from '../../util/logger.ts';
import { ExtensionPolicyEngine, InvalidPolicyError, parsePolicy } from './engine.ts';
import { errorText } from '../../util/errors.ts';

/** A policy is a few hundred bytes; anything near this is not one. */
export const MAX_POLICY_BYTES = 1 << 20;
/** How much of a broken file is quoted in the message (2.15 quotes all of it). */
const QUOTE_CHARS = 2048;

export interface PolicySettings {
  /** Debug.EnableExtensionPolicy. */
  enabled: boolean;
  /** Where to read the file (the configured path under the Sysroot). */
  path: string;
  /** Policy.PolicyFilePath as configured: the path named in messages. */
  displayPath: string;
}

export interface LoadedPolicy {
  engine: ExtensionPolicyEngine;
  /** Set when an existing policy file could not be used: every extension is blocked with it. */
  error: InvalidPolicyError | null;
  /** The file's text when it was read (saved to the goal-state history). */
  text: string | null;
}

function exists(path: string): boolean {
  try { lstatSync(path); return true; } catch { return false; }
}

function quote(text: string): string {
  return text.length > QUOTE_CHARS ? `${text.slice(0, QUOTE_CHARS)} ... [TRUNCATED]` : text;
}

function readPolicyText(path: string, displayPath: string): string {
  let fd = -1;
  try {
    // O_NONBLOCK: a FIFO planted at the path must not hang the goal state.
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error('not a regular file');
    // Whoever can write the file decides which root code runs: only root (or the agent's own user).
    if (st.uid !== 0 && st.uid !== process.getuid?.()) throw new Error(`the file is owned by uid ${st.uid}; make it owned by root`);
    if (st.mode & 0o002) throw new Error(`the file is writable by every user (mode ${(st.mode & 0o777).toString(8)}); make it writable by root only`);
    if (st.size > MAX_POLICY_BYTES) throw new Error(`the file is ${st.size} bytes, more than the ${MAX_POLICY_BYTES} a policy may have`);
    return readFully(fd, st.size).toString('utf8');
  } catch (e) {
    throw new InvalidPolicyError(displayPath, 'unable to read or load policy file.', errorText(e));
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

/** The policy in force for the next goal state. Never throws. */
export function loadPolicy(s: PolicySettings): LoadedPolicy {
  if (!s.enabled || !exists(s.path)) return { engine: new ExtensionPolicyEngine(null), error: null, text: null };
  log.info('Policy enforcement is enabled.');
  let text: string | null = null;
  try {
    text = readPolicyText(s.path, s.displayPath);
    log.info(`Enforcing policy using policy file found at '${s.displayPath}'.`);
    let doc: unknown;
    try {
      doc = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch (e) {
      throw new InvalidPolicyError(s.displayPath, `policy file does not conform to valid json syntax. File contents: ${quote(text)}`, errorText(e));
    }
    return { engine: new ExtensionPolicyEngine(parsePolicy(doc, s.displayPath)), error: null, text };
  } catch (e) {
    const error = e instanceof InvalidPolicyError ? e : new InvalidPolicyError(s.displayPath, 'unable to read or load policy file.', errorText(e));
    log.error(error.message);
    return { engine: new ExtensionPolicyEngine(null), error, text };
  }
}
