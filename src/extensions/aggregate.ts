// The status blob (docs/extensions.md §5.3–5.4, docs/protocol.md §1.13.1): handlerAggregateStatus entries and the
// whole aggregate document, serialised like Python's json.dumps (ASCII-escaped, key order below), because
// CRP has only ever parsed that. We report OUR version and advertise only features we implement (never
// VersioningGovernance: we do not take part in RSM agent updates).
import { AGENT_VERSION } from '../version.ts';
import { log, redact, secretsGeneration } from '../util/logger.ts';
import { PyRaw, pyDumps, pyFloat } from './pyjson.ts';
import { MAX_STATUS_BLOB_BYTES, fitStatusBlob } from './statusLimit.ts';
import type { HandlerStatus } from './state.ts';
import type { ExtensionStatus } from './statusFile.ts';
import { utcSeconds } from './state.ts';

export interface Feature { Key: string; Value: string }

/** Features for CRP (supportedFeatures). FastTrack only when enabled and the HostGAPlugin serves vmSettings. */
export function crpSupportedFeatures(opts: { fastTrack: boolean }): Feature[] {
  const f: Feature[] = [{ Key: 'MultipleExtensionsPerHandler', Value: '1.0' }];
  if (opts.fastTrack) f.push({ Key: 'FastTrack', Value: '1.0' });
  return f;
}

/** Names accepted in RequiredFeatures: a goal state requiring anything else fails with 2001. */
export const SUPPORTED_REQUIRED_FEATURES: readonly string[] = ['MultipleExtensionsPerHandler'];

/** Every message CRP shows passes through SAS redaction (and our registered secrets). */
function fm(message: string): { lang: string; message: string } {
  return { lang: 'en-US', message: redact(message) };
}

export interface HandlerReport {
  handler: HandlerStatus;
  /** The item's collected extension status; undefined/null => no runtimeSettingsStatus. */
  extension?: ExtensionStatus | null;
  /** MC handler: runtimeSettingsStatus gets extensionName. */
  isMultiConfig?: boolean;
}

/**
 * The serialised `status` of an extension status, kept per ExtensionStatus object: the report cycle reuses the
 * object while its status file is unchanged (util/filecache.ts), so an idle poll neither redacts nor serialises
 * it again (with 50 handlers that was a third of the poll). Valid for one secrets generation.
 */
const statusTexts = new WeakMap<ExtensionStatus, { gen: number; raw: PyRaw }>();

function statusRaw(s: ExtensionStatus): PyRaw {
  const gen = secretsGeneration();
  const hit = statusTexts.get(s);
  if (hit && hit.gen === gen) return hit.raw;
  const raw = new PyRaw(pyDumps(statusObject(s)));
  statusTexts.set(s, { gen, raw });
  return raw;
}

function statusObject(s: ExtensionStatus): Record<string, unknown> {
  const status: Record<string, unknown> = {
    name: s.name,
    configurationAppliedTime: s.configurationAppliedTime ?? null,
    operation: s.operation ?? null,
    status: s.status,
    code: s.code,
    formattedMessage: s.message === null ? { lang: 'en-US', message: null } : fm(s.message),
  };
  if (s.substatus.length > 0) {
    status['substatus'] = s.substatus.map((x) => ({
      name: x.name, status: x.status, code: x.code,
      formattedMessage: x.message === null ? { lang: 'en-US', message: null } : fm(x.message),
    }));
  }
  return status;
}

/** `raw`: the status part as kept serialised text (aggregateStatusJson); without: plain objects (the truncation rule walks them). */
export function extensionStatusObject(s: ExtensionStatus, timestampUTC: string, raw = false): Record<string, unknown> {
  return { status: raw ? statusRaw(s) : statusObject(s), version: pyFloat(1.0), timestampUTC };
}

export function handlerEntry(r: HandlerReport, timestampUTC: string, raw = false): Record<string, unknown> {
  const h = r.handler;
  const e: Record<string, unknown> = {
    handlerVersion: h.version,
    handlerName: h.name,
    status: h.status,
    code: h.code,
    useExactVersion: true,
  };
  if (h.message !== null) e['formattedMessage'] = fm(h.message);
  if (r.extension) {
    const rs: Record<string, unknown> = {
      settingsStatus: extensionStatusObject(r.extension, timestampUTC, raw),
      sequenceNumber: r.extension.sequenceNumber,
    };
    if (r.isMultiConfig) rs['extensionName'] = r.extension.name;
    e['runtimeSettingsStatus'] = rs;
  }
  return e;
}

export interface GoalStateAggregate {
  status: 'Success' | 'Failed';
  /** 0, -1 (unknown failure) or 2001 (unsupported required features). */
  code: number;
  message: string;
  /** Incarnation (ExtensionsConfig) or vmSettings inSvdSeqNo, as a string. */
  inSvdSeqNo: string;
  timestampUTC: string;
}

export interface AggregateInput {
  handlers: HandlerReport[];
  /** Omitted until a goal state has been processed. */
  goalState?: GoalStateAggregate | null;
  guestOS: { computerName: string; osName: string; osVersion: string };
  features: Feature[];
  now?: Date;
  agentVersion?: string;
  /** guestAgentStatus message when something needs the operator (default "Guest Agent is running"). */
  agentMessage?: string;
  /** The blob's size limit in bytes (default MAX_STATUS_BLOB_BYTES; tests use smaller ones). */
  maxBytes?: number;
}

/** `ts`: the document's timestamps (default: `input.now` in whole seconds). */
export function buildAggregateStatus(input: AggregateInput, raw = false, ts = utcSeconds(input.now)): Record<string, unknown> {
  const version = input.agentVersion ?? AGENT_VERSION;
  const agg: Record<string, unknown> = {
    guestAgentStatus: { version, status: 'Ready', formattedMessage: fm(input.agentMessage ?? 'Guest Agent is running') },
    handlerAggregateStatus: input.handlers.map((h) => handlerEntry(h, ts, raw)),
  };
  if (input.goalState) {
    const g = input.goalState;
    agg['vmArtifactsAggregateStatus'] = {
      goalStateAggregateStatus: { formattedMessage: fm(g.message), timestampUTC: g.timestampUTC, inSvdSeqNo: g.inSvdSeqNo, status: g.status, code: g.code },
    };
  }
  const doc: Record<string, unknown> = {
    version: '1.1',
    timestampUTC: ts,
    aggregateStatus: agg,
    guestOSInfo: { computerName: input.guestOS.computerName, osName: input.guestOS.osName, osVersion: input.guestOS.osVersion, version },
  };
  if (input.features.length > 0) doc['supportedFeatures'] = input.features;
  return doc;
}

/** The last truncation logged: one warning when what had to be cut changes, not one per poll. */
let lastFit: string | null = null;

/**
 * The status blob text: pure ASCII, so its length in characters is its length in bytes. Over the limit it is
 * rebuilt by the truncation rule of statusLimit.ts (below it, that costs one comparison).
 */
export function aggregateStatusJson(input: AggregateInput, memo?: StatusTextMemo): string {
  const ts = utcSeconds(input.now);
  const again = memo?.textFor(input, ts);
  if (again !== undefined) return again;
  const text = pyDumps(buildAggregateStatus(input, true, ts));
  const limit = input.maxBytes ?? MAX_STATUS_BLOB_BYTES;
  if (text.length <= limit) {
    lastFit = null;
    memo?.keep(input, text, ts);
    return text;
  }
  memo?.forget();
  const fit = fitStatusBlob(buildAggregateStatus(input), text.length, limit);
  const what = `Status blob of ${input.handlers.length} handler entries is ${text.length} bytes, over the ${limit}-byte limit: ${fit.summary}`;
  const key = `${input.handlers.length}:${fit.summary}`;
  if (key !== lastFit) log.warn(`${what}; uploading ${fit.text.length} bytes`);
  lastFit = key;
  return fit.text;
}

/**
 * The previous status text, kept as the parts between its timestamps, with what it was made of. When the next
 * report's input equals it (the idle poll: no status file changed, same goal state, same secrets), the text is
 * those parts joined with the new timestamp: nothing is built, redacted or serialised again
 * (docs/architecture.md "Idle cost"). A text the size limit cut is never kept.
 */
export class StatusTextMemo {
  /** What the kept text was made of (copied: callers may change their objects later). */
  private made: AggregateInput | null = null;
  private gen = -1;
  private parts: string[] = [];
  /** The last textFor() answered from the kept text: the report's input was the same as the one before. */
  reused = false;

  /** The text for `input` at `ts` when `input` equals what the kept text was made of, else undefined. */
  textFor(input: AggregateInput, ts: string): string | undefined {
    const made = this.made;
    this.reused = made !== null && this.gen === secretsGeneration() && sameInput(made, input);
    return this.reused ? this.parts.join(`"${ts}"`) : undefined;
  }

  /** Keeps `text`, built from `input` with the timestamp `ts`, for the next reports. */
  keep(input: AggregateInput, text: string, ts: string): void {
    // The timestamp is written `"<ts>"` once for the document and once per extension status. Other text equal
    // to it (an extension's message that is exactly the timestamp) would be taken for one: then nothing is kept.
    const parts = text.split(`"${ts}"`);
    let expected = 2;
    for (const h of input.handlers) if (h.extension) expected++;
    if (parts.length !== expected) { this.forget(); return; }
    const g = input.goalState ?? null;
    this.made = {
      handlers: input.handlers.map((h) => ({ handler: { ...h.handler }, extension: h.extension ?? null, isMultiConfig: h.isMultiConfig ?? false })),
      goalState: g === null ? null : { ...g },
      guestOS: { ...input.guestOS },
      features: input.features.map((f) => ({ ...f })),
      ...(input.agentVersion !== undefined ? { agentVersion: input.agentVersion } : {}),
      ...(input.agentMessage !== undefined ? { agentMessage: input.agentMessage } : {}),
      ...(input.maxBytes !== undefined ? { maxBytes: input.maxBytes } : {}),
    };
    this.gen = secretsGeneration();
    this.parts = parts;
  }

  forget(): void {
    this.made = null;
    this.parts = [];
  }
}

// The fields compared, listed once; the type checks below fail the build when a field is added to the types
// and not here.
const HANDLER_FIELDS = ['name', 'version', 'status', 'code', 'message', 'supports_multi_config'] as const;
const GOAL_STATE_FIELDS = ['status', 'code', 'message', 'inSvdSeqNo', 'timestampUTC'] as const;
const GUEST_OS_FIELDS = ['computerName', 'osName', 'osVersion'] as const;
type Missing<T, L extends readonly (keyof T)[]> = Exclude<keyof T, L[number]>;
const allHandlerFields: [Missing<HandlerStatus, typeof HANDLER_FIELDS>] extends [never] ? true : never = true;
const allGoalStateFields: [Missing<GoalStateAggregate, typeof GOAL_STATE_FIELDS>] extends [never] ? true : never = true;
const allGuestOsFields: [Missing<AggregateInput['guestOS'], typeof GUEST_OS_FIELDS>] extends [never] ? true : never = true;
void allHandlerFields; void allGoalStateFields; void allGuestOsFields;

function sameFields<T extends object>(a: T, b: T, fields: readonly (keyof T)[]): boolean {
  for (const f of fields) if (a[f] !== b[f]) return false;
  return true;
}

/**
 * `made` (a copy kept by StatusTextMemo) and a new input give the same document. Extension statuses are
 * compared by identity: the report cycle hands back the same object while its status file is unchanged (a new
 * object with equal content only costs a rebuild).
 */
function sameInput(made: AggregateInput, b: AggregateInput): boolean {
  if (made.agentVersion !== b.agentVersion || made.agentMessage !== b.agentMessage || made.maxBytes !== b.maxBytes) return false;
  const ga = made.goalState ?? null;
  const gb = b.goalState ?? null;
  if ((ga === null) !== (gb === null) || (ga !== null && !sameFields(ga, gb!, GOAL_STATE_FIELDS))) return false;
  if (!sameFields(made.guestOS, b.guestOS, GUEST_OS_FIELDS)) return false;
  if (made.features.length !== b.features.length) return false;
  for (let i = 0; i < made.features.length; i++) {
    if (made.features[i]!.Key !== b.features[i]!.Key || made.features[i]!.Value !== b.features[i]!.Value) return false;
  }
  if (made.handlers.length !== b.handlers.length) return false;
  for (let i = 0; i < made.handlers.length; i++) {
    const x = made.handlers[i]!;
    const y = b.handlers[i]!;
    if (x.extension !== (y.extension ?? null) || x.isMultiConfig !== (y.isMultiConfig ?? false) || !sameFields(x.handler, y.handler, HANDLER_FIELDS)) return false;
  }
  return true;
}
