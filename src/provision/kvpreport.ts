// Provisioning reported to the Hyper-V host through the KVP guest pool (os/kvp.ts), as cloud-init
// and azure-init do, so the platform's diagnostics see how first boot went even when the network
// never came up:
//
//   PROVISIONING_REPORT = result=success|agent=waagent-sea/<ver>|pps_type=<None|Running|Savable>|vm_id=<id>|timestamp=<ISO 8601 UTC>
//   PROVISIONING_REPORT = result=error|reason=<why>|agent=…|pps_type=…|vm_id=…|timestamp=…|documentation_url=https://aka.ms/linuxprovisioningerror
//
// fields joined with `|`, a field holding `|`, `'` or a line break quoted with `'` (csv, as
// cloud-init encodes it); the value is cut to what the host receives (1022 bytes) by shortening the
// reason. One timing record per provisioning step:
//
//   waagent-sea|<boot>|<vm_id>|provision|<n>|<step> = step=<step>|result=success|start=<ISO>|end=<ISO>|duration_ms=<ms>
//
// Records are buffered and written in one locked append at the moments that matter (Ready in the
// pool, the final outcome), so reporting costs provisioning one flock(1) run, and a pool that
// cannot be written only gives a warning. Off with Provisioning.KvpReporting=n, and wherever
// /var/lib/hyperv does not exist.
import { readFileSync } from 'node:fs';
import type { Sysroot } from '../util/sysroot.ts';
import type { Clock } from '../platform/retry.ts';
import { log } from '../util/logger.ts';
import { AGENT_VERSION, PRODUCT } from '../version.ts';
import { KVP_SAFE_VALUE_BYTES, KvpPool, type KvpRecord } from '../os/kvp.ts';

export const REPORT_KEY = 'PROVISIONING_REPORT';
export const REPORT_AGENT = `${PRODUCT}/${AGENT_VERSION}`;
export const KEY_PREFIX = `${PRODUCT}|`;
export const DOCUMENTATION_URL = 'https://aka.ms/linuxprovisioningerror';
/** Timing records kept per boot at most (a provisioning has ~20 steps; PPS runs it twice). */
const MAX_STEPS = 64;

export type PpsType = 'None' | 'Running' | 'Savable' | 'PreprovisionedOSDisk' | 'Unknown';

/** csv with `|` and `'` (QUOTE_MINIMAL): what cloud-init's encode_report writes. */
export function encodeReport(fields: string[]): string {
  return fields.map((f) => (/[|'\r\n]/.test(f) ? `'${f.replace(/'/g, "''")}'` : f)).join('|');
}

/** Our agent field at a field boundary, any version: a report an earlier version of ours left is ours too. */
const OUR_AGENT_FIELD = new RegExp(`(?:^|\\|)agent=${PRODUCT.replace(/[^A-Za-z0-9]/g, '\\$&')}/`);

export function isOurRecord(r: KvpRecord): boolean {
  return r.key.startsWith(KEY_PREFIX) || (r.key === REPORT_KEY && OUR_AGENT_FIELD.test(r.value));
}

function iso(ms: number): string { return new Date(ms).toISOString(); }

/** The report value; a long reason is shortened until the whole value fits the host's limit. */
export function reportValue(o: { ok: boolean; reason?: string; pps: PpsType; vmId: string; nowMs: number }): string {
  const build = (reason: string) => encodeReport(o.ok
    ? ['result=success', `agent=${REPORT_AGENT}`, `pps_type=${o.pps}`, `vm_id=${o.vmId}`, `timestamp=${iso(o.nowMs)}`]
    : ['result=error', `reason=${reason}`, `agent=${REPORT_AGENT}`, `pps_type=${o.pps}`, `vm_id=${o.vmId}`, `timestamp=${iso(o.nowMs)}`, `documentation_url=${DOCUMENTATION_URL}`]);
  const reason = (o.reason ?? '').replace(/[\r\n]+/g, ' ');
  const fits = (v: string) => Buffer.byteLength(v, 'utf8') <= KVP_SAFE_VALUE_BYTES;
  const whole = build(reason);
  if (fits(whole)) return whole;
  // The longest prefix of the reason (not splitting a surrogate pair) that fits with "...".
  let lo = 0;
  let hi = reason.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(build(`${reason.slice(0, mid)}...`))) lo = mid; else hi = mid - 1;
  }
  if (lo > 0 && /[\ud800-\udbff]/.test(reason[lo - 1]!)) lo--;
  return build(`${reason.slice(0, lo)}...`);
}

/** Seconds since boot (/proc/uptime of the root), or undefined. */
export function uptimeSeconds(root: Sysroot): number | undefined {
  try {
    const up = Number(readFileSync(root.path('/proc/uptime'), 'utf8').split(/\s+/)[0]);
    return Number.isFinite(up) ? up : undefined;
  } catch {
    return undefined;
  }
}

function bootTimeMs(root: Sysroot, nowMs: number): number | undefined {
  const up = uptimeSeconds(root);
  return up === undefined ? undefined : nowMs - up * 1000;
}

interface Step { name: string; start: number; end: number; ok: boolean }

export class ProvisionKvp {
  pps: PpsType = 'None';
  vmId = '';
  private readonly pool: KvpPool | null;
  private readonly clock: Clock;
  private readonly boot: string;
  private steps: Step[] = [];
  private count = 0;
  private mark: number;
  private warned = false;

  /** `startMs` (clock time): where the first step's time starts. Default now. */
  constructor(pool: KvpPool | null, clock: Clock, boot = '0', startMs?: number) {
    this.pool = pool;
    this.clock = clock;
    this.boot = boot;
    this.mark = startMs ?? clock.now();
  }

  /** Reporting for this machine: null pool when switched off or without /var/lib/hyperv. */
  static create(root: Sysroot, enabled: boolean, clock: Clock, startMs?: number): ProvisionKvp {
    if (!enabled) return new ProvisionKvp(null, clock);
    const now = Date.now();
    const bootMs = bootTimeMs(root, now);
    const pool = new KvpPool({ root, ours: isOurRecord, ...(bootMs !== undefined ? { staleBeforeMs: bootMs } : {}) });
    if (!pool.available()) return new ProvisionKvp(null, clock);
    return new ProvisionKvp(pool, clock, String(Math.floor((bootMs ?? 0) / 1000)), startMs);
  }

  get enabled(): boolean { return this.pool !== null; }

  /** A step ended now: its time runs from the end of the previous one. */
  step(name: string, ok = true): void {
    const now = this.clock.now();
    if (this.pool && this.steps.length < MAX_STEPS) this.steps.push({ name, start: this.mark, end: now, ok });
    this.mark = now;
  }

  private stepRecords(): KvpRecord[] {
    const wall = Date.now() - this.clock.now(); // the clock may be monotonic: timestamps in wall time
    const out = this.steps.map((s) => ({
      key: `${KEY_PREFIX}${this.boot}|${this.vmId || 'unknown'}|provision|${++this.count}|${s.name}`,
      value: encodeReport([`step=${s.name}`, `result=${s.ok ? 'success' : 'error'}`, `start=${iso(s.start + wall)}`, `end=${iso(s.end + wall)}`, `duration_ms=${Math.round(s.end - s.start)}`]),
    }));
    this.steps = [];
    return out;
  }

  /** Writes the buffered step records (e.g. before waiting in the pool). */
  flush(): Promise<void> { return this.write(this.stepRecords()); }

  success(): Promise<void> {
    return this.write([...this.stepRecords(), { key: REPORT_KEY, value: reportValue({ ok: true, pps: this.pps, vmId: this.vmId, nowMs: Date.now() }) }], true);
  }

  /** `reason` must already be redacted (it is what the health report carries). */
  failure(reason: string): Promise<void> {
    return this.write([...this.stepRecords(), { key: REPORT_KEY, value: reportValue({ ok: false, reason, pps: this.pps, vmId: this.vmId, nowMs: Date.now() }) }], true);
  }

  private async write(records: KvpRecord[], report = false): Promise<void> {
    if (!this.pool || records.length === 0) return;
    const r = await this.pool.write({ records, ...(report ? { replaces: (x: KvpRecord) => x.key === REPORT_KEY } : {}) });
    if (r.ok) {
      log.verbose(`KVP: ${r.appended} record(s) written to ${this.pool.inner}${r.removed ? `, ${r.removed} old one(s) of ours removed` : ''}${r.locked ? '' : ' (without a lock: flock(1) is missing)'}`);
    } else if (!this.warned) {
      this.warned = true;
      log.warn(`KVP report not written (provisioning goes on): ${r.error}`);
    }
  }
}
