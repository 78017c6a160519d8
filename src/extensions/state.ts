// What the agent remembers per handler version (docs/extensions.md §3.2, §5.6, §5.7): config/HandlerState,
// config/HandlerStatus, MC config/<ext>.HandlerState. Same names and formats as the Python agent so a VM
// can switch agents with its extensions in place. Every write is atomic; reads never throw on bad content
// (a corrupt file reads as "absent" and is logged), because a bad file must not stop the status report.
import { copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { log, redact } from '../util/logger.ts';
import { type HandlerLayout, type LayoutRoots, HandlerLayout as Layout, listHandlerDirs } from './layout.ts';
import { compareVersions } from './versions.ts';
import { pyDumps, pyFloat } from './pyjson.ts';
import { errorText } from '../util/errors.ts';

export type HandlerState = 'NotInstalled' | 'Installed' | 'Enabled' | 'FailedUpgrade';
const HANDLER_STATES: readonly HandlerState[] = ['NotInstalled', 'Installed', 'Enabled', 'FailedUpgrade'];

export type ExtensionState = 'enabled' | 'disabled';

/** config/HandlerStatus: handler-level status (Ready/NotReady/Unresponsive/heartbeat strings). */
export interface HandlerStatus {
  name: string;
  version: string;
  status: string;
  code: number;
  message: string | null;
  supports_multi_config: boolean;
}

const STATE_FILE_MODE = 0o600;
const DIR_MODE = 0o700;
const MAX_STATE_FILE = 64 * 1024;

function readSmall(path: string): string | null {
  try {
    const st = lstatSync(path);
    if (!st.isFile() || st.size > MAX_STATE_FILE) return null;
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/**
 * A state dir (config/ or status/, 0700) of a handler. A handler dir made here (a handler never installed,
 * e.g. skipped or failed before download) gets 0755, as the extracted ones and the Python agent's.
 */
function ensureStateDir(layout: HandlerLayout, dir: string): void {
  mkdirSync(layout.dir, { recursive: true, mode: 0o755 });
  mkdirSync(dir, { recursive: true, mode: DIR_MODE });
}

function ensureConfigDir(layout: HandlerLayout): void {
  ensureStateDir(layout, layout.configDir);
}

/** Missing or unknown content => NotInstalled (the Python default). */
export function readHandlerState(layout: HandlerLayout): HandlerState {
  const t = readSmall(layout.handlerStatePath)?.trim();
  return t && (HANDLER_STATES as readonly string[]).includes(t) ? (t as HandlerState) : 'NotInstalled';
}

/** Written without a trailing newline, like the Python agent. */
export function writeHandlerState(layout: HandlerLayout, state: HandlerState): void {
  ensureConfigDir(layout);
  writeFileAtomic(layout.handlerStatePath, state, { mode: STATE_FILE_MODE });
}

export function handlerStatusJson(s: HandlerStatus): string {
  return pyDumps({
    name: s.name,
    version: s.version,
    status: s.status,
    code: s.code,
    message: s.message === null ? null : redact(s.message),
    supports_multi_config: s.supports_multi_config,
    extension_status: null,
  });
}

export function writeHandlerStatus(layout: HandlerLayout, s: Omit<HandlerStatus, 'name' | 'version'> & Partial<Pick<HandlerStatus, 'name' | 'version'>>): void {
  ensureConfigDir(layout);
  const full: HandlerStatus = { ...s, name: s.name ?? layout.name, version: s.version ?? layout.version };
  writeFileAtomic(layout.handlerStatusPath, handlerStatusJson(full), { mode: STATE_FILE_MODE });
}

/** null when absent or corrupt (then nothing is reported for the handler, as in the Python agent). */
export function readHandlerStatus(layout: HandlerLayout): HandlerStatus | null {
  const t = readSmall(layout.handlerStatusPath);
  if (t === null) return null;
  try {
    const j = JSON.parse(t) as Record<string, unknown>;
    if (typeof j !== 'object' || j === null || typeof j['status'] !== 'string') throw new Error('no status');
    const code = typeof j['code'] === 'number' ? j['code'] : Number.parseInt(String(j['code'] ?? '-1'), 10);
    return {
      name: typeof j['name'] === 'string' ? j['name'] : layout.name,
      version: typeof j['version'] === 'string' ? j['version'] : layout.version,
      status: j['status'],
      code: Number.isFinite(code) ? code : -1,
      message: typeof j['message'] === 'string' ? j['message'] : null,
      supports_multi_config: j['supports_multi_config'] === true,
    };
  } catch (e) {
    log.warn(`ignoring corrupt ${layout.handlerStatusPath}: ${errorText(e)}`);
    return null;
  }
}

/** MC: a missing file means disabled. */
export function readExtensionState(layout: HandlerLayout, ext: string): ExtensionState {
  const t = readSmall(layout.extensionStatePath(ext))?.trim().toLowerCase();
  return t === 'enabled' ? 'enabled' : 'disabled';
}

export function writeExtensionState(layout: HandlerLayout, ext: string, state: ExtensionState): void {
  ensureConfigDir(layout);
  writeFileAtomic(layout.extensionStatePath(ext), state, { mode: STATE_FILE_MODE });
}

/**
 * MC extension removed by the goal state ("disabled"): delete config/<ext>.*.settings,
 * status/<ext>.*.status and config/<ext>.HandlerState so it is no longer reported.
 */
export function removeExtensionFiles(layout: HandlerLayout, ext: string): void {
  const prefix = `${ext}.`;
  for (const [dir, suffix] of [[layout.configDir, '.settings'], [layout.statusDir, '.status']] as const) {
    let names: string[] = [];
    try { names = readdirSync(dir); } catch { /* missing dir: nothing to remove */ }
    for (const n of names) {
      // Exact shape <ext>.<digits><suffix>: "a.1.settings" must not take "a.b.1.settings" of extension "a.b".
      if (n.startsWith(prefix) && n.endsWith(suffix) && /^\d+$/.test(n.slice(prefix.length, n.length - suffix.length))) {
        rmSync(join(dir, n), { force: true });
      }
    }
  }
  rmSync(layout.extensionStatePath(ext), { force: true });
}

/**
 * The installed version of a handler: the highest `<Name>-<Ver>` dir whose HandlerState is Installed or
 * Enabled (NotInstalled and FailedUpgrade do not count). undefined when none.
 */
export function findInstalledVersion(roots: LayoutRoots, name: string): HandlerLayout | undefined {
  let best: HandlerLayout | undefined;
  for (const d of listHandlerDirs(roots.libDir)) {
    if (d.name !== name) continue;
    const l = new Layout(roots, d.name, d.version);
    const st = readHandlerState(l);
    if (st === 'NotInstalled' || st === 'FailedUpgrade') continue;
    if (!best || compareVersions(l.version, best.version) > 0) best = l;
  }
  return best;
}

/**
 * Upgrade step b (§3.4): copy <old>/mrseq and every regular file of <old>/status/ into the new version,
 * so the new version knows which sequence numbers were already applied.
 */
export function copyStatusFiles(from: HandlerLayout, to: HandlerLayout): void {
  ensureStateDir(to, to.statusDir);
  if (existsSync(from.mrseqPath) && lstatSync(from.mrseqPath).isFile()) copyFileSync(from.mrseqPath, to.mrseqPath);
  let names: string[] = [];
  try { names = readdirSync(from.statusDir); } catch { return; }
  for (const n of names) {
    const src = join(from.statusDir, n);
    try {
      if (lstatSync(src).isFile()) copyFileSync(src, join(to.statusDir, n));
    } catch (e) {
      log.warn(`could not copy ${src} to ${to.statusDir}: ${errorText(e)}`);
    }
  }
}

/** Deletes the handler dir and its package zip; ENOENT races are fine. */
export function removeHandlerFiles(layout: HandlerLayout): void {
  rmSync(layout.zipPath, { force: true });
  rmSync(layout.dir, { recursive: true, force: true });
}

/** UTC timestamp as the Python agent's %Y-%m-%dT%H:%M:%SZ. */
export function utcSeconds(d = new Date()): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * The agent-written error status file of §5.7 (MC handler-level errors, dependency skips, disallowed
 * extensions). With overwrite=false an existing file (the extension's own status) is kept.
 */
export function writePlaceholderStatus(
  layout: HandlerLayout,
  seq: number,
  opts: { ext?: string; operation: string | null; code: number; message: string; overwrite: boolean; now?: Date },
): void {
  const path = layout.statusPath(seq, opts.ext);
  if (!opts.overwrite && existsSync(path)) return;
  ensureStateDir(layout, layout.statusDir);
  const body = pyDumps([{
    version: pyFloat(1.0),
    timestampUTC: utcSeconds(opts.now),
    status: {
      name: opts.ext === undefined ? layout.name : `${layout.name}.${opts.ext}`,
      operation: opts.operation,
      status: 'error',
      code: opts.code,
      formattedMessage: { lang: 'en-US', message: redact(opts.message) },
    },
  }]);
  writeFileAtomic(path, body, { mode: 0o644 });
}
