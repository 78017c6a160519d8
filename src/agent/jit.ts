// JIT remote access (2.15 ga/remoteaccess.py; docs/protocol.md §1.9, docs/os.md §4.17): the RemoteAccess document of
// the goal state lists temporary accounts. Each is validated like provisioning input (name rules, reserved
// and system names refused, expiration parsed strictly, password bounds); then
//   * absent and not expired -> created (`useradd -m -e <expiration + 1 day> -c JIT_Account`), password
//     decrypted through the transport certificate and set (hashed, chpasswd -e), sudoers `ALL` (password) form
//     as 2.15 (the document's Windows groups such as Administrators are not applied, as in 2.15);
//   * an existing JIT account -> updated: expiry date and password follow the document (2.15 only adds);
//   * expired, or no longer in the document -> removed (`userdel -f -r`, sudoers line removed);
//   * an existing account that is NOT a JIT one (GECOS other than JIT_Account) is never touched.
// A document without users, or no document, removes every JIT account (once, as 2.15: the scan is repeated
// only after an error). Errors are per account: one bad entry never stops the others.
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import type { RemoteAccessDocument, RemoteAccessUser } from '../platform/remoteaccess.ts';
import { deleteUser, ensurePassword, ensureUser, getUser, isSystemUser } from '../os/users.ts';
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { ensureSudoers, removeSudoers, sudoersLine } from '../os/sudoers.ts';
import { JIT_COMMENT, accountExpiry, jitAccounts, setAccountExpiry } from '../os/jitaccounts.ts';
import { show, validateUserName, ValidationError } from '../os/validate.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

/** More than this many users in one document is refused beyond the first ones (Azure sends a handful). */
export const MAX_JIT_USERS = 100;

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const RFC1123 = /^(Sun|Mon|Tue|Wed|Thu|Fri|Sat), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) (GMT|UTC)$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * The Expiration of a RemoteAccess user: 2.15's format `%a, %d %b %Y %H:%M:%S %Z` (e.g.
 * `Mon, 01 Jan 2029 00:00:00 GMT`), or a bare `YYYY-MM-DD` (midnight UTC) as older documents show.
 * Anything else, or an impossible date, is a ValidationError naming the field.
 */
export function parseExpiration(text: string): Date {
  const t = text.trim();
  let y: number, mo: number, d: number, h = 0, mi = 0, s = 0;
  const m = RFC1123.exec(t);
  const iso = m ? null : ISO_DATE.exec(t);
  if (m) {
    [y, mo, d, h, mi, s] = [Number(m[4]), MONTHS.indexOf(m[3]!), Number(m[2]), Number(m[5]), Number(m[6]), Number(m[7])];
  } else if (iso) {
    [y, mo, d] = [Number(iso[1]), Number(iso[2]) - 1, Number(iso[3])];
  } else {
    throw new ValidationError('RemoteAccess Expiration', `${show(t)} is not like "Mon, 01 Jan 2029 00:00:00 GMT" or 2029-01-01`);
  }
  const date = new Date(Date.UTC(y, mo, d, h, mi, s));
  if (y < 1970 || y > 9999 || h > 23 || mi > 59 || s > 59 || date.getUTCDate() !== d || date.getUTCMonth() !== mo) {
    throw new ValidationError('RemoteAccess Expiration', `${show(t)} is not a valid date`);
  }
  if (m && DAYS[date.getUTCDay()] !== m[1]) log.verbose(`RemoteAccess Expiration ${t}: the weekday does not match the date (ignored)`);
  return date;
}

/** The account's expiry date: one day after the Expiration (2.15), as useradd -e wants it. */
export function accountExpiryDate(expiration: Date): string {
  return new Date(expiration.getTime() + 86_400_000).toISOString().slice(0, 10);
}

export interface JitOptions {
  root: Sysroot;
  runner: Runner;
  /** Decrypts one Password (base64 CMS to the transport certificate) to the plain text. */
  decrypt: (encrypted: string) => Promise<string>;
  sudoersDir?: string;
  passwordPath?: string;
  cryptId?: string;
  saltLength?: number;
  openssl?: string;
  now?: () => Date;
  /** A RemoteAccessHandling event (failures). */
  event?: (success: boolean, message: string) => void;
}

export interface JitResult {
  added: string[];
  updated: string[];
  removed: string[];
  /** name -> why it was refused or failed. */
  refused: Record<string, string>;
  /** The earliest expiration among the accounts kept (null: none), so the caller re-checks then. */
  nextExpiry: Date | null;
}

export class JitAccounts {
  private readonly o: JitOptions;
  /** 2.15's _check_existing_jit_users: with no document, /etc/passwd is scanned once (again after an error). */
  private scanWithoutDocument = true;

  constructor(o: JitOptions) { this.o = o; }

  async apply(doc: RemoteAccessDocument | null): Promise<JitResult> {
    const res: JitResult = { added: [], updated: [], removed: [], refused: {}, nextExpiry: null };
    const existing = new Set(jitAccounts(this.o.root));
    if (!doc || doc.users.length === 0) {
      if (!this.scanWithoutDocument) return res;
      log.info('Looking for existing remote access users.');
      let failed = false;
      for (const name of existing) if (!await this.remove(name, res)) failed = true;
      this.scanWithoutDocument = failed;
      return res;
    }
    this.scanWithoutDocument = true;
    log.info('Processing remote access users in goal state.');
    const now = (this.o.now?.() ?? new Date()).getTime();
    const seen = new Set<string>();
    const users = doc.users.slice(0, MAX_JIT_USERS);
    if (doc.users.length > MAX_JIT_USERS) this.refuse(res, `(${doc.users.length - MAX_JIT_USERS} more)`, `only the first ${MAX_JIT_USERS} remote access users are processed`);
    for (const u of users) {
      if (seen.has(u.name)) { this.refuse(res, u.name, 'listed twice in the RemoteAccess document (the first entry is used)'); continue; }
      seen.add(u.name);
      try {
        await this.one(u, existing.has(u.name), now, res);
      } catch (e) {
        this.refuse(res, u.name, errorText(e));
      }
    }
    for (const name of existing) if (!seen.has(name)) await this.remove(name, res);
    return res;
  }

  private async one(u: RemoteAccessUser, isJit: boolean, now: number, res: JitResult): Promise<void> {
    const name = validateUserName(u.name);
    const expiration = parseExpiration(u.expiration);
    const present = getUser(this.o.root, name);
    if (present && !isJit) throw new Error(`an account named ${show(name)} exists and is not a remote access (JIT) account: left untouched`);
    if (isSystemUser(this.o.root, name)) throw new Error(`${show(name)} is a system account`);
    if (expiration.getTime() <= now) {
      if (isJit) {
        log.info(`Remote access user '${name}' expired.`);
        await this.remove(name, res);
      } else {
        log.info(`Remote access user '${name}' has already expired: not created`);
      }
      return;
    }
    const expireDate = accountExpiryDate(expiration);
    const password = await this.o.decrypt(u.encryptedPassword);
    const hashOpts = { cryptId: this.o.cryptId, saltLength: this.o.saltLength, openssl: this.o.openssl, passwordPath: this.o.passwordPath };
    if (!isJit) {
      log.info(`Adding remote access user '${name}' with expiration date ${expireDate}`);
      await ensureUser(this.o.runner, this.o.root, { name, comment: JIT_COMMENT, expireDate });
      try {
        await ensurePassword(this.o.runner, this.o.root, name, password, hashOpts);
        log.info(`Adding remote access user '${name}' to sudoers`);
        await ensureSudoers(this.o.runner, this.o.root, name, false, { sudoersDir: this.o.sudoersDir });
      } catch (e) {
        // As 2.15: a half-made account is removed again.
        await this.remove(name, res, true);
        throw e;
      }
      res.added.push(name);
    } else {
      let changed = false;
      if (accountExpiry(this.o.root, name, this.o.passwordPath) !== expireDate) {
        log.info(`Remote access user '${name}': expiration date set to ${expireDate}`);
        await setAccountExpiry(this.o.runner, this.o.root, name, expireDate);
        changed = true;
      }
      if (await ensurePassword(this.o.runner, this.o.root, name, password, hashOpts)) {
        log.info(`Remote access user '${name}': password changed`);
        changed = true;
      }
      if (!this.hasSudoersLine(name) && await ensureSudoers(this.o.runner, this.o.root, name, false, { sudoersDir: this.o.sudoersDir })) changed = true;
      if (changed) res.updated.push(name);
    }
    if (res.nextExpiry === null || expiration < res.nextExpiry) res.nextExpiry = expiration;
  }

  /** ensureSudoers moves the user's line to the end; a line already in place is left where it is. */
  private hasSudoersLine(name: string): boolean {
    try {
      const text = readFileSync(this.o.root.resolve(posix.join(this.o.sudoersDir ?? '/etc/sudoers.d', 'waagent')), 'utf8');
      return text.length < 1 << 20 && text.split('\n').some((l) => l.trim() === sudoersLine(name, false));
    } catch { return false; }
  }

  private async remove(name: string, res: JitResult, quiet = false): Promise<boolean> {
    try {
      if (!quiet) log.info(`Removing remote access user '${name}'`);
      await deleteUser(this.o.runner, this.o.root, name);
      removeSudoers(this.o.root, name, { sudoersDir: this.o.sudoersDir });
      if (!quiet) res.removed.push(name);
      return true;
    } catch (e) {
      this.refuse(res, name, `removing: ${errorText(e)}`);
      return false;
    }
  }

  private refuse(res: JitResult, name: string, why: string): void {
    res.refused[name] = why;
    const msg = `Error processing remote access user ${show(name)}: ${why}`;
    log.error(msg);
    this.o.event?.(false, msg);
  }
}

export interface RemoteAccessDutyOptions {
  accounts: JitAccounts;
  /** The current goal state's incarnation (null before the first goal state). */
  incarnation: () => string | null;
  /** GET of the RemoteAccess document of the current goal state (null: the goal state names none). */
  fetch: () => Promise<RemoteAccessDocument | null>;
  now?: () => Date;
}

/**
 * When to act (2.15: on every new incarnation, after the status report). Also when the earliest
 * expiration of a kept account has passed, with the document already held (no request), so an
 * expired account goes without waiting for a new goal state. A failing fetch is retried on the next
 * cycles, at most 3 times per incarnation. Idle cost: two comparisons per cycle.
 */
export class RemoteAccessDuty {
  private readonly o: RemoteAccessDutyOptions;
  private done: string | null = null;
  private doc: RemoteAccessDocument | null = null;
  private nextExpiry: Date | null = null;
  private failures = 0;
  private failedFor: string | null = null;

  constructor(o: RemoteAccessDutyOptions) { this.o = o; }

  async run(): Promise<JitResult | null> {
    const inc = this.o.incarnation();
    if (inc === null) return null;
    const now = this.o.now?.() ?? new Date();
    const expired = this.nextExpiry !== null && now >= this.nextExpiry;
    if (inc === this.done && !expired) return null;
    if (inc !== this.done) {
      if (this.failedFor === inc && this.failures >= 3) return null;
      try {
        this.doc = await this.o.fetch();
      } catch (e) {
        if (this.failedFor !== inc) { this.failedFor = inc; this.failures = 0; }
        this.failures++;
        throw new Error(`fetching the RemoteAccess document (attempt ${this.failures} of 3 for incarnation ${inc}): ${errorText(e)}`);
      }
    }
    const res = await this.o.accounts.apply(this.doc);
    this.done = inc;
    this.nextExpiry = res.nextExpiry;
    if (res.added.length || res.updated.length || res.removed.length) {
      log.info(`Remote access users: added [${res.added.join(', ')}], updated [${res.updated.join(', ')}], removed [${res.removed.join(', ')}]`);
    }
    return res;
  }
}
