// Extension Telemetry Pipeline (docs/extensions.md §6.7): events extensions drop as EXTLOG/<H>/events/<n>.json
// become GuestAgentGenericLogs telemetry events. Bounded: files over 4 MiB are skipped, at most 360 events
// per handler per run, every file is deleted once read and the events dir emptied, so a chatty or broken
// extension can never fill the disk. Invalid events are dropped and counted by reason.
import { closeSync, fstatSync, openSync, readdirSync, rmSync, constants } from 'node:fs';
import type { Dirent } from 'node:fs';
import { join } from 'node:path';
import type { TelemetryEvent } from '../platform/telemetry.ts';
import { log, redact } from '../util/logger.ts';
import { readFully } from '../util/fsread.ts';
import { AgentError, errorText } from '../util/errors.ts';

export const GENERIC_LOGS_PROVIDER = 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F';
export const GENERIC_LOGS_EVENT_ID = 7;
export const MAX_EVENTS_PER_HANDLER = 360;
export const MAX_EVENT_FILE_BYTES = 4 * 1024 * 1024;
export const MAX_MESSAGE_LENGTH = 3072;
export const MAX_EVENT_SIZE = 6144;

const REQUIRED = ['version', 'timestamp', 'taskname', 'eventlevel', 'message', 'eventpid', 'eventtid', 'operationid'] as const;
type Required = (typeof REQUIRED)[number];

export interface ExtensionEvent {
  handler: string;
  /** The event file's mtime (ISO): the sender's OpcodeName/timestamp common parameter. */
  fileTime: string;
  /** Only the GuestAgentGenericLogs fields; the sender adds the agent's common parameters. */
  event: TelemetryEvent;
}

export interface CollectResult {
  events: ExtensionEvent[];
  /** Per handler: dropped events counted by reason. */
  dropped: Record<string, Record<string, number>>;
}

class InvalidEvent extends AgentError {
  static override readonly errorName: string = 'InvalidEvent';
  readonly reason: string;
  constructor(reason: string, detail: string) {
    super(`${reason}: ${detail}`);
    this.reason = reason;
  }
}

/** Validates one event (keys case-insensitive) and returns its normalised fields. */
export function normaliseEvent(raw: unknown): Record<Required, string> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new InvalidEvent('MissingKeyError', 'event is not an object');
  const lower = new Map<string, unknown>();
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) lower.set(k.toLowerCase(), v);
  const out = {} as Record<Required, string>;
  let size = 0;
  for (const key of REQUIRED) {
    if (!lower.has(key)) throw new InvalidEvent('MissingKeyError', `${key} not found`);
    if (size > MAX_EVENT_SIZE) throw new InvalidEvent('OversizeEventError', `max event size allowed: ${MAX_EVENT_SIZE}`);
    const v = lower.get(key);
    let text: string;
    if ((key === 'eventpid' || key === 'eventtid') && typeof v === 'number' && Number.isInteger(v)) text = String(v);
    else if (typeof v === 'string') text = redact(v.trim());
    else throw new InvalidEvent('MissingKeyError', `${key} is not a string`);
    if (key === 'message') {
      if (text === '') throw new InvalidEvent('EmptyMessageError', 'message is empty');
      if (text.length > MAX_MESSAGE_LENGTH) text = text.slice(0, MAX_MESSAGE_LENGTH);
    }
    size += text.length;
    out[key] = text;
  }
  if (size > MAX_EVENT_SIZE) throw new InvalidEvent('OversizeEventError', `max event size allowed: ${MAX_EVENT_SIZE}`);
  return out;
}

export function toTelemetryEvent(handler: string, e: Record<Required, string>): TelemetryEvent {
  return {
    providerId: GENERIC_LOGS_PROVIDER,
    eventId: GENERIC_LOGS_EVENT_ID,
    params: [
      { name: 'EventName', value: `${handler}-${e.version}` },
      { name: 'CapabilityUsed', value: e.eventlevel },
      { name: 'TaskName', value: e.taskname },
      { name: 'Context1', value: e.message },
      { name: 'Context2', value: e.timestamp },
      { name: 'Context3', value: e.operationid },
      { name: 'EventPid', value: e.eventpid },
      { name: 'EventTid', value: e.eventtid },
    ],
  };
}

function readFileCapped(path: string, max: number): { text: string | null; size: number; mtime: Date } {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size > max) return { text: null, size: st.size, mtime: st.mtime };
    const buf = readFully(fd, st.size);
    return { text: buf.toString('utf8'), size: st.size, mtime: st.mtime };
  } finally {
    closeSync(fd);
  }
}

export interface CollectOptions {
  maxPerHandler?: number;
  maxFileBytes?: number;
}

/** One collection run over EXTLOG/<H>/events/ for every handler (newest files first). */
export function collectExtensionEvents(extLogDir: string, opts: CollectOptions = {}): CollectResult {
  const maxPer = opts.maxPerHandler ?? MAX_EVENTS_PER_HANDLER;
  const maxBytes = opts.maxFileBytes ?? MAX_EVENT_FILE_BYTES;
  const result: CollectResult = { events: [], dropped: {} };
  let handlers: Dirent[] = [];
  try { handlers = readdirSync(extLogDir, { withFileTypes: true }); } catch { return result; }
  for (const hd of handlers) {
    if (!hd.isDirectory() || !/^[^-]/.test(hd.name)) continue;
    const dir = join(extLogDir, hd.name, 'events');
    let files: string[];
    try { files = readdirSync(dir); } catch { continue; }
    const dropped: Record<string, number> = {};
    const drop = (reason: string) => { dropped[reason] = (dropped[reason] ?? 0) + 1; };
    let taken = 0;
    let capped = false;
    for (const f of files.filter((n) => /^\d+\.json$/.test(n)).sort().reverse()) {
      const p = join(dir, f);
      try {
        if (capped) continue;
        const { text, size, mtime } = readFileCapped(p, maxBytes);
        if (text === null) {
          log.warn(`Skipping event file ${p}: ${size} bytes exceeds the limit ${maxBytes}`);
          continue;
        }
        let parsed: unknown;
        try { parsed = JSON.parse(text); } catch { drop('InvalidJson'); continue; }
        for (const raw of Array.isArray(parsed) ? parsed : [parsed]) {
          if (taken >= maxPer) {
            capped = true;
            log.warn(`Reached max count for the extension: ${hd.name}; Max Limit: ${maxPer}. Skipping the rest.`);
            break;
          }
          try {
            result.events.push({ handler: hd.name, fileTime: mtime.toISOString(), event: toTelemetryEvent(hd.name, normaliseEvent(raw)) });
            taken++;
          } catch (e) {
            if (e instanceof InvalidEvent) drop(e.reason);
            else throw e;
          }
        }
      } catch (e) {
        log.warn(`Reading event file ${p}: ${errorText(e)}`);
      } finally {
        rmSync(p, { force: true });
      }
    }
    // Whatever is left (other names, unread files after the cap) goes too: the directory never grows.
    for (const f of readdirSafe(dir)) rmSync(join(dir, f), { recursive: true, force: true });
    if (Object.keys(dropped).length > 0) {
      result.dropped[hd.name] = dropped;
      log.warn(`Dropped events for Extension: ${hd.name}; Details:\n${Object.entries(dropped).map(([r, n]) => `Reason: ${r}; Dropped Count: ${n}`).join('\n')}`);
    }
  }
  return result;
}

function readdirSafe(dir: string): string[] {
  try { return readdirSync(dir); } catch { return []; }
}
