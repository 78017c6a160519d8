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

export function buildAggregateStatus(input: AggregateInput, raw = false): Record<string, unknown> {
  const ts = utcSeconds(input.now);
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
export function aggregateStatusJson(input: AggregateInput): string {
  const text = pyDumps(buildAggregateStatus(input, true));
  const limit = input.maxBytes ?? MAX_STATUS_BLOB_BYTES;
  if (text.length <= limit) {
    lastFit = null;
    return text;
  }
  const fit = fitStatusBlob(buildAggregateStatus(input), text.length, limit);
  const what = `Status blob of ${input.handlers.length} handler entries is ${text.length} bytes, over the ${limit}-byte limit: ${fit.summary}`;
  const key = `${input.handlers.length}:${fit.summary}`;
  if (key !== lastFit) log.warn(`${what}; uploading ${fit.text.length} bytes`);
  lastFit = key;
  return fit.text;
}
