// Everything the platform handed us (ovf-env.xml, IMDS) and the configuration, checked and turned
// into one plan BEFORE anything on the machine changes: a rejected value fails provisioning with a
// reason naming the field, and the machine is exactly as before.
//
// SSH keys, our order of sources (docs/architecture.md): IMDS publicKeys first, then ovf-env inline values,
// then certificates by thumbprint. The certificates endpoint no longer reliably carries SSH keys,
// so a thumbprint-only ovf key is fetched from the certificates ONLY when IMDS gave no key for the
// same file; key pairs always need the certificates (their private key lives there).
import { lstatSync, readFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { ImdsInstance } from '../platform/types.ts';
import type { OvfEnv } from '../platform/ovfenv.ts';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import type { DistroProfile } from '../os/distro.ts';
import { keyPathLexical, validateHostname, validateUserName, ValidationError } from '../os/validate.ts';
import { getUser, isSystemUser } from '../os/users.ts';
import { decodeCustomData } from '../os/customdata.ts';
import { opensshFromCertificate, parseOpensshPublicKey } from '../crypto/sshkeygen.ts';
import { MAX_PASSWORD_LENGTH } from '../crypto/password.ts';
import type { HostKeyPairType } from '../os/sshkeys.ts';
import type { ProvisionSettings } from './settings.ts';
import { AgentError, errorText } from '../util/errors.ts';

/** A value from the platform or the configuration that provisioning refuses. Nothing was changed. */
export class ProvisionInputError extends AgentError {
  static override readonly errorName: string = 'ProvisionInputError';
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.field = field;
  }
}

export interface AuthorizedKeysFile {
  /** Inner path of the authorized_keys file (normalised, inside the user's home). */
  path: string;
  /** Directory it must stay under: `<OS.HomeDir>/<user>` or the user's passwd home. */
  base: string;
  /** OpenSSH key lines in source order: IMDS, ovf inline, then (after certificates) thumbprints. */
  keys: string[];
  /** Certificate thumbprints whose public keys still have to be added (needs certificates). */
  thumbprints: string[];
}

export interface KeyPairPlan {
  path: string;
  base: string;
  fingerprint: string;
}

export interface ProvisionPlan {
  user: string;
  hostname: string;
  password?: string;
  disablePasswordAuth: boolean;
  authorizedKeys: AuthorizedKeysFile[];
  keyPairs: KeyPairPlan[];
  customData?: string;
  provisionGuestAgent: boolean;
  hostKeyType: HostKeyPairType;
  /** Some key needs `<Lib.Dir>/<TP>.crt/.prv`: fetch the certificates before applying. */
  needCertificates: boolean;
}

const CRYPT_IDS = new Set(['1', '5', '6']);
const HOST_KEY_TYPES = new Set(['rsa', 'dsa', 'ecdsa', 'ed25519', 'auto']);

function wrap<T>(field: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof ProvisionInputError) throw e;
    const msg = errorText(e);
    throw new ProvisionInputError(e instanceof ValidationError ? e.field : field, msg);
  }
}

/** Configuration values provisioning depends on (checked first: they need no platform input). */
export function checkSettings(s: ProvisionSettings): HostKeyPairType {
  if (!CRYPT_IDS.has(s.cryptId)) {
    throw new ProvisionInputError('Provisioning.PasswordCryptId', `Provisioning.PasswordCryptId ${JSON.stringify(s.cryptId)} is not supported (use 1, 5 or 6)`);
  }
  const t = s.hostKeyType.trim().toLowerCase();
  if (!HOST_KEY_TYPES.has(t)) {
    throw new ProvisionInputError('Provisioning.SshHostKeyPairType', `Provisioning.SshHostKeyPairType ${JSON.stringify(s.hostKeyType)} is not one of rsa, dsa, ecdsa, ed25519, auto`);
  }
  for (const [k, v] of [['OS.HomeDir', s.homeDir], ['OS.SshDir', s.sshDir], ['OS.SudoersDir', s.sudoersDir], ['Lib.Dir', s.libDir], ['OS.PasswordPath', s.passwordPath]] as const) {
    if (!v.startsWith('/') || v.split('/').includes('..')) throw new ProvisionInputError(k, `${k} must be an absolute path without "..": ${JSON.stringify(v)}`);
  }
  return t as HostKeyPairType;
}

function keyLine(field: string, line: string): string {
  return wrap(field, () => {
    const k = parseOpensshPublicKey(line);
    return [k.type, k.blob, k.comment].filter(Boolean).join(' ');
  });
}

/**
 * Checks every input and returns the plan. Reads the machine (passwd, login.defs) but changes
 * nothing. `imds` null = IMDS unavailable.
 */
export function planProvisioning(root: Sysroot, ovf: OvfEnv, imds: ImdsInstance | null, s: ProvisionSettings, distro: DistroProfile): ProvisionPlan {
  const hostKeyType = checkSettings(s);
  const user = wrap('UserName', () => validateUserName(ovf.username, { allowResetSysUser: s.allowResetSysUser }));
  const hostname = wrap('HostName', () => validateHostname(ovf.hostname));
  const sysOpts = { allowResetSysUser: s.allowResetSysUser, neverSystemUsers: distro.user.neverSystemUsers };
  const existing = wrap('UserName', () => getUser(root, user));
  if (existing && wrap('UserName', () => isSystemUser(root, user, sysOpts))) {
    throw new ProvisionInputError('UserName', `user ${JSON.stringify(user)} is an existing system account (uid ${existing.uid}); set Provisioning.AllowResetSysUser=y to allow it`);
  }
  if (ovf.password !== undefined) {
    if (/[\r\n\0]/.test(ovf.password)) throw new ProvisionInputError('UserPassword', 'the password contains a line break or NUL character');
    if (Buffer.byteLength(ovf.password, 'utf8') > MAX_PASSWORD_LENGTH) throw new ProvisionInputError('UserPassword', `the password is longer than ${MAX_PASSWORD_LENGTH} bytes`);
  }

  // Key files: paths relative to the home root as ovf-env means them ($HOME = OS.HomeDir).
  const homeRoot = s.homeDir.replace(/\/+$/, '') || '/';
  const ovfHome = posix.join(homeRoot, user);
  const passwdHome = existing ? posix.normalize(existing.home) : ovfHome;
  const keyOpts = { homeRoot, userHome: ovfHome, allowedDirs: passwdHome !== ovfHome ? [passwdHome] : [] };
  const baseOf = (p: string) => (p.startsWith(ovfHome + '/') ? ovfHome : passwdHome);
  const files = new Map<string, AuthorizedKeysFile>();
  const fileFor = (field: string, rawPath: string): AuthorizedKeysFile => {
    const path = wrap(field, () => keyPathLexical(rawPath, keyOpts));
    let f = files.get(path);
    if (!f) {
      f = { path, base: baseOf(path), keys: [], thumbprints: [] };
      files.set(path, f);
    }
    return f;
  };

  const imdsPaths = new Set<string>();
  for (const [i, k] of (imds?.publicKeys ?? []).entries()) {
    const field = `IMDS compute.publicKeys[${i}]`;
    const f = fileFor(`${field}.path`, k.path || posix.join(ovfHome, '.ssh', 'authorized_keys'));
    f.keys.push(keyLine(`${field}.keyData`, k.keyData));
    imdsPaths.add(f.path);
  }
  for (const k of ovf.publicKeys) {
    const f = fileFor('PublicKey/Path', k.path);
    if (k.value !== undefined) {
      for (const line of k.value.split('\n')) f.keys.push(keyLine('PublicKey/Value', line));
    } else if (k.fingerprint && !imdsPaths.has(f.path)) {
      f.thumbprints.push(k.fingerprint);
    }
  }
  const keyPairs = ovf.keyPairs.map((k) => {
    const path = wrap('KeyPair/Path', () => keyPathLexical(k.path, keyOpts));
    if (files.has(path)) throw new ProvisionInputError('KeyPair/Path', `key pair path ${JSON.stringify(path)} is also an authorized_keys file`);
    return { path, base: baseOf(path), fingerprint: k.fingerprint };
  });

  if (ovf.customData !== undefined && (s.decodeCustomData || s.executeCustomData)) {
    wrap('CustomData', () => decodeCustomData(ovf.customData!));
  }
  const plan: ProvisionPlan = {
    user, hostname,
    disablePasswordAuth: ovf.disableSshPasswordAuthentication,
    authorizedKeys: [...files.values()],
    keyPairs,
    provisionGuestAgent: ovf.provisionGuestAgent,
    hostKeyType,
    needCertificates: keyPairs.length > 0 || [...files.values()].some((f) => f.thumbprints.length > 0),
  };
  if (ovf.password !== undefined) plan.password = ovf.password;
  if (ovf.customData !== undefined) plan.customData = ovf.customData;
  return plan;
}

function readLibFile(root: Sysroot, libDir: string, name: string, what: RegExp, field: string): string {
  const inner = posix.join(libDir, name);
  let text: string;
  try {
    const host = root.path(inner);
    const st = lstatSync(host);
    if (!st.isFile() || st.size > 64 * 1024) throw new Error('not a regular file of at most 64 KiB');
    text = readFileSync(host, 'utf8');
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'not in the goal state\'s certificates' : errorText(e);
    throw new ProvisionInputError(field, `Can't find ${name}: ${why}`);
  }
  if (!what.test(text)) throw new ProvisionInputError(field, `${name} is not a PEM file of the expected kind`);
  return text;
}

/**
 * After the certificates are installed: every thumbprint key becomes an OpenSSH line (ssh-keygen
 * conversion, as upstream) and every key pair's private key is checked to exist. Still no change
 * to the machine; throws ProvisionInputError naming the missing thumbprint.
 */
export async function resolveCertificateKeys(root: Sysroot, runner: Runner, plan: ProvisionPlan, libDir: string): Promise<void> {
  for (const f of plan.authorizedKeys) {
    for (const tp of f.thumbprints) {
      const pem = readLibFile(root, libDir, `${tp}.crt`, /-----BEGIN CERTIFICATE-----/, 'PublicKey/Fingerprint');
      let line: string;
      try {
        line = await opensshFromCertificate(runner, pem);
      } catch (e) {
        throw new ProvisionInputError('PublicKey/Fingerprint', `certificate ${tp}: ${errorText(e)}`);
      }
      f.keys.push(keyLine('PublicKey/Fingerprint', line));
    }
    f.thumbprints = [];
  }
  for (const k of plan.keyPairs) readLibFile(root, libDir, `${k.fingerprint}.prv`, /-----BEGIN [A-Z ]*PRIVATE KEY-----/, 'KeyPair/Fingerprint');
}

