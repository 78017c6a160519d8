// First-boot provisioning (docs/os.md §4): which agent provisions, the provisioned marker, the built-in
// sequence and the health reports. The entry point the daemon and `-provision` call:
//
//   provision({ settings | config, root, runner, platform, ... }) -> ProvisionOutcome
//
// Reports (docs/protocol.md §1.10): NotReady/Provisioning/"Starting" once the goal state is known, then
// Ready when everything is on disk — or NotReady/ProvisioningFailed with the reason (never the
// password: every error text passes the logger's redaction) on any failure. Nothing is changed on
// the machine before every input is checked; the marker is written last, so an interrupted run is
// completed by the next one; the DVD is released only AFTER Ready.
import { readFileSync, existsSync } from 'node:fs';
import { isMounted, readMounts } from '../os/mounts.ts';
import { posix } from 'node:path';
import type { Config } from '../config/config.ts';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log, redact } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { parseXml } from '../util/xml.ts';
import type { GoalState, HealthReport, ImdsInstance } from '../platform/types.ts';
import { realClock, type Clock } from '../platform/retry.ts';
import { parseOvfEnv, redactedCopy, type OvfEnv } from '../platform/ovfenv.ts';
import { detectDistro, type DistroProfile } from '../os/distro.ts';
import { readProvisioningMedia, releaseProvisioningMedia, type ProvisioningMedia } from '../os/media/dvd.ts';
import type { ExecuteResult } from '../os/customdata.ts';
import { cloudInitEnabled, selectAgent } from './agent.ts';
import { applyPlan } from './apply.ts';
import { ensurePrivateDir } from '../util/privdir.ts';
import type { SelinuxLabels } from '../os/selinux.ts';
import { checkMarker, changedIdCleanup, DISABLE_AGENT_FILE, readMarker, writeMarker } from './marker.ts';
import { checkSettings, planProvisioning, resolveCertificateKeys } from './plan.ts';
import type { ProvisionPlatform } from './platform.ts';
import { settingsFromConfig, type ProvisionSettings } from './settings.ts';
import { readVmId } from './vmid.ts';
import { hostKeyPubPath, hostKeyThumbprint } from './hostkey.ts';
import { ProvisionKvp, uptimeSeconds } from './kvpreport.ts';
import { awaitReprovisioning, poolType, ppsMarkerExists, removePpsMarker } from './pps.ts';
import { watchLinks, type LinkWatcher } from '../os/network/links.ts';
import { primaryInterface } from '../os/hostname.ts';
import { AgentError } from '../util/errors.ts';

export class ProvisionError extends AgentError {
  static override readonly errorName: string = 'ProvisionError';
}

export interface ProvisionDeps {
  /** waagent.conf; or `settings` directly. */
  config?: Config;
  settings?: ProvisionSettings;
  root: Sysroot;
  runner: Runner;
  platform: ProvisionPlatform;
  clock?: Clock;
  /** Default: detectDistro(root). */
  distro?: DistroProfile;
  /** Default: the provisioning DVD (os/media/dvd.ts: mount read-only, else read in user space). */
  readMedia?: () => Promise<ProvisioningMedia>;
  /** Default: unmount what we mounted, eject the drive. Runs after Ready only. */
  releaseMedia?: (m: ProvisioningMedia) => Promise<void>;
  /** Called after each completed step (see STEPS). The `-provision` command wires its test-only crash hook here. */
  afterStep?: (step: string) => void;
  /** KVP reporting; default from the settings and the root (ProvisionKvp.create). */
  kvp?: ProvisionKvp;
  /** Pre-provisioned VMs: link events (default `ip -o monitor link`) and the primary NIC (default route, else first). */
  watchLinks?: () => LinkWatcher;
  primaryLink?: () => string | null;
  /** Pre-provisioned VMs: bound on waiting in the pool for the reprovisioning data. Default 24 h. */
  ppsWaitMs?: number;
  /** SELinux labels of replaced files (default: probed on the running system). */
  selinux?: SelinuxLabels;
}

export const PPS_WAIT_MS = 24 * 3600_000;

/** Step names passed to afterStep, in order (some are skipped when they have nothing to do). */
export const STEPS = [
  'media', 'pps-ready', 'pps-reprovision-data', 'starting', 'validated', 'ovf-copy', 'hostname', 'user', 'password', 'sudoers', 'sshd', 'keys', 'keypairs',
  'customdata', 'rootpassword', 'hostkeys', 'customdata-exec', 'disable-agent', 'marker', 'ready',
] as const;

export type ProvisionStatus = 'provisioned' | 'already-provisioned' | 'disabled' | 'cloud-init' | 'failed';

export interface ProvisionOutcome {
  status: ProvisionStatus;
  /** The id written to (or found in) the marker; '' when unknown. */
  vmId: string;
  /** The final health report (Ready or ProvisioningFailed) was accepted by the WireServer. */
  reported: boolean;
  /** Why provisioning failed (redacted), or why the report failed. */
  reason?: string;
  /** Second boot with another vmId: files removed by the cleanup. */
  cleanedUp?: string[];
  hostKeyThumbprint?: string;
  customData?: ExecuteResult;
}

/** Exit code of a one-shot `-provision` for an outcome: 0 only when the VM is provisioned AND reported. */
export function outcomeOk(o: ProvisionOutcome): boolean {
  return o.status !== 'failed' && o.reported;
}

class Run {
  readonly s: ProvisionSettings;
  readonly d: ProvisionDeps;
  readonly clock: Clock;
  private readonly started: number;
  private kvpReporter: ProvisionKvp | null = null;
  private gsPromise: Promise<GoalState> | null = null;
  /** A progress report in flight: final reports wait for it, so the WireServer sees them in order. */
  private progress: Promise<void> | null = null;

  constructor(d: ProvisionDeps) {
    this.d = d;
    this.s = d.settings ?? settingsFromConfig(d.config!);
    this.clock = d.clock ?? realClock;
    this.started = this.clock.now();
  }

  /** Made on first use: later boots, which only report Ready, never look for the KVP pool. */
  get kvp(): ProvisionKvp {
    this.kvpReporter ??= this.d.kvp ?? ProvisionKvp.create(this.d.root, this.s.kvpReporting !== false, this.clock, this.started);
    return this.kvpReporter;
  }

  step(name: string): void {
    log.verbose(`Provisioning step done: ${name}`);
    if (name !== 'ready') this.kvp.step(name);
    this.d.afterStep?.(name);
  }

  /** After reprovisioning the goal state is the customer VM's: fetched anew. */
  forgetGoalState(): void { this.gsPromise = null; }

  get root(): Sysroot { return this.d.root; }
  lib(name: string): string { return this.root.path(posix.join(this.s.libDir, name)); }

  ensureLibDir(): void {
    const loose = ensurePrivateDir(this.root.path(this.s.libDir));
    if (loose !== null) log.warn(`${this.s.libDir} was mode ${loose.toString(8).padStart(4, '0')}: tightened to 0700 (it holds keys and certificates)`);
  }

  /** The goal state, fetched once (a failed fetch is retried by the next caller). */
  goalState(): Promise<GoalState> {
    if (!this.gsPromise) {
      const p = this.d.platform.goalState();
      this.gsPromise = p;
      p.catch(() => { if (this.gsPromise === p) this.gsPromise = null; });
    }
    return this.gsPromise;
  }

  /** NotReady/Provisioning/"Starting", sent while the work goes on; a failure is only logged (upstream too). */
  startProgress(): void {
    this.progress = this.d.platform.reportHealth({ state: 'NotReady', subStatus: 'Provisioning', description: 'Starting' }, false)
      .catch((e) => log.warn(`Reporting NotReady/Provisioning failed: ${errorText(e)}`));
  }

  /** A final report; its failure is returned, not thrown (the caller maps it to the outcome). */
  async final(report: HealthReport): Promise<{ ok: boolean; error?: string }> {
    try {
      if (this.progress) await this.progress;
      await this.goalState();
      await this.d.platform.reportHealth(report, true);
      return { ok: true };
    } catch (e) {
      const error = redact(errorText(e));
      log.error(`Reporting ${report.state}${report.subStatus ? `/${report.subStatus}` : ''} failed: ${error}`);
      return { ok: false, error };
    }
  }

  async ready(o: Omit<ProvisionOutcome, 'reported'>): Promise<ProvisionOutcome> {
    if (o.status === 'provisioned') {
      this.kvp.vmId = o.vmId;
      await this.kvp.success();
    }
    const r = await this.final({ state: 'Ready' });
    if (r.ok) this.step('ready');
    return r.ok ? { ...o, reported: true } : { ...o, reported: false, reason: r.error };
  }

  async fail(e: unknown, vmId: string): Promise<ProvisionOutcome> {
    const reason = redact(errorText(e)).slice(0, 3000);
    log.error(`Provisioning failed: ${reason} (${uptime(this.root)}s)`);
    if (this.kvp.enabled) {
      this.kvp.step('failed', false);
      if (vmId) this.kvp.vmId = vmId;
      await this.kvp.failure(reason);
    }
    const r = await this.final({ state: 'NotReady', subStatus: 'ProvisioningFailed', description: reason });
    return { status: 'failed', vmId, reported: r.ok, reason };
  }
}

function uptime(root: Sysroot): string {
  return String(uptimeSeconds(root) ?? '?');
}

/** Provision this VM once; afterwards only report Ready. Never throws: failures are in the outcome. */
export async function provision(deps: ProvisionDeps): Promise<ProvisionOutcome> {
  let run: Run;
  try {
    run = new Run(deps);
  } catch (e) {
    return { status: 'failed', vmId: '', reported: false, reason: redact(errorText(e)) };
  }
  let vmId = '';
  // Every path reports to the WireServer: the goal state (and the HTTP stack's load) runs while the
  // cloud-init detection and the marker check do. A failure surfaces where it is awaited.
  run.goalState().catch(() => undefined);
  try {
    const choice = await selectAgent(run.s.agent, () => cloudInitEnabled(deps.runner));
    vmId = await readVmId(deps.root, deps.runner);
    if (choice.agent === 'disabled') {
      // No DVD, no marker check: the image owner provisions by other means (docs/os.md §4.1).
      log.info('Provisioning is disabled, skipping.');
      run.ensureLibDir();
      // Without a current id (no DMI) an existing marker keeps the id it has.
      if (vmId || readMarker(deps.root, run.s.libDir) === null) writeMarker(deps.root, run.s.libDir, vmId);
      return await run.ready({ status: 'disabled', vmId });
    }
    const stored = readMarker(deps.root, run.s.libDir);
    if (stored !== null) return await secondBoot(run, stored, vmId);
    if (choice.agent === 'cloud-init') return await withCloudInit(run, vmId);
    if (choice.cloudInit) throw new ProvisionError('cloud-init appears to be installed and enabled, this is not expected, cannot continue');
    return await builtIn(run, vmId);
  } catch (e) {
    return run.fail(e, vmId);
  }
}

/** Marker present (docs/os.md §4.3): compare ids, clean up after an image that was not deprovisioned, report Ready. */
async function secondBoot(run: Run, stored: string, vmId: string): Promise<ProvisionOutcome> {
  const state = checkMarker(stored, vmId);
  let cleanedUp: string[] | undefined;
  if (state.kind === 'changed') {
    log.warn(`The VM unique id changed (${state.stored} -> ${vmId}): this image was probably not deprovisioned; removing the old VM's agent state`);
    cleanedUp = changedIdCleanup(run.root, run.s.libDir);
    writeMarker(run.root, run.s.libDir, vmId);
  } else if (state.kind === 'empty') {
    writeMarker(run.root, run.s.libDir, vmId);
  } else if (state.kind === 'unknown') {
    log.info('The VM unique id is not available (no DMI): the provisioned marker is kept as it is');
  }
  log.info('Provisioning already completed, skipping.');
  await releaseLeftoverMount(run);
  return run.ready({ status: 'already-provisioned', vmId: vmId || stored, ...(cleanedUp ? { cleanedUp } : {}) });
}

/** A run killed after mounting the DVD leaves it mounted at DVD.MountPoint until reboot: release it. */
async function releaseLeftoverMount(run: Run): Promise<void> {
  if (!run.root.isHost) return;
  const mp = posix.normalize(run.s.mountPoint);
  if (!isMounted(readMounts(run.root), mp)) return;
  const r = await run.d.runner.run(['umount', mp], { timeoutMs: 30_000 });
  if (r.code !== 0) log.warn(`umount ${mp}: exit ${r.code}`);
}

async function builtIn(run: Run, dmiId: string): Promise<ProvisionOutcome> {
  const { root, runner, platform } = run.d;
  const s = run.s;
  log.info('Running default provisioning handler');
  checkSettings(s);
  const distro = run.d.distro ?? detectDistro(root);
  const readMedia = run.d.readMedia ?? (() => readProvisioningMedia({ root, runner, mountPoint: s.mountPoint }));
  // A restart while waiting in a pre-provisioning pool: the new ovf-env.xml comes from IMDS, not the DVD.
  const resumed = ppsMarkerExists(root, s.libDir);
  // The three reads are independent: the DVD (a mount attempt, then user space), the goal state and IMDS.
  const [media, gs, imds] = await Promise.allSettled([resumed ? Promise.resolve(null) : readMedia(), run.goalState(), platform.imds()]);
  if (gs.status === 'rejected') throw gs.reason;
  if (media.status === 'rejected') throw media.reason;
  let imdsDoc: ImdsInstance | null = imds.status === 'fulfilled' ? imds.value : null;
  run.step('media');

  const m = media.value;
  let text = m?.text ?? '';
  let ovf: OvfEnv | null = null;
  let badOvf: unknown = null;
  try { if (m) ovf = parseOvfEnv(m.text, { homeDir: s.homeDir, source: `${m.device}:ovf-env.xml` }); } catch (e) { badOvf = e; }
  const pool = badOvf ? 'None' : poolType(resumed, ovf, imdsDoc);
  if (pool === 'None') {
    // As before pools existed: Starting is reported, then an unusable ovf-env.xml fails provisioning.
    run.startProgress();
    run.step('starting');
    if (badOvf) throw badOvf;
  } else {
    run.kvp.pps = pool;
    run.kvp.vmId = dmiId || imdsDoc?.vmId || '';
    run.ensureLibDir();
    text = await awaitReprovisioning({
      platform, clock: run.clock, root, libDir: s.libDir, kvp: run.kvp, step: (n) => run.step(n), goalState: () => run.goalState(),
      watchLinks: run.d.watchLinks ?? (() => watchLinks()),
      primaryLink: run.d.primaryLink ?? (() => primaryInterface(root)),
      waitMs: run.d.ppsWaitMs ?? PPS_WAIT_MS,
    }, pool);
    run.step('pps-reprovision-data');
    // From here on this is the customer's VM: its goal state, its metadata, its ovf-env.xml.
    run.forgetGoalState();
    const [gs2, imds2] = await Promise.allSettled([run.goalState(), platform.imds()]);
    if (gs2.status === 'rejected') throw gs2.reason;
    imdsDoc = imds2.status === 'fulfilled' ? imds2.value : null;
    const still = (imdsDoc?.ppsType ?? '').trim();
    if (still && still.toLowerCase() !== 'none') throw new ProvisionError(`IMDS extended.compute.ppsType is still ${JSON.stringify(still)} after reprovisioning`);
    ovf = parseOvfEnv(text, { homeDir: s.homeDir, source: 'IMDS reprovisiondata ovf-env.xml' });
    if (poolType(false, ovf, null) !== 'None') throw new ProvisionError('the reprovisioning ovf-env.xml marks a pre-provisioned VM again');
    run.startProgress();
    run.step('starting');
  }
  if (!ovf) throw new ProvisionError('no ovf-env.xml'); // unreachable: media, or the reprovisioning data

  const plan = planProvisioning(root, ovf, imdsDoc, s, distro);
  if (plan.needCertificates) {
    const certs = await platform.certificates();
    log.info(`Certificates installed: ${certs.map((c) => c.thumbprint).join(', ') || 'none'}`);
    await resolveCertificateKeys(root, runner, plan, s.libDir);
  }
  run.step('validated');

  run.ensureLibDir();
  writeFileAtomic(run.lib('ovf-env.xml'), redactedCopy(text, ovf.password), { mode: 0o400 });
  run.step('ovf-copy');

  const applied = await applyPlan(plan, { root, runner, distro, settings: s, step: (n) => run.step(n), ...(run.d.selinux ? { selinux: run.d.selinux } : {}) });

  if (!plan.provisionGuestAgent) {
    log.info('Disabling guest agent in accordance with ovf-env.xml');
    writeFileAtomic(run.lib(DISABLE_AGENT_FILE), '', { mode: 0o644 });
    run.step('disable-agent');
  }
  const vmId = dmiId || imdsDoc?.vmId || '';
  writeMarker(root, s.libDir, vmId);
  if (pool !== 'None') removePpsMarker(root, s.libDir);
  run.step('marker');
  log.info(`Provisioning succeeded (${uptime(root)}s)`);

  const out = await run.ready({
    status: 'provisioned', vmId,
    ...(applied.hostKeyThumbprint ? { hostKeyThumbprint: applied.hostKeyThumbprint } : {}),
    ...(applied.customData ? { customData: applied.customData } : {}),
  });
  if (out.reported) log.info('Provisioning complete');
  // Only NEW host keys are news to the platform (issue 5; the Python agent stopped sending it).
  if (applied.hostKeysRegenerated && applied.hostKeyThumbprint) {
    try { await platform.reportHostKeyThumbprint(applied.hostKeyThumbprint); } catch (e) { log.warn(`roleProperties: ${errorText(e)}`); }
  }
  const release = run.d.releaseMedia ?? ((md: ProvisioningMedia) => releaseProvisioningMedia(md, { root, runner }));
  if (m) {
    try { await release(m); } catch (e) { log.warn(`Releasing the provisioning medium: ${errorText(e)}`); }
  }
  return out;
}

/** ProvisionGuestAgent from a (cloud-init written) ovf-env.xml copy; lenient: only this field matters. */
function provisionGuestAgentOf(text: string): boolean {
  try {
    const find = (el: ReturnType<typeof parseXml>): string | undefined => {
      if (el.local === 'ProvisionGuestAgent') return el.text.trim();
      for (const c of el.children) { const r = find(c); if (r !== undefined) return r; }
      return undefined;
    };
    return (find(parseXml(text, 'ovf-env.xml', { maxBytes: 1 << 20 })) ?? '').toLowerCase() !== 'false';
  } catch {
    return true;
  }
}

/**
 * cloud-init provisions; we report (docs/os.md §4.16): wait for its ovf-env.xml copy (ProvisionGuestAgent),
 * report Starting, wait for the SSH host key, write the marker, report Ready. Each wait is bounded.
 */
async function withCloudInit(run: Run, vmId: string): Promise<ProvisionOutcome> {
  const s = run.s;
  const clock = run.clock;
  const limitMs = s.cloudInitTimeoutSec * 1000;
  const waitFor = async (what: string, probe: () => boolean): Promise<void> => {
    const start = clock.now();
    while (!probe()) {
      if (clock.now() - start >= limitMs) throw new ProvisionError(`cloud-init did not provide ${what} within ${s.cloudInitTimeoutSec} s`);
      await clock.sleep(1000);
    }
  };
  log.info('Provisioning is done by cloud-init; waiting for it');
  const ovfPath = run.lib('ovf-env.xml');
  await waitFor(`${s.libDir}/ovf-env.xml`, () => existsSync(ovfPath));
  const pga = provisionGuestAgentOf(readFileSync(ovfPath, 'utf8'));
  await run.goalState();
  run.startProgress();
  const type = checkSettings(s);
  const pubInner = hostKeyPubPath(s.sshDir, type);
  await waitFor(`the SSH host key ${pubInner}`, () => existsSync(run.root.path(pubInner)));
  const thumbprint = hostKeyThumbprint(run.root, s.sshDir, type);
  if (!pga) {
    log.info('Disabling guest agent in accordance with ovf-env.xml');
    writeFileAtomic(run.lib(DISABLE_AGENT_FILE), '', { mode: 0o644 });
  }
  writeMarker(run.root, s.libDir, vmId);
  run.step('marker');
  return run.ready({ status: 'cloud-init', vmId, hostKeyThumbprint: thumbprint });
}
