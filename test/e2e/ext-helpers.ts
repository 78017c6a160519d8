// Shared by the end-to-end extension tests: a VM-in-a-box with the fabric simulator, the goal-state
// loop running inside it (ext-driver.ts on the pinned node until `dist/waagent -run-exthandlers`
// exists), the probe extensions' command log, and the status blob the simulator received.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Box, PINNED_NODE, PROJECT, type BoxProcess } from '../sandbox/box.ts';
import type { DriverConfig } from './ext-driver.ts';

export const skip = process.getuid?.() === 0 ? false : 'needs root (namespaces)';
export const DRIVER = join(PROJECT, 'test', 'e2e', 'ext-driver.ts');
export const SCENARIO_DIR = join(PROJECT, 'test', 'fabric', 'scenarios');
export const LIB = '/var/lib/waagent';
export const COMMAND_LOG = '/var/log/probe/commands.log';

/** One line of the probe's command log: `<handler> <version> <op> key=value...`. */
export interface ProbeCommand {
  handler: string;
  version: string;
  op: string;
  env: Record<string, string>;
}

export function parseCommandLog(text: string): ProbeCommand[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => {
    const [handler, version, op, ...kv] = l.split(' ');
    const env: Record<string, string> = {};
    for (const p of kv) {
      const i = p.indexOf('=');
      env[p.slice(0, i)] = p.slice(i + 1);
    }
    return { handler: handler!, version: version!, op: op!, env };
  });
}

/** "<handler> <version> <op>" of each command, for order checks. */
export function ops(cmds: ProbeCommand[]): string[] {
  return cmds.map((c) => `${c.handler} ${c.version} ${c.op}`);
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export interface StatusStatus { status: string; code: number | string; operation?: string; name?: string; formattedMessage?: { message: string } }
export interface HandlerEntry {
  handlerName: string;
  handlerVersion: string;
  status: string;
  code: number;
  formattedMessage?: { message: string };
  runtimeSettingsStatus?: { sequenceNumber: number; extensionName?: string; settingsStatus: { status: StatusStatus } };
}
export interface StatusBlob {
  aggregateStatus: {
    guestAgentStatus: { version: string; status: string };
    handlerAggregateStatus: HandlerEntry[];
    vmArtifactsAggregateStatus?: { goalStateAggregateStatus: { inSvdSeqNo: string; status: string; code: number } };
  };
  supportedFeatures?: Array<{ Key: string; Value: string }>;
}

export class ExtBox {
  readonly box: Box;
  readonly driver: BoxProcess;
  private seen = 0;

  private constructor(box: Box, driver: BoxProcess) {
    this.box = box;
    this.driver = driver;
  }

  static async start(scenario: string | Record<string, unknown>, cfg: DriverConfig = {}): Promise<ExtBox> {
    const box = await Box.start({ scenario: typeof scenario === 'string' ? join(SCENARIO_DIR, scenario) : scenario });
    try {
      const driver = box.spawn([PINNED_NODE, DRIVER, JSON.stringify({ periodMs: 300, maxSeconds: 240, ...cfg })]);
      return new ExtBox(box, driver);
    } catch (e) {
      await box.close();
      throw e;
    }
  }

  /** Events the driver printed so far. */
  events(): Array<{ event: string; id: string; [k: string]: unknown }> {
    return this.driver.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { event: string; id: string });
  }

  /** Waits until goal state `id` was processed and then reported (uploaded) at least `after` times. */
  async reported(id: string, timeoutMs = 90_000, after = 1): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const ev = this.events();
      const p = ev.findIndex((e) => e.event === 'processed' && e.id === id);
      if (p >= 0 && ev.slice(p + 1).filter((e) => e.event === 'reported' && e.id === id).length >= after) return;
      if (this.driver.exited || Date.now() > end) {
        assert.fail(`goal state ${id} not processed+reported (driver ${this.driver.exited ? 'exited' : 'still running'}); events: ${JSON.stringify(ev.slice(-5))}\n${this.driver.stderr().slice(-4000)}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Applies a scenario merge patch; returns the id of the new WireServer goal state. */
  async update(patch: Record<string, unknown>): Promise<string> {
    const r = await this.box.fabric!.update(patch);
    return `incarnation_${r.incarnation}`;
  }

  /** Every probe command run so far. */
  commands(): ProbeCommand[] {
    return this.box.exists(COMMAND_LOG) ? parseCommandLog(this.box.readFile(COMMAND_LOG)) : [];
  }

  /** Probe commands run since the previous call. */
  newCommands(): ProbeCommand[] {
    const all = this.commands();
    const out = all.slice(this.seen);
    this.seen = all.length;
    return out;
  }

  async lastStatus(): Promise<StatusBlob> {
    const ups = await this.box.fabric!.statusUploads();
    assert.ok(ups.length > 0, 'no status blob uploaded');
    return ups.at(-1)!.json as StatusBlob;
  }

  handler(blob: StatusBlob, name: string, ext?: string): HandlerEntry | undefined {
    return blob.aggregateStatus.handlerAggregateStatus.find((h) => h.handlerName === name && (ext === undefined || h.runtimeSettingsStatus?.extensionName === ext));
  }

  /** Names in Lib.Dir (to check package zips are gone and old versions removed). */
  async libEntries(): Promise<string[]> {
    const r = await this.box.run(['ls', '-A', LIB]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.split('\n').filter(Boolean);
  }

  async sh(script: string): Promise<string> {
    const r = await this.box.run(['sh', '-c', script]);
    assert.equal(r.code, 0, `${script}: ${r.stderr}`);
    return r.stdout.trim();
  }

  async close(): Promise<void> {
    this.driver.kill('SIGTERM');
    await this.driver.wait(10_000).catch(() => undefined);
    await this.box.close();
  }
}
