// ovf-env.xml (docs/protocol.md §5.2, docs/os.md §4.4.1): the provisioning document on the DVD. Parsed
// namespace-aware (prefixes are irrelevant: cloud-init writes ns0:/ns1:), validated strictly, and
// turned into a plain typed model. Everything the platform hands us here ends up in argv of useradd,
// in /etc/hostname or in a file path, so user name, hostname, key paths and fingerprints are checked
// lexically here; the OS layer (os/validate.ts) re-checks against the real machine (system users,
// symlinks). This module never touches the OS.
import { posix } from 'node:path';
import { addSecret, log } from '../util/logger.ts';
import { parseXml, XmlError, type XmlElement } from '../util/xml.ts';
import { DocumentError } from './errors.ts';

export const OVF_NS = 'http://schemas.dmtf.org/ovf/environment/1';
export const WA_NS = 'http://schemas.microsoft.com/windowsazure';
const DOC = 'ovf-env.xml';
/** The DVD file is a few KiB; CustomData is at most 64 KiB decoded on Azure. */
export const OVF_MAX_BYTES = 1 << 20;

export class OvfEnvError extends DocumentError {
  static override readonly errorName: string = 'OvfEnvError';
  constructor(message: string, element?: string) {
    super(DOC, message, element);
  }
}

export interface OvfPublicKey {
  /** Path as written in the document (may start with `$HOME`). */
  path: string;
  /** `$HOME` replaced by the home root, normalised, checked to stay inside the user's home. */
  resolvedPath: string;
  /** Upper-case SHA-1 thumbprint of a certificate in the goal state (Lib.Dir/<FP>.crt). */
  fingerprint?: string;
  /** OpenSSH public key line(s), validated, joined by '\n'; preferred over the fingerprint. */
  value?: string;
}

export interface OvfKeyPair {
  path: string;
  resolvedPath: string;
  fingerprint: string;
}

export interface OvfEnv {
  version: string;
  hostname: string;
  username: string;
  /** Plain text; registered with addSecret as soon as it is read. Undefined when absent or empty. */
  password?: string;
  /** True only for the text `true` (any case); absent => false => password auth enabled (upstream). */
  disableSshPasswordAuthentication: boolean;
  publicKeys: OvfPublicKey[];
  keyPairs: OvfKeyPair[];
  /** Base64 exactly as in the document (trimmed); decode with decodeCustomData(). */
  customData?: string;
  /** False only for the text `false` (any case); any other non-empty value keeps the agent enabled. */
  provisionGuestAgent: boolean;
  provisionGuestAgentRaw: string;
  preprovisionedVm: boolean;
  preprovisionedVmType?: string;
}

export interface OvfParseOptions {
  /** OS.HomeDir: what `$HOME` in key paths stands for (the home ROOT, not the user's home). */
  homeDir?: string;
  /** Source name used in parse errors (e.g. '/dev/sr0:ovf-env.xml'). */
  source?: string;
}

// ----------------------------------------------------------------------------------------------
// namespace-aware lookups (DOM getElementsByTagNameNS semantics: first match anywhere below)

function firstNs(el: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  if (!el) return undefined;
  for (const c of el.children) {
    if (c.local === local && c.ns === ns) return c;
    const d = firstNs(c, ns, local);
    if (d) return d;
  }
  return undefined;
}

function allNs(el: XmlElement | undefined, ns: string, local: string, out: XmlElement[] = []): XmlElement[] {
  if (!el) return out;
  for (const c of el.children) {
    if (c.local === local && c.ns === ns) out.push(c);
    allNs(c, ns, local, out);
  }
  return out;
}

/** Trimmed text; an empty element counts as absent (upstream: "first text child"). */
function textOf(el: XmlElement | undefined): string | undefined {
  if (!el) return undefined;
  const t = el.text.trim();
  return t === '' ? undefined : t;
}

function required(parent: XmlElement, ns: string, local: string): XmlElement {
  const e = firstNs(parent, ns, local);
  if (!e) throw new OvfEnvError(`Failed to validate OVF: ${local} not found`, local);
  return e;
}

function requiredText(parent: XmlElement, ns: string, local: string): string {
  const t = textOf(firstNs(parent, ns, local));
  if (t === undefined) throw new OvfEnvError(`Failed to validate OVF: ${local} not found`, local);
  return t;
}

/** Printable and bounded, so a hostile value cannot flood or corrupt a log line. */
function show(value: string): string {
  return JSON.stringify(value.length > 80 ? value.slice(0, 80) + '…' : value);
}

// ----------------------------------------------------------------------------------------------
// field validation (lexical; kept in step with os/validate.ts, which the platform layer cannot import)

// POSIX portable user name, not starting with a digit or '-', ≤32 chars (utmp); upper case allowed
// because Azure allows it.
const USER_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,31}$/;

export function checkUserName(name: string): string {
  if (!USER_RE.test(name) || name.endsWith('.')) {
    throw new OvfEnvError(`user name ${show(name)} is not a valid account name (letters, digits, "_", ".", "-"; no shell metacharacters)`, 'UserName');
  }
  // Existing system accounts are refused by the OS layer (uid < UID_MIN); root is never acceptable.
  if (name === 'root') throw new OvfEnvError('user name "root" cannot be provisioned', 'UserName');
  return name;
}

const LABEL_RE = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

/** RFC 1123: dot-separated labels of letters, digits and inner hyphens, ≤63 each, ≤253 in all. */
export function checkHostname(name: string): string {
  const bad = (why: string) => new OvfEnvError(`hostname ${show(name)} ${why}`, 'HostName');
  if (name.length > 253) throw bad('is longer than 253 characters');
  for (const label of name.split('.')) {
    if (label.length === 0) throw bad('has an empty label');
    if (!LABEL_RE.test(label)) throw bad('may contain only letters, digits, inner hyphens and dots');
  }
  return name;
}

const FP_RE = /^[0-9A-Fa-f]{40}$/;

function checkFingerprint(fp: string, element: string): string {
  // It becomes a file name (Lib.Dir/<FP>.crt): anything but 40 hex digits could escape Lib.Dir.
  if (!FP_RE.test(fp)) throw new OvfEnvError(`fingerprint ${show(fp)} is not a 40-digit hex SHA-1 thumbprint`, element);
  return fp.toUpperCase();
}

// Characters a key path may hold: no whitespace, quotes, `$` (after $HOME expansion), `;`, `|`, `&`,
// backquotes, globs or control characters, so the path is inert in any later command or log line.
const PATH_CHARS_RE = /^[A-Za-z0-9._@+\/-]+$/;

/**
 * `$HOME` stands for the home ROOT (OS.HomeDir, upstream semantics), so `$HOME/alice/.ssh/x` is
 * `/home/alice/.ssh/x`. The result must be absolute, free of `..`, and strictly inside
 * `<homeDir>/<user>/` (the home useradd -m will create). UNCONFIRMED whether Azure ever sends a path
 * outside the user's home (e.g. a shared AuthorizedKeysFile); refusing is the safe choice.
 */
export function resolveKeyPath(path: string, user: string, homeDir: string, element: string): string {
  const bad = (why: string) => new OvfEnvError(`key path ${show(path)} ${why}`, element);
  if (path.length > 1024) throw bad('is longer than 1024 characters');
  const root = posix.normalize(homeDir).replace(/\/+$/, '') || '/';
  const expanded = path.split('$HOME').join(root);
  if (!PATH_CHARS_RE.test(expanded)) throw bad('contains characters other than letters, digits and ._@+/-');
  if (!expanded.startsWith('/')) throw bad('is neither absolute nor $HOME-relative');
  if (expanded.split('/').some((seg) => seg === '..' || seg === '.')) throw bad('contains a "." or ".." component');
  const norm = posix.normalize(expanded);
  if (norm.endsWith('/')) throw bad('names a directory, not a file');
  const home = posix.join(root, user) + '/';
  if (!norm.startsWith(home) || norm.length <= home.length) throw bad(`is outside the user's home ${home}`);
  return norm;
}

// OpenSSH public key types accepted inline (upstream accepts only `ssh-*`, which refuses ECDSA and
// security keys; we accept every type OpenSSH knows and check the blob's embedded type instead).
const KEY_TYPES = new Set([
  'ssh-rsa', 'ssh-dss', 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com', 'sk-ecdsa-sha2-nistp256@openssh.com',
]);

function keyTypeOk(type: string): boolean {
  return KEY_TYPES.has(type) || (type.endsWith('-cert-v01@openssh.com') && KEY_TYPES.has(type.replace('-cert-v01@openssh.com', '')));
}

/**
 * One OpenSSH key per line: `<type> <base64> [comment]`, no options (`command=...` would let the
 * document restrict or hijack the login). The base64 blob must name the same type. Returns the lines
 * joined by '\n' (CR and blank lines dropped).
 */
export function checkPublicKeyValue(value: string): string {
  const lines = value.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  if (lines.length === 0) throw new OvfEnvError('empty public key value', 'PublicKey/Value');
  if (lines.length > 100) throw new OvfEnvError('more than 100 keys in one public key value', 'PublicKey/Value');
  for (const line of lines) {
    const bad = (why: string) => new OvfEnvError(`bad public key ${show(line.slice(0, 40))}: ${why}`, 'PublicKey/Value');
    if (/[\x00-\x1f\x7f]/.test(line)) throw bad('contains control characters');
    const [type = '', blob = ''] = line.split(/\s+/);
    if (!keyTypeOk(type)) throw bad(`unknown key type ${show(type)}`);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || blob.length % 4 !== 0) throw bad('key data is not base64');
    const raw = Buffer.from(blob, 'base64');
    const n = raw.length >= 4 ? raw.readUInt32BE(0) : -1;
    if (n < 1 || 4 + n > raw.length || raw.subarray(4, 4 + n).toString('latin1') !== type) {
      throw bad('key data does not match its type');
    }
  }
  return lines.join('\n');
}

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 (whitespace ignored); CustomData must decode before anything is saved or run. */
export function decodeCustomData(b64: string): Buffer {
  const s = b64.replace(/\s+/g, '');
  if (!B64_RE.test(s) || s.length % 4 !== 0) throw new OvfEnvError('CustomData is not valid base64', 'CustomData');
  return Buffer.from(s, 'base64');
}

function isText(s: string | undefined, want: string): boolean {
  return (s ?? '').trim().toLowerCase() === want;
}

// ----------------------------------------------------------------------------------------------

export function parseOvfEnv(text: string | Buffer, opts: OvfParseOptions = {}): OvfEnv {
  const homeDir = opts.homeDir ?? '/home';
  let root: XmlElement;
  try {
    root = parseXml(text, opts.source ?? DOC, { maxBytes: OVF_MAX_BYTES, maxDepth: 32, maxElements: 10_000 });
  } catch (e) {
    if (e instanceof XmlError) throw new OvfEnvError(`malformed XML: ${e.message}`, e.element);
    throw e;
  }
  // The password is registered before any validation can fail, so no later error or log line
  // (which may quote parts of the document) can carry it.
  const passwordEl = firstNs(root, WA_NS, 'UserPassword');
  const password = passwordEl && passwordEl.text !== '' ? passwordEl.text : undefined;
  addSecret(password);
  if (password !== undefined && password.trim() !== password) addSecret(password.trim());

  if (root.local !== 'Environment' || root.ns !== OVF_NS) {
    throw new OvfEnvError(`Failed to validate OVF: Environment not found (root is <${root.name}> in namespace ${show(root.ns)})`, 'Environment');
  }
  const section = required(root, WA_NS, 'ProvisioningSection');
  const version = requiredText(root, WA_NS, 'Version');
  if (Number.parseFloat(version) > 1.0 || !/^\d+(\.\d+)*$/.test(version)) {
    log.warn(`ovf-env.xml: ProvisioningSection version ${show(version)} is newer than 1.0 or unknown; continuing`);
  }
  const set = required(section, WA_NS, 'LinuxProvisioningConfigurationSet');
  const hostname = checkHostname(requiredText(set, WA_NS, 'HostName'));
  const username = checkUserName(requiredText(set, WA_NS, 'UserName'));

  const publicKeys: OvfPublicKey[] = allNs(set, WA_NS, 'PublicKey').map((k) => {
    const path = textOf(firstNs(k, WA_NS, 'Path'));
    if (path === undefined) throw new OvfEnvError('Public key path is missing', 'PublicKey/Path');
    const fpText = textOf(firstNs(k, WA_NS, 'Fingerprint'));
    const valueText = textOf(firstNs(k, WA_NS, 'Value'));
    if (fpText === undefined && valueText === undefined) {
      throw new OvfEnvError('SSH public key has neither Fingerprint nor Value', 'PublicKey');
    }
    const key: OvfPublicKey = { path, resolvedPath: resolveKeyPath(path, username, homeDir, 'PublicKey/Path') };
    if (fpText !== undefined) key.fingerprint = checkFingerprint(fpText, 'PublicKey/Fingerprint');
    if (valueText !== undefined) key.value = checkPublicKeyValue(valueText);
    return key;
  });
  const keyPairs: OvfKeyPair[] = allNs(set, WA_NS, 'KeyPair').map((k) => {
    const path = textOf(firstNs(k, WA_NS, 'Path'));
    if (path === undefined) throw new OvfEnvError('Key pair path is missing', 'KeyPair/Path');
    const fp = textOf(firstNs(k, WA_NS, 'Fingerprint'));
    if (fp === undefined) throw new OvfEnvError('Key pair fingerprint is missing', 'KeyPair/Fingerprint');
    return {
      path,
      resolvedPath: resolveKeyPath(path, username, homeDir, 'KeyPair/Path'),
      fingerprint: checkFingerprint(fp, 'KeyPair/Fingerprint'),
    };
  });

  const customData = textOf(firstNs(set, WA_NS, 'CustomData'));
  if (customData !== undefined) decodeCustomData(customData); // refuse bad base64 up front

  const platform = required(root, WA_NS, 'PlatformSettingsSection');
  const settings = required(platform, WA_NS, 'PlatformSettings');
  const pga = requiredText(settings, WA_NS, 'ProvisionGuestAgent');
  // cloud-init spells it PreprovisionedVMType, azure-init PreprovisionedVmType: accept both.
  const ppsType = settings.children.find((c) => c.ns === WA_NS && c.local.toLowerCase() === 'preprovisionedvmtype');

  const ovf: OvfEnv = {
    version,
    hostname,
    username,
    disableSshPasswordAuthentication: isText(textOf(firstNs(set, WA_NS, 'DisableSshPasswordAuthentication')), 'true'),
    publicKeys,
    keyPairs,
    provisionGuestAgent: !isText(pga, 'false'),
    provisionGuestAgentRaw: pga,
    preprovisionedVm: isText(textOf(firstNs(settings, WA_NS, 'PreprovisionedVm')), 'true'),
  };
  if (password !== undefined) ovf.password = password;
  if (customData !== undefined) ovf.customData = customData;
  const t = textOf(ppsType);
  if (t !== undefined) ovf.preprovisionedVmType = t;
  return ovf;
}

// ----------------------------------------------------------------------------------------------
// the saved copy (docs/protocol.md §5.3)

// Any prefix, any attributes, content across lines (upstream's regex is single-line and only matches
// the unprefixed tag, which would leave `<wa:UserPassword>` in the clear).
const PASSWORD_EL_RE = /(<(?:[A-Za-z_][\w.-]*:)?UserPassword(?:\s[^>]*)?>)[\s\S]*?(<\/(?:[A-Za-z_][\w.-]*:)?UserPassword\s*>)/g;

/**
 * The copy saved as Lib.Dir/ovf-env.xml: the document with every UserPassword's content replaced by
 * `*`, giving upstream's `<UserPassword>*</UserPassword>` form (docs/protocol.md Appendix V), so tools that
 * read the copy see the same shape. A BOM is dropped. If the parsed password is passed, any remaining
 * occurrence (e.g. inside an odd CDATA section) is blanked as well: the copy can never carry it.
 */
export function redactedCopy(text: string | Buffer, password?: string): string {
  let s = typeof text === 'string' ? text : text.toString('utf8');
  if (s.charCodeAt(0) === 0xfeff) s = s.slice(1);
  s = s.replace(PASSWORD_EL_RE, '$1*$2');
  if (password) {
    const escaped = password.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
    // Below 4 characters a blind replace could mangle markup; the regex above already covered it.
    for (const p of new Set([password, escaped])) if (p.length >= 4) s = s.split(p).join('*');
  }
  return s;
}
