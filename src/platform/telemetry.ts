// Telemetry encoding and batching for POST /machine?comp=telemetrydata (docs/protocol.md §1.12). Events are
// grouped by provider; each request body stays below 64512 bytes; an event that alone reaches the
// limit is dropped (counted), never sent truncated.
export const MAX_EVENT_BUFFER_SIZE = 2 ** 16 - 2 ** 10;

export type ParamValue = string | number | boolean | { float: number };

export interface TelemetryParam {
  name: string;
  value: ParamValue;
}

export interface TelemetryEvent {
  providerId: string;
  eventId: number;
  params: TelemetryParam[];
}

/** Python's xml.sax.saxutils.quoteattr: escapes & < >, newline/CR/tab as char refs, picks the quote. */
export function quoteattr(v: string): string {
  let s = v.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
    .replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
  if (s.includes('"')) {
    if (s.includes("'")) s = `"${s.replace(/"/g, '&quot;')}"`;
    else s = `'${s}'`;
  } else {
    s = `"${s}"`;
  }
  return s;
}

function typed(v: ParamValue): { text: string; t: string } {
  if (typeof v === 'boolean') return { text: v ? 'True' : 'False', t: 'mt:bool' };
  if (typeof v === 'number') return Number.isInteger(v) ? { text: String(v), t: 'mt:uint64' } : { text: String(v), t: 'mt:float64' };
  if (typeof v === 'object') return { text: Number.isInteger(v.float) ? v.float.toFixed(1) : String(v.float), t: 'mt:float64' };
  return { text: v, t: 'mt:wstr' };
}

export function encodeEvent(e: TelemetryEvent): string {
  // Strip characters XML 1.0 cannot carry at all (they would make the whole batch unparsable).
  const clean = (s: string) => s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '');
  const params = e.params.map((p) => {
    const { text, t } = typed(p.value);
    return `<Param Name=${quoteattr(clean(p.name))} Value=${quoteattr(clean(text))} T="${t}" />`;
  }).join('');
  return `<Event id="${Math.trunc(e.eventId)}"><![CDATA[${params.replace(/]]>/g, ']]]]><![CDATA[>')}]]></Event>`;
}

const head = (provider: string) => `<?xml version="1.0"?><TelemetryData version="1.0"><Provider id="${provider.replace(/[^A-Za-z0-9-]/g, '')}">`;
const TAIL = '</Provider></TelemetryData>';

export interface TelemetryBatch {
  providerId: string;
  body: string;
  events: number;
}

/** Groups events by provider into request bodies under the size limit. Returns the batches and the drop count. */
export function batchEvents(events: TelemetryEvent[], limit = MAX_EVENT_BUFFER_SIZE): { batches: TelemetryBatch[]; dropped: number } {
  const byProvider = new Map<string, string[]>();
  let dropped = 0;
  for (const e of events) {
    const enc = encodeEvent(e);
    if (Buffer.byteLength(enc) >= limit) { dropped++; continue; }
    const list = byProvider.get(e.providerId) ?? [];
    list.push(enc);
    byProvider.set(e.providerId, list);
  }
  const batches: TelemetryBatch[] = [];
  for (const [providerId, list] of byProvider) {
    const overhead = Buffer.byteLength(head(providerId) + TAIL);
    let cur: string[] = [];
    let size = overhead;
    for (const enc of list) {
      const n = Buffer.byteLength(enc);
      if (cur.length && size + n >= limit) {
        batches.push({ providerId, body: head(providerId) + cur.join('') + TAIL, events: cur.length });
        cur = [];
        size = overhead;
      }
      if (size + n >= limit) { dropped++; continue; }
      cur.push(enc);
      size += n;
    }
    if (cur.length) batches.push({ providerId, body: head(providerId) + cur.join('') + TAIL, events: cur.length });
  }
  return { batches, dropped };
}

// ---------------------------------------------------------------------------------------------------
// The agent's event 1 (GuestAgentExtensionEvents) with its common parameters, in the spec's order.

export const AGENT_EVENTS_PROVIDER = '69B669B9-4AF8-4C50-BDC4-6006FA76E975';
export const LOG_EVENTS_PROVIDER = 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F';

/** Values shared by every event; unknown ones keep the agent's placeholders. */
export interface EventCommon {
  gaVersion: string;
  containerId: string;
  /** Linux:<distro>-<version>-<codename>:<kernel> */
  osVersion: string;
  ramMb: number;
  processors: number;
  cpuArchitecture: string;
  tenantName?: string;
  roleName?: string;
  roleInstanceName?: string;
  location?: string;
  subscriptionId?: string;
  resourceGroupName?: string;
  vmId?: string;
  imageOrigin?: number;
}

export interface AgentEventInput {
  name: string;
  version: string;
  operation: string;
  success: boolean;
  message: string;
  durationMs: number;
  time: Date;
  pid?: number;
  tid?: number;
  taskName?: string;
  extensionType?: string;
}

/** YYYY-MM-DDTHH:MM:SS.ffffffZ (OpcodeName). */
export function eventTimestamp(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export function agentEvent(e: AgentEventInput, c: EventCommon): TelemetryEvent {
  const u = (v: string | undefined, name: string) => v ?? `${name}_UNINITIALIZED`;
  return {
    providerId: AGENT_EVENTS_PROVIDER,
    eventId: 1,
    params: [
      { name: 'Name', value: e.name },
      { name: 'Version', value: e.version },
      { name: 'Operation', value: e.operation },
      { name: 'OperationSuccess', value: e.success },
      { name: 'Message', value: e.message },
      { name: 'Duration', value: Math.max(0, Math.round(e.durationMs)) },
      { name: 'GAVersion', value: c.gaVersion },
      { name: 'ContainerId', value: c.containerId },
      { name: 'OpcodeName', value: eventTimestamp(e.time) },
      { name: 'EventTid', value: e.tid ?? 0 },
      { name: 'EventPid', value: e.pid ?? 0 },
      { name: 'TaskName', value: e.taskName ?? '' },
      { name: 'ExtensionType', value: e.extensionType ?? '' },
      { name: 'IsInternal', value: false },
      { name: 'OSVersion', value: c.osVersion },
      { name: 'ExecutionMode', value: 'IAAS' },
      { name: 'RAM', value: Math.round(c.ramMb) },
      { name: 'Processors', value: Math.round(c.processors) },
      { name: 'KeywordName', value: JSON.stringify({ CpuArchitecture: c.cpuArchitecture }).replace(':', ': ') },
      { name: 'TenantName', value: u(c.tenantName, 'TenantName') },
      { name: 'RoleName', value: u(c.roleName, 'RoleName') },
      { name: 'RoleInstanceName', value: u(c.roleInstanceName, 'RoleInstanceName') },
      { name: 'Location', value: u(c.location, 'Location') },
      { name: 'SubscriptionId', value: u(c.subscriptionId, 'SubscriptionId') },
      { name: 'ResourceGroupName', value: u(c.resourceGroupName, 'ResourceGroupName') },
      { name: 'VMId', value: u(c.vmId, 'VMId') },
      { name: 'ImageOrigin', value: c.imageOrigin ?? 0 },
    ],
  };
}
