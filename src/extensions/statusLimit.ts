// The status blob's size limit (docs/extensions.md §5.4.1). The Python agent caps each extension's status
// file (128 KiB, statusFile.ts) but never the aggregate: 50 handlers with maximal status files make a blob of
// 6.5 MB (39 MB when the text is non-ASCII, escaped \uXXXX). We keep the blob within MAX_STATUS_BLOB_BYTES,
// 4 MiB: Azure Storage's limit for one Put Page write, so a page blob always goes up in one write on either
// channel and a block blob in one PUT. Rule, in order, each step only if the one before does not fit:
//   A. texts (handler message, extension message, substatus name and message) longer than a cap C are cut to C
//      bytes (as serialised) + " ... [TRUNCATED]"; C is the largest value that fits, never below TEXT_FLOOR;
//   B. texts at TEXT_FLOOR, each extension keeps its first K substatus items, K the largest that fits; the
//      extension's message says how many were omitted;
//   C. no substatus at all, texts cut to the largest C >= 0 that fits.
// Every handler entry stays, with its status, code and sequence number; the JSON is rebuilt, never cut.
// Cost: nothing below the limit (one length comparison by the caller); above it, O(size) per step.
import { pyDumps } from './pyjson.ts';
import { TRUNCATED_SUFFIX } from './statusFile.ts';

export const MAX_STATUS_BLOB_BYTES = 4 * 1024 * 1024;
/** Step A stops here: 1024 is the message length the portal shows (the Python agent's own message cap). */
export const TEXT_FLOOR = 1024;
/** Room reserved per extension for the omitted-substatus note. */
const NOTE_ROOM = 96;

type Obj = Record<string, unknown>;

/** Any character pyDumps writes as more than itself (control characters, quote, backslash, >= U+007F). */
const ESCAPED = /[^\x20\x21\x23-\x5b\x5d-\x7e]/;

/** Bytes of `s` inside pyDumps' quotes (ASCII-escaped: control characters, quote, backslash, >= U+007F). */
export function escapedLength(s: string): number {
  if (!ESCAPED.test(s)) return s.length; // the common case, scanned natively
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x7f) n += c === 0x22 || c === 0x5c ? 2 : 1;
    else if (c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d) n += 2;
    else n += 6;
  }
  return n;
}

/** `s` cut so that its serialised form is at most `cap` bytes, plus the suffix; never splits a surrogate pair. */
export function cutText(s: string, cap: number): string {
  if (!ESCAPED.test(s.slice(0, cap))) return s.slice(0, cap) + TRUNCATED_SUFFIX; // plain text: one byte each
  let n = 0;
  let i = 0;
  for (; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const w = c >= 0x20 && c < 0x7f ? (c === 0x22 || c === 0x5c ? 2 : 1) : c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6;
    if (n + w > cap) break;
    n += w;
  }
  if (i > 0 && i < s.length) {
    const hi = s.charCodeAt(i - 1);
    const lo = s.charCodeAt(i);
    if (hi >= 0xd800 && hi <= 0xdbff && lo >= 0xdc00 && lo <= 0xdfff) i--;
  }
  return s.slice(0, i) + TRUNCATED_SUFFIX;
}

/** One cuttable text: holder[key] is a string. */
interface Slot { holder: Obj; key: string; len: number }

function obj(v: unknown): Obj | null {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? v as Obj : null;
}

/** The settingsStatus.status object of each handler entry that has one. */
function extensionStatuses(doc: Obj): Obj[] {
  const out: Obj[] = [];
  for (const e of entries(doc)) {
    const s = obj(obj(obj(e['runtimeSettingsStatus'])?.['settingsStatus'])?.['status']);
    if (s) out.push(s);
  }
  return out;
}

function entries(doc: Obj): Obj[] {
  const list = obj(doc['aggregateStatus'])?.['handlerAggregateStatus'];
  return Array.isArray(list) ? list.map(obj).filter((x): x is Obj => x !== null) : [];
}

function addSlot(slots: Slot[], holder: Obj | null, key: string): void {
  const v = holder?.[key];
  if (holder && typeof v === 'string') slots.push({ holder, key, len: escapedLength(v) });
}

function textSlots(doc: Obj, withSubstatus: boolean): Slot[] {
  const slots: Slot[] = [];
  for (const e of entries(doc)) addSlot(slots, obj(e['formattedMessage']), 'message');
  for (const s of extensionStatuses(doc)) {
    addSlot(slots, obj(s['formattedMessage']), 'message');
    const subs = s['substatus'];
    if (!withSubstatus || !Array.isArray(subs)) continue;
    for (const x of subs) {
      const o = obj(x);
      addSlot(slots, o, 'name');
      addSlot(slots, obj(o?.['formattedMessage']), 'message');
    }
  }
  return slots;
}

const SUFFIX = TRUNCATED_SUFFIX.length;
/** Serialised bytes of a text of `len` bytes under cap `c` (an upper bound: a cut may end a few bytes short). */
function cost(len: number, c: number): number { return len > c + SUFFIX ? c + SUFFIX : len; }

/** The largest cap in [floor, max length] with fixed + costs <= limit, or null if even `floor` is too much. */
function largestCap(slots: Slot[], fixed: number, limit: number, floor: number): number | null {
  const total = (c: number): number => { let t = fixed; for (const s of slots) t += cost(s.len, c); return t; };
  if (total(floor) > limit) return null;
  let lo = floor;
  let hi = slots.reduce((m, s) => Math.max(m, s.len), floor);
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (total(mid) <= limit) lo = mid; else hi = mid - 1;
  }
  return lo;
}

function applyCap(slots: Slot[], cap: number): void {
  for (const s of slots) if (s.len > cap + SUFFIX) s.holder[s.key] = cutText(s.holder[s.key] as string, cap);
}

export interface FitOutcome {
  text: string;
  /** What was done, for the log: null when the blob was within the limit. */
  summary: string | null;
}

/**
 * Re-serialises `doc` (the aggregate document of `size` bytes, which is over `limit`) within `limit` by the rule
 * above. Mutates `doc` (the caller's freshly built copy). If even step C does not fit (thousands of handler
 * entries), the smallest document is returned as it is: entries are never dropped.
 */
export function fitStatusBlob(doc: Obj, size: number, limit = MAX_STATUS_BLOB_BYTES): FitOutcome {
  // A: cap the texts, longest first.
  let slots = textSlots(doc, true);
  let fixed = size - slots.reduce((t, s) => t + s.len, 0);
  const capA = largestCap(slots, fixed, limit, TEXT_FLOOR);
  if (capA !== null) {
    applyCap(slots, capA);
    return { text: pyDumps(doc), summary: `texts over ${capA} bytes cut` };
  }
  // B: texts at the floor; the first K substatus items of each extension kept.
  applyCap(slots, TEXT_FLOOR);
  let text = pyDumps(doc);
  const exts = extensionStatuses(doc).filter((s) => Array.isArray(s['substatus']) && (s['substatus'] as unknown[]).length > 0);
  const itemBytes = exts.map((s) => (s['substatus'] as unknown[]).map((x) => pyDumps(x).length + 2));
  const sizeWith = (k: number): number => {
    let t = text.length;
    itemBytes.forEach((items) => {
      if (items.length <= k) return;
      for (let j = k; j < items.length; j++) t -= items[j]!;
      t += NOTE_ROOM;
    });
    return t;
  };
  const maxItems = itemBytes.reduce((m, l) => Math.max(m, l.length), 0);
  let k = -1;
  if (sizeWith(0) <= limit) {
    let lo = 0;
    let hi = maxItems;
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (sizeWith(mid) <= limit) lo = mid; else hi = mid - 1;
    }
    k = lo;
  }
  const keep = Math.max(k, 0);
  for (const s of exts) {
    const subs = s['substatus'] as unknown[];
    if (subs.length <= keep) continue;
    const note = `[status blob over ${limit} bytes: ${subs.length - keep} of ${subs.length} substatus items omitted by the agent]`;
    if (keep === 0) delete s['substatus']; else s['substatus'] = subs.slice(0, keep);
    const fm = obj(s['formattedMessage']);
    if (fm) fm['message'] = typeof fm['message'] === 'string' ? `${fm['message']} ${note}` : note;
  }
  if (k >= 0) return { text: pyDumps(doc), summary: `texts over ${TEXT_FLOOR} bytes cut, at most ${keep} substatus items per extension` };
  // C: no substatus; texts (notes included) cut to the largest cap >= 0 that fits.
  text = pyDumps(doc);
  slots = textSlots(doc, false);
  fixed = text.length - slots.reduce((t, s) => t + s.len, 0);
  const capC = largestCap(slots, fixed, limit, 0);
  applyCap(slots, capC ?? 0);
  text = pyDumps(doc);
  const over = text.length > limit ? `; still ${text.length} bytes: ${entries(doc).length} handler entries are kept regardless` : '';
  return { text, summary: `no substatus, texts over ${capC ?? 0} bytes cut${over}` };
}
