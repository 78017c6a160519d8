// Shared by the end-to-end extension tests: a VM-in-a-box with the fabric simulator, the goal-state
// loop running inside it (`dist/waagent -run-exthandlers` when the binary has it, else ext-driver.ts on
// the pinned node), the probe extensions' command log, and the status blob the simulator received.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Box, PINNED_NODE, PROJECT, type BoxProcess } from '../sandbox/box.ts';
import type { DriverConfig } from './ext-driver.ts';
import { AGENT_BIN, needsRoot } from '../helpers/skip.ts';

export const skip = needsRoot('namespaces');
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

/**
 * The disable exit code handed to update for an extension whose disable did not run. The spec (and our
 * agent) say NOT_RUN; the Python agent means to (`defaultdict(lambda: NOT_RUN)`) but reads the dict with
 * `.get()`, which ignores the default, and so passes "None".
 */
export function notRun(x: ExtBox): string {
  return x.mode === 'upstream' ? 'None' : 'NOT_RUN';
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
/** A handler that was refused (disabled, policy): NotReady with `code` and `message` on the handler and, as error, on its extension. */
export function assertRefused(h: HandlerEntry | undefined, code: number, message: string, what = h?.handlerName ?? ''): void {
  assert.ok(h, `${what}: a handler entry`);
  assert.equal(h.status, 'NotReady', what);
  assert.equal(h.code, code, what);
  assert.equal(h.formattedMessage?.message, message, what);
  const st = h.runtimeSettingsStatus!.settingsStatus.status;
  assert.equal(st.status, 'error', what);
  assert.equal(st.code, code, what);
  assert.equal(st.formattedMessage?.message, message, what);
}

export interface StatusBlob {
  aggregateStatus: {
    guestAgentStatus: { version: string; status: string };
    handlerAggregateStatus: HandlerEntry[];
    vmArtifactsAggregateStatus?: { goalStateAggregateStatus: { inSvdSeqNo: string | number; status: string; code: number } };
  };
  supportedFeatures?: Array<{ Key: string; Value: string }>;
}

/**
 * Who runs the goal-state loop in the box: the real binary (`dist/waagent -run-exthandlers` with a
 * waagent.conf of a 1 s period) or ext-driver.ts (the same loop from source, which can also shorten
 * command timeouts). 'auto' (default; EXT_E2E_AGENT overrides) takes the binary when it is
 * built, the driver otherwise. 'source' runs src/main.ts -run-exthandlers on the
 * pinned node (the binary's code without a rebuild).
 */
export type AgentMode = 'auto' | 'binary' | 'driver' | 'source' | 'upstream';
/**
 * 'upstream' (a peer check, never in CI): the Python WALinuxAgent from the source tree in WALA_SRC (which
 * must lie outside /tmp, e.g. /var/tmp, to be visible in the box), run with /usr/bin/python3, so the
 * same tests show where our agent and the reference differ.
 */
const WALA_SRC = process.env['WALA_SRC'] ?? '';
function upstreamArgv(): string[] {
  if (!WALA_SRC || !existsSync(join(WALA_SRC, 'bin', 'waagent'))) assert.fail('EXT_E2E_AGENT=upstream needs WALA_SRC=<WALinuxAgent source tree outside /tmp>');
  // The extension handler exits as an orphan unless its parent's pid is in Pid.File (the daemon's job).
  // This shell stays its parent and hands SIGTERM on.
  return ['/bin/sh', '-c', `mkdir -p /var/lib/waagent && printf %s $$ > /var/run/waagent.pid
PYTHONPATH=${WALA_SRC} /usr/bin/python3 -u ${WALA_SRC}/bin/waagent -run-exthandlers & child=$!
trap 'kill -TERM $child' TERM
wait $child; wait $child`];
}
const UPSTREAM_CONF = ['AutoUpdate.Enabled=n', 'AutoUpdate.UpdateToLatestVersion=n', 'Extensions.GoalStatePeriod=1'];
export const BINARY = AGENT_BIN;
export const BOX_CONF = [
  'Extensions.GoalStatePeriod=1', 'Protocol.EndpointDiscovery=static', 'OS.EnableFirewall=n', 'Logs.Collect=n',
  'Logs.Verbose=y', 'ResourceDisk.Format=n', 'Provisioning.Agent=disabled', '',
].join('\n');

type Event = { event: string; id: string; [k: string]: unknown };

function sleep(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

export class ExtBox {
  readonly box: Box;
  /** The running loop (replaced by restart()). */
  agent: BoxProcess;
  /** 'binary' and 'source' run the agent's own loop; events and waits work the same for both. */
  readonly mode: 'binary' | 'source' | 'driver' | 'upstream';
  private seen = 0;
  /** Environment of the agent process (e.g. the test signing root); kept for restart(). */
  private agentEnv: Record<string, string> = {};
  /** Goal-state id -> the inSvdSeqNo its status blob carries (the simulator's incarnation). */
  private readonly seqOf = new Map<string, string>();

  private constructor(box: Box, agent: BoxProcess, mode: 'binary' | 'source' | 'driver' | 'upstream') {
    this.box = box;
    this.agent = agent;
    this.mode = mode;
  }

  /**
   * `cfg` configures the driver, `conf` adds waagent.conf lines for the binary: a test that changes
   * behaviour gives both, so either loop runs with the same settings.
   */
  static async start(scenario: string | Record<string, unknown>, cfg: DriverConfig = {}, agent: AgentMode = (process.env['EXT_E2E_AGENT'] as AgentMode | undefined) ?? 'auto', conf: string[] = [], prepare?: (box: Box) => Promise<void>, env: Record<string, string> = {}): Promise<ExtBox> {
    const box = await Box.start({
      scenario: typeof scenario === 'string' ? join(SCENARIO_DIR, scenario) : scenario,
      files: { '/etc/waagent.conf': { content: BOX_CONF + [...conf, ...(agent === 'upstream' ? UPSTREAM_CONF : [])].map((l) => `${l}\n`).join(''), mode: 0o644 } },
    });
    try {
      await prepare?.(box);
      const st = await box.fabric!.state();
      let x: ExtBox | null = null;
      if (agent === 'upstream') {
        x = new ExtBox(box, box.spawn(upstreamArgv()), 'upstream');
      } else if (agent === 'source' || (agent !== 'driver' && existsSync(BINARY))) {
        const p = box.spawn(agent === 'source' ? [PINNED_NODE, join(PROJECT, 'src', 'main.ts'), '-run-exthandlers'] : [BINARY, '-run-exthandlers'], { env });
        // Running = it stays up until its first status upload; exiting before that is a failure.
        const end = Date.now() + 30_000;
        while (!p.exited && Date.now() < end && (await box.fabric!.statusUploads()).length === 0) await sleep(100);
        if (p.exited) {
          const r = await p.wait();
          assert.fail(`dist/waagent -run-exthandlers exited (${r.code}):\n${`${r.stdout}${r.stderr}`.slice(-3000)}\n${box.agentLog().slice(-3000)}`);
        }
        x = new ExtBox(box, p, agent === 'source' ? 'source' : 'binary');
      } else if (agent === 'binary') {
        assert.fail(`${BINARY} is missing: build it with scripts/node build.mjs`);
      }
      x ??= new ExtBox(box, box.spawn([PINNED_NODE, DRIVER, JSON.stringify({ periodMs: 300, maxSeconds: 240, ...cfg })], { env }), 'driver');
      x.agentEnv = env;
      x.seqOf.set(`incarnation_${st.incarnation}`, String(st.incarnation));
      x.seqOf.set(`etag_${st.etag}`, String(st.incarnation));
      return x;
    } catch (e) {
      await box.close();
      throw e;
    }
  }

  /**
   * Stops the agent (SIGTERM) and starts it again in the same mode, as systemd would after a reboot or a
   * crash. The new process processes the current goal state once more. `env` is added to its environment.
   */
  async restart(cfg: DriverConfig = {}, env?: Record<string, string>): Promise<void> {
    this.agent.kill('SIGTERM');
    const r = await this.agent.wait(30_000);
    assert.ok(!r.timedOut, 'the agent stops on SIGTERM');
    const argv = this.mode === 'driver' ? [PINNED_NODE, DRIVER, JSON.stringify({ periodMs: 300, maxSeconds: 240, ...cfg })]
      : this.mode === 'source' ? [PINNED_NODE, join(PROJECT, 'src', 'main.ts'), '-run-exthandlers']
        : this.mode === 'upstream' ? upstreamArgv() : [BINARY, '-run-exthandlers'];
    this.uploadsBefore = (await this.box.fabric!.statusUploads()).length;
    this.logBefore = this.box.agentLog().length;
    this.agent = this.box.spawn(argv, { env: { ...this.agentEnv, ...env } });
  }

  private uploadsBefore = 0;
  private logBefore = 0;

  /**
   * 'processed' events (id, source) and, for the driver, 'reported' ones. The binary's come from its log
   * ("ProcessExtensionsGoalState started [<id> channel: <c>, source: <s>, ...]").
   */
  events(): Event[] {
    if (this.mode === 'driver') {
      return this.agent.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Event);
    }
    // (The Python agent writes "channel: X source: Y" without the comma.)
    return [...this.box.agentLog().slice(this.logBefore).matchAll(/ProcessExtensionsGoalState started \[(\S+) channel: (\w+),? source: (\w+)/g)]
      .map((m) => ({ event: 'processed', id: m[1]!, channel: m[2], source: m[3] }));
  }

  /** Waits until goal state `id` was processed and then reported (uploaded) at least `after` times. */
  async reported(id: string, timeoutMs = 90_000, after = 1): Promise<void> {
    const end = Date.now() + timeoutMs;
    const seq = this.seqOf.get(id) ?? id.replace(/^incarnation_/, '');
    for (;;) {
      const ev = this.events();
      // The goal state of that generation, whichever its source (incarnation_N or the etag of the same N).
      const p = ev.findIndex((e) => e.event === 'processed' && (e.id === id || (this.seqOf.get(e.id) ?? e.id.replace(/^incarnation_/, '')) === seq));
      let n = 0;
      if (p >= 0 && this.mode === 'driver') n = ev.slice(p + 1).filter((e) => e.event === 'reported' && e.id === ev[p]!.id).length;
      if (p >= 0 && this.mode !== 'driver') {
        // The goal-state aggregate of a processed goal state carries its inSvdSeqNo.
        // (String(): the Python agent passes a vmSettings inSvdSeqNo through as the number it is.)
        n = (await this.box.fabric!.statusUploads()).slice(this.uploadsBefore)
          .filter((u) => String((u.json as StatusBlob | undefined)?.aggregateStatus?.vmArtifactsAggregateStatus?.goalStateAggregateStatus.inSvdSeqNo) === seq).length;
      }
      if (n >= after) return;
      if (this.agent.exited || Date.now() > end) {
        assert.fail(`goal state ${id} not processed+reported (${this.mode} ${this.agent.exited ? 'exited' : 'still running'}); events: ${JSON.stringify(ev.slice(-5))}\n${this.agent.stderr().slice(-3000)}\n${this.box.agentLog().slice(-3000)}`);
      }
      await sleep(100);
    }
  }

  /** The agent's log so far: waagent.log for the binary, the driver's stderr. */
  log(): string {
    return this.mode === 'driver' ? this.agent.stderr() : this.box.agentLog();
  }

  /** Applies a scenario merge patch; returns the id of the new WireServer goal state (see also lastEtagId). */
  async update(patch: Record<string, unknown>): Promise<string> {
    const r = await this.box.fabric!.update(patch);
    this.seqOf.set(`incarnation_${r.incarnation}`, String(r.incarnation));
    this.seqOf.set(`etag_${r.etag}`, String(r.incarnation));
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
    this.agent.kill('SIGTERM');
    await this.agent.wait(10_000).catch(() => undefined);
    await this.box.close();
  }
}
