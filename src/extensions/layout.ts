// Where a handler's files live (docs/extensions.md §1.1). The layout must stay exactly the Python agent's:
// extensions find their certificates at configFolder/../../<thumb>.crt, so the handler dir is a direct
// child of Lib.Dir, and the names below are what extensions and tools read.
import { readdirSync } from 'node:fs';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import { isVersion } from './versions.ts';
import { AgentError } from '../util/errors.ts';

export const DEFAULT_LIB_DIR = '/var/lib/waagent';
export const DEFAULT_EXT_LOG_DIR = '/var/log/azure';

export class LayoutError extends AgentError {
  static override readonly errorName: string = 'LayoutError';
}

// Names come from the goal state and become path components: refuse anything that could climb out of
// Lib.Dir or hide (separators, NUL/control characters, leading dots). Real names are Publisher.Type.
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+ -]{0,254}$/;

export function checkHandlerName(name: string): string {
  if (!SAFE_NAME.test(name) || name.endsWith('.')) throw new LayoutError(`invalid handler name: ${JSON.stringify(name.slice(0, 300))}`);
  return name;
}

export function checkExtensionName(name: string): string {
  if (!SAFE_NAME.test(name) || name.endsWith('.')) throw new LayoutError(`invalid extension name: ${JSON.stringify(name.slice(0, 300))}`);
  return name;
}

export function checkVersion(version: string): string {
  if (!isVersion(version)) throw new LayoutError(`invalid handler version: ${JSON.stringify(version.slice(0, 100))}`);
  return version;
}

export interface LayoutRoots {
  /** Lib.Dir (default /var/lib/waagent). */
  libDir: string;
  /** Extension.LogDir (default /var/log/azure). */
  extLogDir: string;
}

/** Paths of one handler version `<Name>-<Version>`. Pure: nothing here touches the disk. */
export class HandlerLayout {
  readonly roots: LayoutRoots;
  readonly name: string;
  readonly version: string;
  /** `<Lib.Dir>/<Name>-<Version>`, and its config and status directories: joined once (the report cycle asks every poll). */
  readonly dir: string;
  readonly configDir: string;
  readonly statusDir: string;
  /** The three files the report cycle stats every poll, joined once. */
  readonly manifestPath: string;
  readonly handlerStatePath: string;
  readonly handlerStatusPath: string;

  constructor(roots: LayoutRoots, name: string, version: string) {
    this.roots = roots;
    this.name = checkHandlerName(name);
    this.version = checkVersion(version);
    this.dir = join(roots.libDir, `${this.name}-${this.version}`);
    this.configDir = join(this.dir, 'config');
    this.statusDir = join(this.dir, 'status');
    this.manifestPath = join(this.dir, 'HandlerManifest.json');
    this.handlerStatePath = join(this.configDir, 'HandlerState');
    this.handlerStatusPath = join(this.configDir, 'HandlerStatus');
  }

  /** `<Name>-<Version>` */
  get fullName(): string { return `${this.name}-${this.version}`; }
  /** Transient download: `<Name>__<Version>.zip` (double underscore). */
  get zipPath(): string { return join(this.roots.libDir, `${this.name}__${this.version}.zip`); }
  get environmentPath(): string { return join(this.dir, 'HandlerEnvironment.json'); }
  get heartbeatPath(): string { return join(this.dir, 'heartbeat.log'); }
  get mrseqPath(): string { return join(this.dir, 'mrseq'); }
  get packageValidatedPath(): string { return join(this.dir, 'package_validated'); }

  /** EXTLOG/<Name>: shared by all versions, kept on uninstall. */
  get logDir(): string { return join(this.roots.extLogDir, this.name); }
  get eventsDir(): string { return join(this.logDir, 'events'); }

  /** CommandExecution.log (single-config, MC handler level) or CommandExecution_<ext>.log (MC). */
  commandLogPath(ext?: string): string {
    return join(this.logDir, ext === undefined ? 'CommandExecution.log' : `CommandExecution_${checkExtensionName(ext)}.log`);
  }

  settingsFileName(seq: number, ext?: string): string {
    return ext === undefined ? `${seq}.settings` : `${checkExtensionName(ext)}.${seq}.settings`;
  }
  settingsPath(seq: number, ext?: string): string { return join(this.configDir, this.settingsFileName(seq, ext)); }

  statusFileName(seq: number, ext?: string): string {
    return ext === undefined ? `${seq}.status` : `${checkExtensionName(ext)}.${seq}.status`;
  }
  /** Concatenated, not joined: statusDir is normal and a checked file name has no separator (asked every poll). */
  statusPath(seq: number, ext?: string): string { return `${this.statusDir}/${this.statusFileName(seq, ext)}`; }

  /** MC only: config/<ext>.HandlerState ("enabled" | "disabled"). */
  extensionStatePath(ext: string): string { return join(this.configDir, `${checkExtensionName(ext)}.HandlerState`); }

  /** The same handler at another version (upgrade/downgrade). */
  withVersion(version: string): HandlerLayout { return new HandlerLayout(this.roots, this.name, version); }
}

/** Splits `<Name>-<Version>` at the LAST dash; null for anything that is not a handler dir name. */
export function parseHandlerDirName(entry: string): { name: string; version: string } | null {
  const m = /^(.+)-(\d+(?:\.\d+)*)$/.exec(entry);
  if (!m) return null;
  const name = m[1]!;
  const version = m[2]!;
  // WALinuxAgent-<x.y.z> are Python agent self-update dirs: never ours to touch.
  if (name === 'WALinuxAgent' || !isVersion(version)) return null;
  if (!SAFE_NAME.test(name) || name.endsWith('.')) return null;
  return { name, version };
}

/** Handler directories present in Lib.Dir (skips history, events, WALinuxAgent-*, files). */
export function listHandlerDirs(libDir: string): { name: string; version: string; dirName: string }[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(libDir, { withFileTypes: true });
  } catch {
    return [];
  }
  const out: { name: string; version: string; dirName: string }[] = [];
  for (const e of entries) {
    if (!e.isDirectory()) continue;
    const p = parseHandlerDirName(e.name);
    if (p) out.push({ ...p, dirName: e.name });
  }
  return out.sort((a, b) => (a.dirName < b.dirName ? -1 : a.dirName > b.dirName ? 1 : 0));
}
