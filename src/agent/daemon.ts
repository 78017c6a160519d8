// `waagent -daemon` and `-run-exthandlers` (docs/os.md §3, §6; docs/architecture.md "One process"): start-up chores,
// provisioning, then the goal-state loop and the periodic environment tasks IN THIS PROCESS, until
// SIGTERM/SIGINT. -run-exthandlers is the loop alone (no provisioning, no resource disk).
//
// Deliberate differences from the Python daemon (documented in the README):
//   * a second daemon exits at once with `Daemon is already running: <pid>` and exit code 1 (waagent
//     exits 0, which hides the problem from scripts; systemd restarts on any exit anyway);
//   * the pid file is removed on a clean stop (if it still holds our pid);
//   * a provisioning failure is reported (NotReady/ProvisioningFailed) and the daemon exits 1, so
//     systemd retries it; waagent logged and went on to run extensions on a half-provisioned VM;
//   * no child process, no self-update: the loop runs here; systemd restarts us if we die.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { posix } from 'node:path';
import type { Invocation } from '../util/invocation.ts';
import { EXIT } from '../util/exit.ts';
import { AGENT_VERSION } from '../version.ts';
import { DeviceAppender, errorText, log } from '../util/logger.ts';
import { detectDistro, type DistroProfile } from '../os/distro.ts';
import { detectScvmm, scvmmInstallArgv } from '../os/env/scvmm.ts';
import { seedEntropy } from '../os/env/entropy.ts';
import { AzureProtocol } from '../platform/protocol.ts';
import { openPlatform } from '../provision/connect.ts';
import { AlreadyRunningError, PidLock } from './pidfile.ts';
import { Scheduler } from './scheduler.ts';
import { ensurePrivateDir } from '../util/privdir.ts';
import { tightenLogFiles } from '../util/logfile.ts';
import { numaNote } from './chores.ts';
import { EventQueue, agentOperationEvent } from './telemetry.ts';
import { DUTIES } from './tasks/index.ts';
import type { DutyContext, DutyHooks } from './tasks/context.ts';
import { interfaceNames, testMonitorPeriod } from './tasks/monitor-period.ts';
import { SummaryTracker } from './summary.ts';
import { GoalStateErrors } from './monitor.ts';
import { setWireServerHost } from '../platform/ioerrors.ts';
import { childPids } from '../os/process.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { collectAfterBurst } from '../util/memory.ts';
import { childProcess, delay } from '../util/builtins.ts';

/** How long running work (an extension command) may finish after SIGTERM before it is killed. */
export const STOP_GRACE_MS = 20_000;

/** Resolves when SIGTERM or SIGINT arrives; the handlers are removed by dispose(). */
export class StopSignal {
  readonly promise: Promise<NodeJS.Signals>;
  stopped: NodeJS.Signals | null = null;
  private resolve!: (s: NodeJS.Signals) => void;
  private readonly handler = (s: NodeJS.Signals) => { if (!this.stopped) { this.stopped = s; log.info(`Received ${s}: stopping`); this.resolve(s); } };
  /** A pending promise does not keep Node alive: this timer does, until stopped (e.g. disable_agent waits). */
  private readonly keepAlive: NodeJS.Timeout;
  constructor() {
    this.promise = new Promise((r) => { this.resolve = r; });
    process.on('SIGTERM', this.handler);
    process.on('SIGINT', this.handler);
    this.keepAlive = setInterval(() => undefined, 1 << 30);
  }
  trigger(s: NodeJS.Signals = 'SIGTERM'): void { this.handler(s); }
  dispose(): void {
    clearInterval(this.keepAlive);
    process.off('SIGTERM', this.handler);
    process.off('SIGINT', this.handler);
  }
}

/** Kills the direct children (extension commands lead their own process groups). */
function killChildren(root: Sysroot): number {
  const kids = childPids(root);
  for (const pid of kids) {
    // Extension commands are started detached: their pid is their process group.
    try { process.kill(-pid, 'SIGKILL'); } catch { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  }
  return kids.length;
}

function lib(ctx: Invocation): string { return ctx.config.str('Lib.Dir'); }

/** Start-up common to -daemon and -run-exthandlers: the lock, Lib.Dir, FIPS. Returns null when another agent runs. */
function startCommon(ctx: Invocation): PidLock | null {
  const c = ctx.config;
  let lock: PidLock;
  try {
    lock = PidLock.acquire(ctx.root.path(c.str('Pid.File')));
  } catch (e) {
    if (e instanceof AlreadyRunningError) {
      log.error(e.message);
      ctx.io.err(`${e.message}\n`);
      return null;
    }
    throw e;
  }
  const loose = ensurePrivateDir(ctx.root.path(lib(ctx)));
  if (loose !== null) log.warn(`${lib(ctx)} was mode ${loose.toString(8).padStart(4, '0')}: tightened to 0700 (it holds keys and certificates)`);
  try { mkdirSync(ctx.root.path(c.str('Extension.LogDir')), { recursive: true, mode: 0o755 }); } catch (e) { log.warn(`Extension.LogDir: ${errorText(e)}`); }
  // Extension output may hold secrets: command logs from an older agent (0644) are made 0600.
  const tightened = tightenLogFiles(ctx.root.path(c.str('Extension.LogDir')), /^CommandExecution.*\.log(\.\d+)?$/);
  if (tightened) log.info(`${tightened} extension command log(s) made 0600`);
  if (c.bool('OS.EnableFIPS')) process.env['OPENSSL_FIPS'] = '1';
  return lock;
}

export async function runDaemon(ctx: Invocation): Promise<number> {
  process.env['_AZURE_GUEST_AGENT_DAEMON_VERSION_'] = AGENT_VERSION;
  const distro = detectDistro(ctx.root);
  log.info(`Azure Linux Agent Version: ${AGENT_VERSION}`);
  log.info(`OS: ${distro.os.id} ${distro.os.versionId}`);
  log.info(`Node: ${process.versions.node}`);
  const lock = startCommon(ctx);
  if (!lock) return EXIT.FAILURE;
  const stop = new StopSignal();
  try {
    log.info('Run daemon');
    const early = await beforeLoop(ctx, distro, stop);
    if (early !== null) return early;
    // SIGTERM during provisioning is honoured once it is done (it must not be cut in half).
    if (stop.stopped) return EXIT.OK;
    return await runAgent(ctx, distro, stop);
  } finally {
    stop.dispose();
    lock.release();
  }
}

export async function runExtHandlers(ctx: Invocation): Promise<number> {
  const distro = detectDistro(ctx.root);
  log.info(`Azure Linux Agent Version: ${AGENT_VERSION} (extension handler loop)`);
  const lock = startCommon(ctx);
  if (!lock) return EXIT.FAILURE;
  const stop = new StopSignal();
  try {
    return await runAgent(ctx, distro, stop);
  } finally {
    stop.dispose();
    lock.release();
  }
}

/** Daemon body up to the loop (docs/os.md §3.2 body). Returns an exit code to stop early, or null to go on. */
async function beforeLoop(ctx: Invocation, distro: DistroProfile, stop: StopSignal): Promise<number | null> {
  const c = ctx.config;
  const root = ctx.root;
  const runner = ctx.runner;
  if (c.bool('DetectScvmmEnv')) {
    const r = await detectScvmm(root, runner, c.str('DVD.MountPoint'));
    if (r.found) {
      const argv = scvmmInstallArgv(r.mountPoint);
      log.info(`SCVMM environment detected (${r.device ?? r.mountPoint}): starting the VMM agent installer and exiting`);
      childProcess().spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore' }).unref();
      // As upstream: leave the VM to the VMM agent for 5 minutes; systemd then restarts us.
      await Promise.race([delay(300_000), stop.promise]);
      return EXIT.OK;
    }
  }
  try {
    const e = seedEntropy(root);
    if (e === 'seeded') log.info('Seeded the kernel random pool from the Hyper-V OEM0 table');
  } catch (e) {
    log.verbose(`Hyper-V entropy: ${errorText(e)}`);
  }
  numaNote();

  if (c.bool('ResourceDisk.Format')) {
    const { activateResourceDisk, resourceDiskConfig } = await import('../resourcedisk/index.ts');
    const r = await activateResourceDisk({ root, runner, log, config: resourceDiskConfig(c) });
    log.info(`Resource disk: ${r.outcome}${r.message ? ` (${r.message})` : ''}`);
  }
  // A VHD may have moved to another host: the endpoint is discovered again (§3.2 body step 4).
  for (const f of ['WireServerEndpoint', 'Protocol']) rmSync(root.pathNoFollow(posix.join(lib(ctx), f)), { force: true });

  const code = await provisionStep(ctx);
  if (code !== null) return code;
  collectAfterBurst();

  const disable = root.path(posix.join(lib(ctx), 'disable_agent'));
  if (existsSync(disable)) {
    log.warn(`Disabling guest agent in accordance with ovf-env.xml (${lib(ctx)}/disable_agent exists)`);
    log.warn('The guest agent is disabled: extensions will not be processed. To enable it, remove the marker or provision with allowExtensionOperations');
    removeConsole();
    await stop.promise;
    return EXIT.OK;
  }
  removeConsole();
  return null;
}

function removeConsole(): void {
  if (log.appenders.some((a) => a instanceof DeviceAppender)) {
    log.info('End of log to /dev/console. The agent will now process extensions.');
    log.removeAppenders((a) => a instanceof DeviceAppender);
  }
}

async function provisionStep(ctx: Invocation): Promise<number | null> {
  const { provisionOnce } = await import('../provision/command.ts');
  const { outcomeOk } = await import('../provision/provision.ts');
  const outcome = await provisionOnce(ctx);
  if (!outcomeOk(outcome)) {
    log.error(`Provisioning ${outcome.status === 'failed' ? 'failed' : 'was not reported'}: ${outcome.reason ?? 'unknown reason'}; exiting so that the service manager retries`);
    return EXIT.FAILURE;
  }
  log.info(`Provisioning: ${outcome.status}`);
  return null;
}

/** The loop and the periodic tasks (tasks/index.ts) until stopped. */
async function runAgent(ctx: Invocation, distro: DistroProfile, stop: StopSignal): Promise<number> {
  const c = ctx.config;
  const root = ctx.root;
  const libDir = root.path(lib(ctx));
  const conn = openPlatform(ctx, { skipSaved: false });
  setWireServerHost(conn.endpoint);
  const protocol = new AzureProtocol({ endpoint: conn.endpoint, libDir, transport: conn.transport, fastTrack: c.bool('Debug.EnableFastTrack'), openssl: conn.openssl });
  const scheduler = new Scheduler();
  const events = new EventQueue(200, posix.join(libDir, 'events'));
  const event = (op: string, ok: boolean, msg: string) => events.push(agentOperationEvent(op, ok, msg));
  event('Start', true, `waagent-sea ${AGENT_VERSION} started (${ctx.command})`);
  try {
    const hooks: DutyHooks = { agentProblem: () => null, initialCompleted: () => undefined };
    let exitCode: number = EXIT.OK;
    const d: DutyContext = {
      ctx, distro, libDir, extLogDir: root.path(c.str('Extension.LogDir')), conn, protocol, events, event, scheduler, hooks,
      summary: new SummaryTracker(libDir, { event: (ok, msg) => event('GoalState', ok, msg), initialCompleted: () => hooks.initialCompleted() }),
      gsErrors: new GoalStateErrors(event),
      monitorPeriodMs: testMonitorPeriod(process.env, () => interfaceNames(root)),
      exit: (reason) => { log.info(reason); exitCode = EXIT.FAILURE; stop.trigger('SIGTERM'); },
    };
    for (const duty of DUTIES) for (const task of await duty(d)) scheduler.add(task);
    const signal = await stop.promise;
    log.info(`Stopping (${signal}): waiting up to ${STOP_GRACE_MS / 1000} s for running work`);
    const finished = await Promise.race([scheduler.stop().then(() => true), delay(STOP_GRACE_MS).then(() => false)]);
    if (!finished) {
      const n = killChildren(root);
      log.warn(`Running work did not finish within ${STOP_GRACE_MS / 1000} s: killed ${n} child process group(s)`);
    }
    log.info('Agent stopped');
    return exitCode;
  } finally {
    await Promise.race([scheduler.stop().catch(() => undefined), delay(5000)]);
    await conn.close().catch(() => undefined);
    // Events not sent yet survive the restart in the spool (bounded by its caps).
    events.spill();
  }
}
