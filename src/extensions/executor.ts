// Runs an extensions goal state (docs/extensions.md §3.3–3.9, §4.4, §6.1–6.4) and gathers what to report
// (§5.3). It composes the pure planner with the on-disk pieces and the launcher; the network is behind
// `ArtifactSource` (manifest and package downloads, with their HostGAPlugin fallback), so this module
// never speaks HTTP itself. One goal state is processed synchronously, item after item, like the Python
// agent: extensions rely on that order. This module is the processing; the package download is in
// download.ts, status writing and reporting in reporting.ts, removing outdated handlers in cleanup.ts,
// the options and what a command launch gets from them in options.ts, handler directories in handlerdirs.ts.
import type { ExtensionsGoalState, ExtensionSettings, ManifestVersion } from '../platform/types.ts';
import { log } from '../util/logger.ts';
import {
  ErrorCodes, ExtensionDownloadError, ExtensionError, ExtensionUpdateError, MultiConfigEnableError, errorMessage,
} from './errors.ts';
import { HandlerLayout } from './layout.ts';
import { loadHandlerManifest, type HandlerManifest, type Operation } from './manifest.ts';
import { handoverCode, launchCommand } from './launcher.ts';
import { checkMultiConfig, initializeHandler } from './package.ts';
import { DownloadRetries, downloadHandler, shuffled } from './download.ts';
import { armCrashPoints } from './crashpoint.ts';
import { writeSettingsFile } from './settings.ts';
import {
  copyStatusFiles, findInstalledVersion, readExtensionState, readHandlerState, removeExtensionFiles,
  removeHandlerFiles, writeExtensionState, writeHandlerState, writeHandlerStatus, utcSeconds,
} from './state.ts';
import { handlingStatus, TERMINAL_STATUSES } from './statusFile.ts';
import {
  DEPENDENCY_POLL_MS, DEPENDENCY_WAIT_MS, SUCCESS_STATUS, decideVersion, dependencyMessages, enableSetup,
  failureStatus, invalidHandlerError, isDependedUpon, itemCommand, itemExtName, itemFullName,
  maxKey, orderItems, uninstallCodeEnv, uninstallSteps, unsupportedFeatures, updateEnv, upgradeSteps, type CommandStep, type PlanItem,
} from './plan.ts';
import { SUPPORTED_REQUIRED_FEATURES, type GoalStateAggregate, type HandlerReport } from './aggregate.ts';
import { delay } from '../util/builtins.ts';
import { FileCache } from '../util/filecache.ts';
import { ExtensionGate } from './policy/gate.ts';
import { PolicyBlockedError } from './policy/messages.ts';
import { HandlerDirs } from './handlerdirs.ts';
import {
  collectHandlerReports, recordDependencySkip, recordDisabled, recordDisabledOf, recordExtensionsDisabled, recordFailure,
  recordInstalled, statusContext,
} from './reporting.ts';
import { launchOptionsFor, type ExecutorOptions } from './options.ts';
import { removeOutdatedHandlers } from './cleanup.ts';

export type { ArtifactSource } from './download.ts';
export type { ExecutorOptions } from './options.ts';

export class ExtensionsExecutor {
  private readonly o: ExecutorOptions;
  private readonly dirs: HandlerDirs;
  private lastAggregate: GoalStateAggregate | null = null;
  private readonly gate: ExtensionGate;
  private readonly retries: DownloadRetries;
  /** What the report cycle made of unchanged status/state files (read again only when they change). */
  private readonly reportCache: FileCache;
  /** True while the current item is fetching its manifest or package (nothing run yet). */
  private inDownload = false;
  /** Items of the current run that failed in the download stage, or were held back by such a failure. */
  private downloadFailed = new Set<string>();

  constructor(opts: ExecutorOptions) {
    this.o = opts;
    this.dirs = new HandlerDirs(opts.roots);
    this.gate = new ExtensionGate(opts);
    this.retries = new DownloadRetries(opts.downloadRetry);
    this.reportCache = new FileCache({ now: () => this.now() });
    armCrashPoints();
  }

  private now(): number { return (this.o.now ?? Date.now)(); }
  private sleep(ms: number): Promise<void> { return (this.o.sleep ?? ((m: number) => delay(m).then(() => undefined)))(ms); }

  /** The goal-state aggregate of the last processed goal state (null until one was processed). */
  get goalStateAggregate(): GoalStateAggregate | null { return this.lastAggregate; }

  // -------------------------------------------------------------------------------------------------
  // Whole goal state

  /** Processes every handler of a new extensions goal state, then cleans up handlers no longer in it. */
  process(egs: ExtensionsGoalState): Promise<GoalStateAggregate> {
    return this.writing(() => this.processGoalState(egs));
  }

  /** Runs work that writes handler files: the report cycle checks them again, during and after it (FileCache.getOwn). */
  private async writing<T>(work: () => Promise<T>): Promise<T> {
    this.reportCache.distrust();
    try {
      return await work();
    } finally {
      this.reportCache.distrust();
    }
  }

  private async processGoalState(egs: ExtensionsGoalState): Promise<GoalStateAggregate> {
    const ts = utcSeconds(new Date(this.now()));
    this.retries.begin(egs.id);
    this.downloadFailed = new Set();
    const unsupported = unsupportedFeatures(egs.requiredFeatures, SUPPORTED_REQUIRED_FEATURES);
    if (unsupported.length > 0) {
      const message = `Failing GS ${egs.id} as Unsupported features found: ${unsupported.join(', ')}`;
      log.warn(message);
      this.lastAggregate = { status: 'Failed', code: ErrorCodes.GoalStateUnsupportedRequiredFeatures, message, inSvdSeqNo: egs.inSvdSeqNo, timestampUTC: ts };
      return this.lastAggregate;
    }
    try {
      this.gate.begin();
      const items = orderItems(egs.handlers);
      await this.handleAll(items, maxKey(items));
      this.lastAggregate = { status: 'Success', code: 0, message: 'GoalState executed successfully', inSvdSeqNo: egs.inSvdSeqNo, timestampUTC: ts };
    } catch (e) {
      const message = `Unexpected error when processing goal state:${errorMessage(e)}`;
      log.warn(message);
      this.lastAggregate = { status: 'Failed', code: ErrorCodes.Unknown, message, inSvdSeqNo: egs.inSvdSeqNo, timestampUTC: ts };
    }
    this.retries.end(this.downloadFailed, this.now());
    try {
      this.cleanup(egs);
    } catch (e) {
      log.warn(`cleaning up outdated handlers: ${errorMessage(e)}`);
    }
    return this.lastAggregate;
  }

  /**
   * On a poll without a new goal state: when handlers of the current one failed to download on every URI
   * and channel and their backoff has passed, downloads them again and, when that works, installs and
   * enables them (with the items their failure held back) as if the first attempt had worked. Returns
   * true when it ran something. Nothing to do costs one Set check.
   */
  async retryDownloads(egs: ExtensionsGoalState): Promise<boolean> {
    if (!this.retries.pending || !this.retries.due(egs.id, this.now())) return false;
    const all = orderItems(egs.handlers);
    const items = all.filter((i) => this.retries.has(itemFullName(i)));
    log.info(`retrying the download of ${items.map(itemFullName).join(', ')} (goal state ${egs.id})`);
    this.downloadFailed = new Set();
    try {
      await this.writing(() => this.handleAll(items, maxKey(all)));
    } catch (e) {
      log.warn(`retrying extension downloads: ${errorMessage(e)}`);
    }
    this.retries.end(this.downloadFailed, this.now());
    return true;
  }

  private async handleAll(items: PlanItem[], max: number): Promise<void> {
    const deadline = this.now() + (this.o.dependencyWaitMs ?? DEPENDENCY_WAIT_MS);
    let depError: string | null = null;
    let depByDownload = false;
    for (const item of items) {
      // Extensions.Enabled=n: every item gets its "not processed" status and nothing else happens; it is neither
      // a success nor a failure for the dependency rules (the Python agent `continue`s before them).
      if (this.o.extensionsEnabled === false) {
        this.reportExtensionsDisabled(item);
        continue;
      }
      // Policy (policy/gate.ts): an invalid policy blocks every item; a handler not allow-listed is blocked
      // and counts as a failed dependency, as in 2.15. A blocked handler runs no command.
      const refusal = this.gate.admit(item.handler);
      if (refusal?.fatal) {
        this.reportBlocked(item, refusal.error);
        continue;
      }
      if (depError !== null) {
        recordDependencySkip(this.dirs, item, depError);
        // Held back by a download failure: retried with it.
        if (depByDownload) this.downloadFailed.add(itemFullName(item));
        continue;
      }
      const ok = refusal ? this.reportBlocked(item, refusal.error) : await this.handleItem(item);
      if (!isDependedUpon(item, max)) continue;
      if (!ok) {
        depByDownload = this.downloadFailed.has(itemFullName(item));
        depError = dependencyMessages.failed(itemFullName(item));
      } else if (item.settings !== null) {
        depError = await this.waitForCompletion(item, deadline);
      }
    }
  }

  /** §6.1: poll the status of a depended-upon item until success/error or the goal-state deadline. */
  private async waitForCompletion(item: PlanItem, deadline: number): Promise<string | null> {
    const layout = this.dirs.safeLayoutFor(item.handler);
    if (!layout) return null;
    const ctx = statusContext(item, layout);
    let last: string | null = null;
    for (;;) {
      last = await handlingStatus(layout, ctx, { ...this.o.statusRead, attempts: 1 });
      if (last === null) return null;
      if (TERMINAL_STATUSES.includes(last)) {
        return last === 'success' ? null : dependencyMessages.notSucceeded(itemFullName(item), last);
      }
      if (this.now() >= deadline) return dependencyMessages.timedOut(itemFullName(item), last);
      await this.sleep(Math.min(this.o.dependencyPollMs ?? DEPENDENCY_POLL_MS, Math.max(0, deadline - this.now())));
    }
  }

  // -------------------------------------------------------------------------------------------------
  // One item (handle_ext_handler)

  /** Returns true on success (for dependency sequencing). Never throws. */
  handleItem(item: PlanItem): Promise<boolean> {
    return this.writing(() => this.handleOne(item));
  }

  private async handleOne(item: PlanItem): Promise<boolean> {
    const h = item.handler;
    let layout: HandlerLayout | undefined;
    this.inDownload = false;
    try {
      const invalid = invalidHandlerError(h);
      if (invalid) throw invalid;
      if (this.o.extensionsEnabled === false) return this.reportExtensionsDisabled(item);

      const installed = findInstalledVersion(this.o.roots, h.name);
      let versions: ManifestVersion[];
      try {
        this.inDownload = true;
        versions = await this.o.artifacts.fetchManifest(h);
        this.inDownload = false;
      } catch (e) {
        if (e instanceof ExtensionError) throw e;
        throw new ExtensionError(`Failed to get ext handler pkgs: ${errorMessage(e)}`, ErrorCodes.PluginManifestDownloadError);
      }
      const decision = decideVersion(h, versions, installed?.version);
      if (!decision.ok) {
        throw new ExtensionDownloadError(decision.error.message, decision.error.code);
      }
      layout = new HandlerLayout(this.o.roots, h.name, decision.version);
      this.dirs.resolve(h.name, decision.version);
      switch (h.state) {
        case 'enabled': await this.handleEnable(item, layout, installed, decision.pkg); break;
        case 'disabled': await this.handleDisable(item, layout); break;
        case 'uninstall': await this.handleUninstall(item, layout); break;
      }
      return true;
    } catch (e) {
      // A policy refusal (e.g. a failed signature) is final for this goal state: not a download to retry.
      if (this.inDownload && !(e instanceof PolicyBlockedError)) this.downloadFailed.add(itemFullName(item));
      this.inDownload = false;
      const where = layout ?? this.dirs.safeLayoutFor(h);
      if (e instanceof PolicyBlockedError) return this.reportBlocked(item, e, where);
      if (where) recordFailure(item, where, e);
      else log.warn(`[${itemFullName(item)}] ${failureStatus(e).message}`);
      return false;
    }
  }

  /** Blocked by policy or a failed signature check (policy/gate.ts): NotReady with the reason; never throws. */
  private reportBlocked(item: PlanItem, e: PolicyBlockedError, where?: HandlerLayout): boolean {
    this.gate.record(item, e, where ?? this.dirs.safeLayoutFor(item.handler));
    return false;
  }

  private reportExtensionsDisabled(item: PlanItem): boolean {
    const layout = this.dirs.safeLayoutFor(item.handler);
    if (layout) recordExtensionsDisabled(layout, item, this.o.confPath);
    return false;
  }

  // -------------------------------------------------------------------------------------------------
  // enabled

  private async handleEnable(item: PlanItem, layout: HandlerLayout, installed: HandlerLayout | undefined, pkg: ManifestVersion | undefined): Promise<void> {
    const h = item.handler;
    const setup = enableSetup(readHandlerState(layout), installed?.version, layout.version);
    let uninstallCode: string | undefined;
    let manifest: HandlerManifest;
    if (setup.download) {
      this.gate.requireSignature(h, layout, true);
      writeHandlerState(layout, 'NotInstalled');
      this.inDownload = true;
      manifest = await downloadHandler({
        artifacts: this.o.artifacts, budgetMs: this.o.downloadBudgetMs ?? 5 * 60_000, now: () => this.now(), shuffle: this.o.shuffle ?? shuffled,
        extract: (run) => this.gate.extract(h, layout, run),
      }, h, layout, pkg);
      this.inDownload = false;
      for (const w of initializeHandler(layout, manifest, { isMultiConfig: h.isMultiConfig, etp: this.o.etp })) log.warn(`[${layout.fullName}] ${w}`);
      this.writeSettings(item, layout);
      if (setup.kind === 'install') {
        await this.run(item, layout, manifest, 'install', item.settings, {});
        recordInstalled(layout, h);
      } else if (setup.kind === 'upgrade' || setup.kind === 'downgrade') {
        uninstallCode = await this.upgrade(item, installed!, layout, manifest, setup.kind);
      }
    } else {
      this.gate.requireSignature(h, layout, false);
      manifest = loadHandlerManifest(layout.manifestPath);
      checkMultiConfig(h.name, manifest, h.isMultiConfig);
      this.writeSettings(item, layout);
    }

    const what = itemCommand(item, (ext) => readExtensionState(layout, ext));
    if (what.action === 'enable') {
      try {
        await this.run(item, layout, manifest, 'enable', item.settings, uninstallCodeEnv(uninstallCode));
      } catch (e) {
        if (what.ext !== undefined && e instanceof ExtensionError) throw new MultiConfigEnableError(e);
        throw e;
      }
      writeHandlerState(layout, 'Enabled');
      writeHandlerStatus(layout, { ...SUCCESS_STATUS.enabled, supports_multi_config: h.isMultiConfig });
      if (what.ext !== undefined) writeExtensionState(layout, what.ext, 'enabled');
    } else if (what.action === 'disableAndRemove') {
      try {
        await this.run(item, layout, manifest, 'disable', item.settings, {});
      } catch (e) {
        // §6.2: MC disable errors are ignored; the extension's files go anyway.
        log.warn(`[${itemFullName(item)}] disable failed (ignored): ${errorMessage(e)}`);
      }
      removeExtensionFiles(layout, what.ext!);
      recordDisabled(layout, h);
    }
  }

  private writeSettings(item: PlanItem, layout: HandlerLayout): void {
    const ext = itemExtName(item);
    // An MC extension being removed keeps no settings file.
    if (ext !== undefined && item.settings?.state === 'disabled') return;
    writeSettingsFile(layout, item.settings, ext);
  }

  /** §3.4; returns the old uninstall's code for the new install/enable. */
  private async upgrade(item: PlanItem, old: HandlerLayout, cur: HandlerLayout, manifest: HandlerManifest, kind: 'upgrade' | 'downgrade'): Promise<string> {
    const h = item.handler;
    const oldManifest = loadHandlerManifest(old.manifestPath);
    const steps = upgradeSteps({
      kind, oldVersion: old.version, newVersion: cur.version, oldState: readHandlerState(old), handler: h,
      oldExtState: (ext) => readExtensionState(old, ext), updateWithInstall: manifest.updateWithInstall,
    });
    const cont = manifest.continueOnUpdateFailure;
    const disableCodes = new Map<string | undefined, string>();
    let uninstallCode = '0';
    const guarded = async (what: string, fn: () => Promise<void>): Promise<string> => {
      try {
        await fn();
        return '0';
      } catch (e) {
        const msg = `${errorMessage(e)}; ContinueOnUpdate: ${cont ? 'True' : 'False'}`;
        log.warn(`[${old.fullName}] ${what}: ${msg}`);
        if (!cont) throw new ExtensionUpdateError(msg);
        return String(handoverCode(e));
      }
    };
    for (const step of steps) {
      switch (step.kind) {
        case 'disableOld':
          for (const c of step.commands) {
            // As a plain disable: on success the old version's state and status say so (Installed, "Plugin
            // disabled"; MC: per extension) — they stay when the update then fails and the old version is kept.
            const code = await guarded('disable', async () => {
              await this.runOn(item, old, oldManifest, c);
              recordDisabledOf(old, h, c.ext, c.settings);
            });
            disableCodes.set(c.ext ?? c.settings?.name ?? h.name, code);
          }
          break;
        case 'copyStatus':
          copyStatusFiles(old, cur);
          break;
        case 'update': {
          const target = step.who === 'new' ? cur : old;
          try {
            await this.run(item, target, step.who === 'new' ? manifest : oldManifest, 'update', item.settings, updateEnv(h, step.version, step.fromVersion, disableCodes));
          } catch (e) {
            writeHandlerState(target, 'FailedUpgrade');
            // The command's own error goes on as is (code 1008 from the launcher, 1011 on a timeout): the
            // Python agent reports "[ExtensionOperationError] Non-zero exit code: ...", not a wrapped one.
            if (e instanceof ExtensionError) throw e;
            throw new ExtensionUpdateError(errorMessage(e));
          }
          break;
        }
        case 'uninstallOld':
          uninstallCode = await guarded('uninstall', () => this.run(item, old, oldManifest, 'uninstall', item.settings, {}).then(() => undefined));
          break;
        case 'removeOld':
          removeHandlerFiles(old);
          break;
        case 'install':
          await this.run(item, cur, manifest, 'install', item.settings, uninstallCodeEnv(uninstallCode));
          break;
        case 'setInstalled':
          recordInstalled(cur, h);
          break;
      }
    }
    return uninstallCode;
  }

  // -------------------------------------------------------------------------------------------------
  // disabled (legacy) and uninstall

  private async handleDisable(item: PlanItem, layout: HandlerLayout): Promise<void> {
    if (readHandlerState(layout) !== 'Enabled') return;
    const manifest = loadHandlerManifest(layout.manifestPath);
    await this.run(item, layout, manifest, 'disable', item.settings, {});
    if (itemExtName(item) !== undefined) writeExtensionState(layout, itemExtName(item)!, 'disabled');
    recordDisabled(layout, item.handler);
  }

  private async handleUninstall(item: PlanItem, layout: HandlerLayout): Promise<void> {
    const h = item.handler;
    if (readHandlerState(layout) !== 'NotInstalled') this.gate.requireSignature(h, layout, false);
    const plan = uninstallSteps(readHandlerState(layout), h, (ext) => readExtensionState(layout, ext));
    if (plan.uninstall) {
      const manifest = loadHandlerManifest(layout.manifestPath);
      for (const c of plan.disables) await this.runOn(item, layout, manifest, c); // a failure aborts the uninstall
      try {
        await this.run(item, layout, manifest, 'uninstall', item.settings, {});
      } catch (e) {
        log.warn(`[${layout.fullName}] uninstall failed (ignored, the handler is removed anyway): ${errorMessage(e)}`);
      }
    }
    removeHandlerFiles(layout);
    this.dirs.forget(h.name);
  }

  // -------------------------------------------------------------------------------------------------
  // Commands and downloads

  private runOn(item: PlanItem, layout: HandlerLayout, manifest: HandlerManifest, c: CommandStep): Promise<void> {
    const sub: PlanItem = { ...item, settings: c.settings };
    return this.run(sub, layout, manifest, c.op, c.settings, {}).then(() => undefined);
  }

  private async run(item: PlanItem, layout: HandlerLayout, manifest: HandlerManifest, op: Operation, settings: ExtensionSettings | null, extraEnv: Record<string, string>): Promise<void> {
    await launchCommand(launchOptionsFor(this.o, item, layout, manifest, op, settings, extraEnv));
  }

  // -------------------------------------------------------------------------------------------------
  // Reporting (§5.3, reporting.ts)

  /** The handlerAggregateStatus entries for the current goal state (called on every report cycle). */
  report(egs: ExtensionsGoalState): Promise<HandlerReport[]> {
    return collectHandlerReports(egs, {
      dirs: this.dirs, blocked: this.gate.blocked, now: () => this.now(),
      extensionsEnabled: this.o.extensionsEnabled, statusRead: this.o.statusRead, cache: this.reportCache,
    });
  }

  // -------------------------------------------------------------------------------------------------
  // §6.4 cleanup

  /** Removes handler dirs whose name is not in the goal state (no uninstall command) and orphan zips. */
  cleanup(egs: ExtensionsGoalState): void {
    if (this.lastAggregate?.code === ErrorCodes.GoalStateUnsupportedRequiredFeatures) return;
    removeOutdatedHandlers(this.o.roots, egs);
  }
}
