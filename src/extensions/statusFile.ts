// Reading what an extension reports (docs/extensions.md §5.1–5.2) and its heartbeat (§3.7). Whatever the
// extension wrote — nothing, garbage, a 10 MB file, unknown values — becomes a well-formed status with the
// Python agent's codes and messages; nothing here throws on bad content.
import { closeSync, fstatSync, openSync, statSync, constants } from 'node:fs';
import { ErrorCodes, ExtensionError } from './errors.ts';
import type { HandlerLayout } from './layout.ts';
import type { HandlerStatus } from './state.ts';
import { readFully } from '../util/fsread.ts';
import { delay as sleep } from '../util/builtins.ts';
import { AgentError, errorText } from '../util/errors.ts';

export const VALID_STATUSES = ['transitioning', 'warning', 'error', 'success'] as const;
export type ExtStatusValue = (typeof VALID_STATUSES)[number];
export const TERMINAL_STATUSES: readonly string[] = ['error', 'success'];

/** §5.2 limits. */
export const MAX_STATUS_FILE_CHARS = 128 * 1024;
export const MAX_STATUS_MESSAGE_LENGTH = 1024;
export const MAX_SUBSTATUS_FIELD_LENGTH = 10 * 1024;
export const TRUNCATED_SUFFIX = ' ... [TRUNCATED]';
/** We never read more than this of a status file (the Python agent reads it whole). */
export const MAX_STATUS_FILE_READ = 4 * 1024 * 1024;

export interface SubStatus {
  name: unknown;
  status: string;
  code: unknown;
  message: string | null;
}

export interface ExtensionStatus {
  /** Goal-state name: the handler name (single-config) or the extension name (multi-config). */
  name: string;
  sequenceNumber: number;
  /** null only when the file held an empty array (every field stays null, as in the Python agent). */
  status: string | null;
  /** Passed through unmodified (may be a string such as "0"). */
  code: unknown;
  message: string | null;
  operation: unknown;
  configurationAppliedTime: unknown;
  substatus: SubStatus[];
}

export interface StatusContext {
  handlerName: string;
  handlerVersion: string;
  /** MC extension name; undefined for single-config. */
  ext?: string;
  /** Goal-state name of the item (handler name for SC, ext name for MC). */
  name: string;
  seq: number;
}

/** `<H>` or `<H>.<ext>` */
function extFullName(c: StatusContext): string { return c.ext === undefined ? c.handlerName : `${c.handlerName}.${c.ext}`; }
/** `<H>-<V>` or `<H>.<ext>-<V>` */
function fullName(c: StatusContext): string { return `${extFullName(c)}-${c.handlerVersion}`; }

class StatusFileMalformed extends AgentError { static override readonly errorName: string = 'StatusFileMalformed'; }

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function requireKey(obj: unknown, key: string, node: string): unknown {
  if (!isObject(obj) || !(key in obj)) throw new StatusFileMalformed(`Invalid status format by extension: Missing ${node} key`);
  return obj[key];
}

function formattedMessage(fm: unknown, node: string): string | null {
  if (fm === null || fm === undefined) return null;
  requireKey(fm, 'lang', `${node}/lang`);
  const m = requireKey(fm, 'message', `${node}/message`);
  return m === null || m === undefined ? null : typeof m === 'string' ? m : JSON.stringify(m);
}

function truncate(field: string | null, size: number): [string | null, number] {
  if (field === null) return [null, 0];
  const t = field.length < size ? field : field.slice(0, size) + TRUNCATED_SUFFIX;
  return [t, t.length];
}

/** parse_ext_status: the status object from the file's parsed JSON. Throws StatusFileMalformed. */
function parseParsed(data: unknown, st: ExtensionStatus): void {
  if (data === null) return;
  if (!Array.isArray(data)) throw new StatusFileMalformed(`The extension status must be an array: ${JSON.stringify(data).slice(0, 4096)}`);
  if (data.length === 0) return;
  const first = data[0];
  const s = requireKey(first, 'status', 'status');
  const value = requireKey(s, 'status', 'status/status');
  const sd = s as Record<string, unknown>;
  st.status = typeof value === 'string' && (VALID_STATUSES as readonly string[]).includes(value) ? value : 'error';
  st.configurationAppliedTime = sd['configurationAppliedTime'] ?? null;
  st.operation = sd['operation'] ?? null;
  st.code = 'code' in sd ? sd['code'] : 0;
  st.message = formattedMessage(sd['formattedMessage'], 'formattedMessage');
  const list = sd['substatus'];
  if (list === null || list === undefined) return;
  if (!Array.isArray(list)) throw new StatusFileMalformed('Invalid status format by extension: substatus is not a list');
  for (const sub of list) {
    if (sub === null) continue;
    const sv = requireKey(sub, 'status', 'substatus/status');
    if (typeof sv !== 'string' || !(VALID_STATUSES as readonly string[]).includes(sv)) {
      throw new StatusFileMalformed(`Invalid value ${JSON.stringify(sv)} in range [${VALID_STATUSES.map((x) => `'${x}'`).join(', ')}] at the node substatus/status`);
    }
    const so = sub as Record<string, unknown>;
    st.substatus.push({ name: so['name'] ?? null, status: sv, code: 'code' in so ? so['code'] : 0, message: formattedMessage(so['formattedMessage'], 'formattedMessage') });
  }
}

/** The status for a file's text (already read): JSON errors, schema errors and size limits mapped per §5.2. */
export function statusFromText(text: string, c: StatusContext): ExtensionStatus {
  const st: ExtensionStatus = { name: c.name, sequenceNumber: c.seq, status: null, code: null, message: null, operation: null, configurationAppliedTime: null, substatus: [] };
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    st.status = 'error';
    st.code = ErrorCodes.PluginSettingsStatusInvalid;
    // WALinuxAgent 2.15's text: its ExtensionStatusError adds the class prefix and the inner error (the JSON
    // parser's own words necessarily differ from Python's).
    const why = errorText(e);
    st.message = `The status reported by the extension ${fullName(c)}(Sequence number ${c.seq}), was in an incorrect format and the agent could not parse it correctly. `
      + `Failed due to [ExtensionStatusError] ${why} \n First 2000 Bytes of status file:\n ${text.slice(0, 2000)}\nInner error: ${why}`;
    return st;
  }
  try {
    parseParsed(data, st);
  } catch (e) {
    if (!(e instanceof StatusFileMalformed)) throw e;
    return { ...st, status: 'error', code: ErrorCodes.PluginSettingsStatusInvalid, operation: null, configurationAppliedTime: null, substatus: [],
      message: `Could not get a valid status from the extension ${fullName(c)}. Encountered the following error: [ExtensionStatusError] ${e.message}` };
  }
  if (text.length > MAX_STATUS_FILE_CHARS) {
    const [msg, size] = truncate(st.message, MAX_STATUS_MESSAGE_LENGTH);
    st.message = msg;
    let total = size;
    const kept: SubStatus[] = [];
    for (const sub of st.substatus) {
      const [n, ns] = typeof sub.name === 'string' ? truncate(sub.name, MAX_SUBSTATUS_FIELD_LENGTH) : [sub.name as string | null, 0];
      const [m, ms] = truncate(sub.message, MAX_SUBSTATUS_FIELD_LENGTH);
      total += ns + ms;
      if (total > MAX_STATUS_FILE_CHARS) break;
      kept.push({ ...sub, name: n, message: m });
    }
    st.substatus = kept;
  }
  return st;
}

function readCapped(path: string): string {
  let fd = -1;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    const st = fstatSync(fd);
    if (!st.isFile()) throw new Error(`${path} is not a regular file`);
    if (st.size > MAX_STATUS_FILE_READ) throw new Error(`${path} is ${st.size} bytes, larger than the ${MAX_STATUS_FILE_READ} bytes we read`);
    const buf = readFully(fd, st.size);
    return buf.toString('utf8');
  } finally {
    if (fd >= 0) closeSync(fd);
  }
}

export interface ReadStatusOptions {
  /** Attempts for unreadable/unparseable files (an extension may be mid-write). Default 2. ENOENT is not retried. */
  attempts?: number;
  retryDelayMs?: number;
}

/**
 * Collects the status of one settings item from status/<seq>.status (MC: <ext>.<seq>.status).
 * Returns null when nothing is to be reported (negative seq). Never throws.
 */
export async function collectExtensionStatus(layout: HandlerLayout, c: StatusContext, opts: ReadStatusOptions = {}): Promise<ExtensionStatus | null> {
  if (c.seq < 0) return null;
  const path = layout.statusPath(c.seq, c.ext);
  const attempts = Math.max(1, opts.attempts ?? 2);
  let text: string | undefined;
  let lastErr: NodeJS.ErrnoException | undefined;
  for (let i = 0; i < attempts; i++) {
    if (i > 0) await sleep(opts.retryDelayMs ?? 1000);
    try {
      text = readCapped(path);
      lastErr = undefined;
    } catch (e) {
      text = undefined;
      lastErr = e as NodeJS.ErrnoException;
      if (lastErr.code === 'ENOENT') break;
      continue;
    }
    try {
      JSON.parse(text);
      break;
    } catch { /* maybe caught mid-write: try again, then map the parse error below */ }
  }
  if (text === undefined) {
    const base = { name: c.name, sequenceNumber: c.seq, operation: null, configurationAppliedTime: null, substatus: [] };
    if (lastErr?.code === 'ENOENT') {
      // WALinuxAgent 2.15's text (its ExtensionStatusError for a missing file), checked in the peer e2e test.
      return { ...base, status: 'transitioning', code: ErrorCodes.Success,
        message: `This status is being reported by the Guest Agent since no status file was reported by extension ${extFullName(c)}: [ExtensionStatusError] Status file ${path} does not exist` };
    }
    const why = lastErr?.message ?? 'unknown error';
    return { ...base, status: 'error', code: ErrorCodes.Unknown,
      message: `We couldn't read any status for ${fullName(c)} extension, for the sequence number ${c.seq}. It failed due to [ExtensionStatusError] ${why}\nInner error: ${why}` };
  }
  return statusFromText(text, c);
}

/**
 * The status used while waiting for a dependency (§6.1): a missing file counts as "warning" (not
 * terminal); otherwise the collected status. null when there is nothing to wait for.
 */
export async function handlingStatus(layout: HandlerLayout, c: StatusContext, opts: ReadStatusOptions = {}): Promise<string | null> {
  if (c.seq < 0) return null;
  try {
    statSync(layout.statusPath(c.seq, c.ext));
  } catch {
    return 'warning';
  }
  return (await collectExtensionStatus(layout, c, opts))?.status ?? null;
}

// ---------------------------------------------------------------------------------------------------
// Heartbeat (§3.7)

export const HEARTBEAT_STALE_SECONDS = 600;

/**
 * Overlays the heartbeat on a handler status (only call when the manifest has reportHeartbeat and the
 * HandlerState is not NotInstalled). Returns the status to report AND persist.
 */
export function applyHeartbeat(hs: HandlerStatus, layout: HandlerLayout, now = Date.now()): HandlerStatus {
  return readHeartbeat(hs, layout, now).status;
}

/**
 * The heartbeat overlay and whether reading the heartbeat failed. Like the Python agent, only a failure is
 * persisted as the handler status (NotReady with the error); a good or unresponsive heartbeat changes the
 * report only, never config/HandlerStatus.
 */
export function readHeartbeat(hs: HandlerStatus, layout: HandlerLayout, now = Date.now()): { status: HandlerStatus; failed: boolean } {
  const fail = (e: ExtensionError) => ({ status: { ...hs, status: 'NotReady', code: e.code, message: e.describe() }, failed: true });
  const ok = (status: HandlerStatus) => ({ status, failed: false });
  let mtimeMs: number;
  try {
    const st = statSync(layout.heartbeatPath);
    if (!st.isFile()) throw new Error('not a file');
    mtimeMs = st.mtimeMs;
  } catch {
    return fail(new ExtensionError('Failed to get heart beat file'));
  }
  if (Math.trunc((now - mtimeMs) / 1000) > HEARTBEAT_STALE_SECONDS) return ok({ ...hs, status: 'Unresponsive' });
  let hb: unknown;
  try {
    const parsed = JSON.parse(readCapped(layout.heartbeatPath)) as unknown;
    hb = Array.isArray(parsed) && isObject(parsed[0]) ? parsed[0]['heartbeat'] : undefined;
    if (!isObject(hb)) throw new Error("missing [0]['heartbeat']");
  } catch (e) {
    return fail(new ExtensionError(`Malformed heartbeat file: ${errorText(e)}`));
  }
  const out: HandlerStatus = { ...hs };
  const s = hb['status'];
  if (typeof s === 'string' && s.length > 0) out.status = s.slice(0, 64);
  if ('formattedMessage' in hb) {
    try {
      out.message = formattedMessage(hb['formattedMessage'], 'formattedMessage');
    } catch (e) {
      return fail(new ExtensionError(`Malformed heartbeat file: ${errorText(e)}`));
    }
  }
  return ok(out);
}
