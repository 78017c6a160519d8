// Telemetry encoding and batching for POST /machine?comp=telemetrydata (protocol.md §1.12). Events are
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
