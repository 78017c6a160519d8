// Telemetry sending (docs/protocol.md §1.12, docs/extensions.md §6.7): extension events (ETP) and legacy event files
// in LIB/events are collected, given the agent's common parameters and POSTed in batches below 63 KiB.
// Bounded: at most MAX_EVENTS_PER_RUN events per run (the rest waits for the next run, files stay), the
// spool dir is capped at 1000 files and 16 MiB (oldest deleted), and files are deleted once read.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { arch, cpus, release, totalmem } from 'node:os';
import { join } from 'node:path';
import type { TelemetryEvent, TelemetryParam } from '../platform/telemetry.ts';
import { AGENT_EVENTS_PROVIDER, eventTimestamp } from '../platform/telemetry.ts';
import { collectExtensionEvents } from '../extensions/events.ts';
import { AGENT_NAME, AGENT_VERSION } from '../version.ts';
import { log, redact } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { randomHex } from '../util/unique.ts';

export const MAX_EVENTS_PER_RUN = 2000;
export const SPOOL_MAX_FILES = 1000;
export const SPOOL_MAX_BYTES = 16 << 20;
const MAX_EVENT_FILE = 64 * 1024;

export interface CommonInfo {
  containerId: () => string;
  osVersion: string;
  roleName?: () => string | undefined;
  roleInstanceName?: () => string | undefined;
}

export function defaultOsVersion(distro: { id: string; versionId: string }): string {
  return `Linux:${distro.id}-${distro.versionId}-:${release()}`;
}

/** RAM and processors: read once (os.cpus() parses /proc/cpuinfo and /proc/stat; events are sent every minute). */
let machine: { ramMiB: number; processors: number } | null = null;
function machineInfo(): { ramMiB: number; processors: number } {
  machine ??= { ramMiB: Math.round(totalmem() / 1048576), processors: cpus().length };
  return machine;
}

/** The common parameters appended to every event (§1.12 order after the event's own ones). */
export function commonParams(c: CommonInfo, time: Date): TelemetryParam[] {
  const u = (v: string | undefined, n: string) => v || `${n}_UNINITIALIZED`;
  const m = machineInfo();
  return [
    { name: 'GAVersion', value: `${AGENT_NAME}-${AGENT_VERSION}` },
    { name: 'ContainerId', value: u(c.containerId(), 'ContainerId') },
    { name: 'OpcodeName', value: eventTimestamp(time) },
    { name: 'OSVersion', value: c.osVersion },
    { name: 'ExecutionMode', value: 'IAAS' },
    { name: 'RAM', value: m.ramMiB },
    { name: 'Processors', value: m.processors },
    { name: 'KeywordName', value: `{"CpuArchitecture": "${arch() === 'x64' ? 'x86_64' : arch()}"}` },
    { name: 'RoleName', value: u(c.roleName?.(), 'RoleName') },
    { name: 'RoleInstanceName', value: u(c.roleInstanceName?.(), 'RoleInstanceName') },
  ];
}

/** A legacy event file ({"eventId","providerId","parameters":[{name,value}]}) -> event, or null when invalid. */
export function parseLegacyEvent(text: string): TelemetryEvent | null {
  let j: unknown;
  try { j = JSON.parse(text); } catch { return null; }
  const o = j as { eventId?: unknown; providerId?: unknown; parameters?: unknown };
  if (typeof o?.eventId !== 'number' || typeof o.providerId !== 'string' || !Array.isArray(o.parameters)) return null;
  const params: TelemetryParam[] = [];
  for (const p of o.parameters.slice(0, 100)) {
    const q = p as { name?: unknown; value?: unknown };
    if (typeof q?.name !== 'string') continue;
    const v = q.value;
    if (typeof v === 'string') params.push({ name: q.name, value: redact(v).slice(0, 3072) });
    else if (typeof v === 'number' || typeof v === 'boolean') params.push({ name: q.name, value: v });
  }
  // Events of other components (Name != WALinuxAgent) keep only their core fields (§6.7 legacy).
  const name = params.find((p) => p.name === 'Name')?.value;
  const core = new Set(['Name', 'Version', 'Operation', 'OperationSuccess', 'Message', 'Duration']);
  // The agent's own metric events (event 4, spilled by EventQueue) have no Name: they are kept whole too.
  const ours = name === 'WALinuxAgent' || (o.providerId === AGENT_EVENTS_PROVIDER && o.eventId === 4);
  return { providerId: o.providerId, eventId: o.eventId, params: ours ? params : params.filter((p) => core.has(p.name)) };
}

/** Reads and deletes up to `max` spool files (*.tld, not our own *.waagent.tld); enforces the spool caps. */
export function collectSpool(eventsDir: string, max: number): { events: TelemetryEvent[]; removed: number } {
  let names: string[];
  try { names = readdirSync(eventsDir).filter((n) => n.endsWith('.tld')).sort(); } catch { return { events: [], removed: 0 }; }
  let removed = 0;
  // Caps first: the oldest files go when the spool is over its count or size.
  const sizes = names.map((n) => { try { return statSync(join(eventsDir, n)).size; } catch { return 0; } });
  let total = sizes.reduce((a, b) => a + b, 0);
  while (names.length > SPOOL_MAX_FILES || (total > SPOOL_MAX_BYTES && names.length)) {
    rmSync(join(eventsDir, names.shift()!), { force: true });
    total -= sizes.shift()!;
    removed++;
  }
  const events: TelemetryEvent[] = [];
  for (const n of names.slice(0, max)) {
    const p = join(eventsDir, n);
    try {
      if (statSync(p).size <= MAX_EVENT_FILE) {
        const e = parseLegacyEvent(readFileSync(p, 'utf8'));
        if (e) events.push(e);
      }
    } catch { /* unreadable: removed below */ }
    rmSync(p, { force: true });
  }
  return { events, removed };
}

export interface TelemetrySender { sendTelemetry(events: TelemetryEvent[]): Promise<{ sent: number; dropped: number; requests: number; failed: number }> }

/**
 * The agent's own events waiting for the next send. Bounded in memory (`max`); with a spool dir, what would
 * be dropped (overflow) and what is left at shutdown (spill) goes to `<Lib.Dir>/events` as event files in the
 * legacy format (their time kept as OpcodeName), read back by the next send; the spool's own caps apply.
 */
export class EventQueue {
  private items: { event: TelemetryEvent; time: Date }[] = [];
  private readonly max: number;
  private readonly spoolDir: string | undefined;
  constructor(max = 200, spoolDir?: string) { this.max = max; this.spoolDir = spoolDir; }
  push(event: TelemetryEvent, time = new Date()): void {
    this.items.push({ event, time });
    if (this.items.length > this.max) this.toSpool(this.items.splice(0, this.items.length - this.max));
  }
  drain(): { event: TelemetryEvent; time: Date }[] {
    const out = this.items;
    this.items = [];
    return out;
  }
  /** Writes every queued event to the spool (shutdown). Returns how many were written. */
  spill(): number { return this.toSpool(this.drain()); }
  get size(): number { return this.items.length; }

  private toSpool(items: { event: TelemetryEvent; time: Date }[]): number {
    if (!this.spoolDir || items.length === 0) return 0;
    let written = 0;
    try {
      mkdirSync(this.spoolDir, { recursive: true, mode: 0o700 });
      let present = readdirSync(this.spoolDir).length;
      for (const { event, time } of items) {
        if (present >= SPOOL_MAX_FILES) break;
        const parameters = [...event.params.map((p) => ({ name: p.name, value: typeof p.value === 'object' ? p.value.float : p.value })), { name: 'OpcodeName', value: eventTimestamp(time) }];
        const text = JSON.stringify({ eventId: event.eventId, providerId: event.providerId, parameters });
        if (text.length > MAX_EVENT_FILE) continue;
        writeFileAtomic(join(this.spoolDir, `${time.getTime()}${randomHex(6)}.waagent.tld`), text, { mode: 0o600 });
        present++;
        written++;
      }
    } catch (e) {
      log.warn(`saving events to ${this.spoolDir}: ${errorText(e)}`);
    }
    return written;
  }
}

/** One run: collect, decorate, send. Returns counts (for tests and the log). */
export async function sendEventsOnce(o: { libDir: string; extLogDir: string; common: CommonInfo; sender: TelemetrySender; queue?: EventQueue; now?: () => Date }): Promise<{ collected: number; sent: number; failed: number }> {
  const now = o.now?.() ?? new Date();
  const events: TelemetryEvent[] = [];
  for (const q of o.queue?.drain() ?? []) events.push({ ...q.event, params: [...q.event.params, ...commonParams(o.common, q.time)] });
  const ext = collectExtensionEvents(o.extLogDir);
  for (const [h, reasons] of Object.entries(ext.dropped)) {
    const text = Object.entries(reasons).map(([r, n]) => `${r}: ${n}`).join(', ');
    if (text) log.warn(`Dropped events for Extension: ${h}; Details: ${text}`);
  }
  for (const e of ext.events.slice(0, MAX_EVENTS_PER_RUN)) {
    events.push({ ...e.event, params: [...e.event.params, ...commonParams(o.common, new Date(e.fileTime))] });
  }
  const spool = collectSpool(join(o.libDir, 'events'), Math.max(0, MAX_EVENTS_PER_RUN - events.length));
  for (const e of spool.events) {
    const has = new Set(e.params.map((p) => p.name));
    events.push({ ...e, params: [...e.params, ...commonParams(o.common, now).filter((p) => !has.has(p.name))] });
  }
  if (events.length === 0) return { collected: 0, sent: 0, failed: 0 };
  const r = await o.sender.sendTelemetry(events);
  return { collected: events.length, sent: r.sent, failed: r.failed + r.dropped };
}

/** The agent's own event (event 1) for something worth the platform knowing (provisioning, firewall). */
export function agentOperationEvent(operation: string, success: boolean, message: string, durationMs = 0): TelemetryEvent {
  return {
    providerId: AGENT_EVENTS_PROVIDER, eventId: 1,
    params: [
      { name: 'Name', value: AGENT_NAME }, { name: 'Version', value: AGENT_VERSION }, { name: 'Operation', value: operation },
      { name: 'OperationSuccess', value: success }, { name: 'Message', value: redact(message).slice(0, 3072) },
      { name: 'Duration', value: Math.max(0, Math.round(durationMs)) },
    ],
  };
}
