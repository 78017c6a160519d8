// HandlerManifest.json (docs/extensions.md §2): found anywhere in the package, BOM stripped, only element [0]
// used. Parsing is strict about types where a wrong type would make us run the wrong thing (commands),
// and lenient where the Python agent is lenient (booleans default to false, unknown keys ignored).
import { closeSync, fstatSync, openSync, readSync, readdirSync, constants } from 'node:fs';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { ErrorCodes, ExtensionError } from './errors.ts';
import { errorText } from '../util/errors.ts';

export type Operation = 'install' | 'uninstall' | 'update' | 'enable' | 'disable';
export const OPERATIONS: readonly Operation[] = ['install', 'uninstall', 'update', 'enable', 'disable'];

export interface ResourceLimits {
  cpuQuotaPercentage?: number;
  memoryQuotaInMB?: number;
  services: { name: string; cpuQuotaPercentage?: number }[];
}

/** HandlerManifest signingInfo; an attribute the manifest lacks is undefined (non-strings are stringified). */
export interface SigningInfo {
  type?: string;
  publisher?: string;
  version?: string;
}

export interface HandlerManifest {
  /** Command lines by operation, relative to the handler dir; absent when the manifest lacks them. */
  commands: Partial<Record<Operation, string>>;
  reportHeartbeat: boolean;
  /** updateMode missing or "UpdateWithInstall" (any case) => true. */
  updateWithInstall: boolean;
  continueOnUpdateFailure: boolean;
  supportsMultipleExtensions: boolean;
  resourceLimits: ResourceLimits;
  signingInfo?: SigningInfo;
  /** One line per boolean key that had a non-boolean value (the Python agent sends them as events). */
  warnings: string[];
}

/** Largest manifest we read: real ones are < 2 KiB. */
export const MAX_MANIFEST_BYTES = 256 * 1024;

const BOOL_KEYS = ['reportHeartbeat', 'continueOnUpdateFailure', 'supportsMultipleExtensions'] as const;

function malformed(source: string, why: string): ExtensionError {
  return new ExtensionError(`Malformed manifest file (${source}): ${why}`, ErrorCodes.PluginHandlerManifestDeserializationError);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** JSON bool as is; the string "true" in any case => true; anything else => false (with a warning). */
function readBool(obj: Record<string, unknown>, key: string, warnings: string[]): boolean {
  const v = obj[key];
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  warnings.push(`In the handler manifest: '${key}' has a non-boolean value [${typeof v === 'string' ? v : JSON.stringify(v)}] for boolean type. Please change it to a boolean value.`);
  return typeof v === 'string' && v.toLowerCase() === 'true';
}

function readQuota(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined;
}

export function parseHandlerManifest(input: string | Buffer, source: string): HandlerManifest {
  let text = typeof input === 'string' ? input : input.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw malformed(source, errorText(e));
  }
  const first = Array.isArray(data) ? data[0] : undefined;
  if (!isObject(first)) throw malformed(source, 'expected a JSON array whose first element is an object');
  const hm = first['handlerManifest'];
  if (!isObject(hm)) throw malformed(source, "'handlerManifest' is missing or not an object");

  const commands: Partial<Record<Operation, string>> = {};
  for (const op of OPERATIONS) {
    const key = `${op}Command`;
    const v = hm[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v.trim() === '') throw malformed(source, `'handlerManifest.${key}' must be a non-empty string`);
    if (v.includes('\0')) throw malformed(source, `'handlerManifest.${key}' contains a NUL character`);
    commands[op] = v;
  }

  const warnings: string[] = [];
  const [reportHeartbeat, continueOnUpdateFailure, supportsMultipleExtensions] = BOOL_KEYS.map((k) => readBool(hm, k, warnings)) as [boolean, boolean, boolean];

  const updateMode = hm['updateMode'];
  const updateWithInstall = updateMode === undefined || updateMode === null
    ? true
    : typeof updateMode === 'string' && updateMode.toLowerCase() === 'updatewithinstall';

  const rl = isObject(first['resourceLimits']) ? first['resourceLimits'] : {};
  const services: ResourceLimits['services'] = [];
  if (Array.isArray(rl['services'])) {
    for (const s of rl['services'].slice(0, 64)) {
      if (isObject(s) && typeof s['name'] === 'string' && s['name'] !== '') {
        services.push({ name: s['name'], cpuQuotaPercentage: readQuota(s['cpuQuotaPercentage']) });
      }
    }
  }
  const resourceLimits: ResourceLimits = {
    cpuQuotaPercentage: readQuota(rl['cpuQuotaPercentage']),
    memoryQuotaInMB: readQuota(rl['memoryQuotaInMB']),
    services,
  };

  let signingInfo: SigningInfo | undefined;
  const si = first['signingInfo'];
  if (isObject(si)) {
    const attr = (v: unknown) => (v === undefined || v === null ? undefined : typeof v === 'string' ? v : JSON.stringify(v));
    signingInfo = { type: attr(si['type']), publisher: attr(si['publisher']), version: attr(si['version']) };
  }

  return { commands, reportHeartbeat, updateWithInstall, continueOnUpdateFailure, supportsMultipleExtensions, resourceLimits, signingInfo, warnings };
}

/** Reads and parses a manifest file: unreadable => code 1002, malformed => code 1003. */
export function loadHandlerManifest(path: string): HandlerManifest {
  let buf: Buffer;
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    const size = fstatSync(fd).size;
    if (size > MAX_MANIFEST_BYTES) throw new Error(`file is ${size} bytes, limit ${MAX_MANIFEST_BYTES}`);
    buf = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    buf = buf.subarray(0, off);
  } catch (e) {
    throw new ExtensionError(`Failed to load manifest file (${path}): ${errorText(e)}`, ErrorCodes.PluginHandlerManifestNotFound);
  } finally {
    if (fd >= 0) closeSync(fd);
  }
  return parseHandlerManifest(buf, path);
}

/** The command line for an operation, or an error with code -1 (what Python's KeyError became). */
export function manifestCommand(m: HandlerManifest, op: Operation): string {
  const c = m.commands[op];
  if (c === undefined) throw new ExtensionError(`HandlerManifest.json has no ${op}Command`, ErrorCodes.Unknown);
  return c;
}

/**
 * Finds the first file named exactly HandlerManifest.json in an extracted package: the root first, then
 * breadth first with names sorted, so the answer is deterministic. Bounded depth and directory count.
 * Returns the host path or null.
 */
export function findHandlerManifest(root: string, maxDepth = 8, maxDirs = 2000): string | null {
  let level = [root];
  let seen = 0;
  for (let depth = 0; depth <= maxDepth && level.length > 0; depth++) {
    const next: string[] = [];
    for (const dir of level) {
      if (++seen > maxDirs) return null;
      let entries: Dirent[];
      try {
        entries = readdirSync(dir, { withFileTypes: true });
      } catch {
        continue;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      const hit = entries.find((e) => e.isFile() && e.name === 'HandlerManifest.json');
      if (hit) return join(dir, hit.name);
      for (const e of entries) if (e.isDirectory()) next.push(join(dir, e.name));
    }
    level = next;
  }
  return null;
}
