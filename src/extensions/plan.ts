// The goal state -> what to do, as pure functions (docs/extensions.md §3.3–3.4, §3.9, §6.1–6.2). Nothing here
// touches the disk or runs anything: the executor feeds in what it found locally (HandlerState, installed
// version, MC extension states, the manifest it downloaded) and runs the steps in the order given.
import type { ExtensionHandler, ExtensionSettings, ManifestVersion } from '../platform/types.ts';
import { ErrorCodes, ExtensionDownloadError, ExtensionError, ExtensionsGoalStateError, ExtensionUpdateError } from './errors.ts';
import type { Operation } from './manifest.ts';
import { ENV, NOT_RUN } from './launcher.ts';
import { pyDumps } from './pyjson.ts';
import type { ExtensionState, HandlerState } from './state.ts';
import { compareVersions, selectVersion } from './versions.ts';
import { errorText } from '../util/errors.ts';

// ---------------------------------------------------------------------------------------------------
// §6.1 ordering

export interface PlanItem {
  handler: ExtensionHandler;
  /** null: a handler without settings, processed once at handler level. */
  settings: ExtensionSettings | null;
  /** Dependency sort key: enables ascending by level; disable/uninstall first, remapped to -level-1. */
  key: number;
}

export function sortKey(handler: ExtensionHandler, settings: ExtensionSettings | null): number {
  const level = settings ? (Number.isInteger(settings.dependencyLevel) ? settings.dependencyLevel : 0) : 0;
  const enabled = handler.state === 'enabled' && (settings === null || settings.state === 'enabled');
  return enabled ? level : -level - 1;
}

/** Every (settings item, handler) pair in processing order (stable: goal-state order breaks ties). */
export function orderItems(handlers: readonly ExtensionHandler[]): PlanItem[] {
  const items: PlanItem[] = [];
  for (const h of handlers) {
    if (h.settings.length === 0) items.push({ handler: h, settings: null, key: sortKey(h, null) });
    else for (const s of h.settings) items.push({ handler: h, settings: s, key: sortKey(h, s) });
  }
  // Array.prototype.sort is stable (ES2019), which the tie-break relies on.
  return items.sort((a, b) => a.key - b.key);
}

/** max key of the ordered list (0 when empty). */
export function maxKey(items: readonly PlanItem[]): number {
  return items.length === 0 ? 0 : items[items.length - 1]!.key;
}

/** After an item with key k, later items depend on it when 0 <= k < max. */
export function isDependedUpon(item: PlanItem, max: number): boolean {
  return item.key >= 0 && item.key < max;
}

/** `<H>` for single-config, `<H>.<ext>` for multi-config: the name in messages, events and slices. */
export function itemFullName(item: Pick<PlanItem, 'handler' | 'settings'>): string {
  return item.handler.isMultiConfig && item.settings ? `${item.handler.name}.${item.settings.name}` : item.handler.name;
}

/** The extension name for MC file names/env (undefined for single-config). */
export function itemExtName(item: Pick<PlanItem, 'handler' | 'settings'>): string | undefined {
  return item.handler.isMultiConfig && item.settings ? item.settings.name : undefined;
}

/** The overall wait for dependencies: 90 minutes from the start of the goal state. */
export const DEPENDENCY_WAIT_MS = 90 * 60 * 1000;
export const DEPENDENCY_POLL_MS = 5000;

export const dependencyMessages = {
  failed: (name: string) => `Skipping processing of extensions since execution of dependent extension ${name} failed`,
  timedOut: (name: string, last: string | null) => `Dependent Extension ${name} did not reach a terminal state within the allowed timeout. Last status was ${last}`,
  notSucceeded: (name: string, status: string | null) => `Dependent Extension ${name} did not succeed. Status was ${status}`,
};

// ---------------------------------------------------------------------------------------------------
// §3.3 step 1: version decision

export type VersionDecision =
  | { ok: true; version: string; pkg: ManifestVersion | undefined }
  | { ok: false; error: ExtensionError };

/**
 * enabled: the highest manifest version matching the requested (possibly partial) one; none => error
 * "Unable to find version ...". disabled/uninstall: the installed version (else the requested one), and
 * its exact package if the manifest still lists it (an unregistered version can still be uninstalled).
 */
export function decideVersion(handler: ExtensionHandler, versions: readonly ManifestVersion[], installed: string | undefined): VersionDecision {
  const sorted = [...versions].sort((a, b) => compareVersions(a.version, b.version));
  if (handler.state === 'enabled') {
    const v = selectVersion(handler.version, sorted.map((p) => p.version));
    if (v === undefined) return { ok: false, error: new ExtensionError(`Unable to find version ${handler.version} in manifest for extension ${handler.name}`, ErrorCodes.Unknown) };
    return { ok: true, version: v, pkg: sorted.filter((p) => p.version === v).pop() };
  }
  const version = installed ?? handler.version;
  return { ok: true, version, pkg: sorted.find((p) => compareVersions(p.version, version) === 0) };
}

// ---------------------------------------------------------------------------------------------------
// §3.3 step 2: what an item needs

export type SetupKind = 'none' | 'install' | 'upgrade' | 'downgrade';

/**
 * For an enabled handler: does the target version need setting up (download/initialize/settings), and how
 * (fresh install, or an upgrade/downgrade from the installed version)?
 */
export function enableSetup(targetState: HandlerState, installed: string | undefined, target: string): { download: boolean; kind: SetupKind } {
  if (targetState !== 'NotInstalled' && targetState !== 'FailedUpgrade') return { download: false, kind: 'none' };
  if (installed === undefined) return { download: true, kind: 'install' };
  const c = compareVersions(target, installed);
  if (c === 0) return { download: true, kind: 'install' };
  return { download: true, kind: c > 0 ? 'upgrade' : 'downgrade' };
}

/** A command to run, by which instance, for which MC extension (undefined: handler level / SC). */
export interface CommandStep {
  who: 'old' | 'new';
  op: Operation;
  /** MC extension name; undefined for SC or handler-level commands. */
  ext?: string;
  /** The settings item whose seq/ext the command gets (null: handler without settings => seq 0). */
  settings: ExtensionSettings | null;
}

/**
 * The disable commands an instance in `state` needs before update/uninstall (§3.3 uninstall, §3.4 step a):
 * nothing unless Enabled; SC without settings => one handler-level disable; SC => one per settings item;
 * MC => only extensions whose local state file says enabled.
 */
export function disablesFor(
  who: 'old' | 'new', state: HandlerState, handler: ExtensionHandler, localExtState: (ext: string) => ExtensionState,
): CommandStep[] {
  if (state !== 'Enabled') return [];
  if (handler.settings.length === 0) return [{ who, op: 'disable', settings: null }];
  if (!handler.isMultiConfig) return handler.settings.map((s) => ({ who, op: 'disable', settings: s }));
  return handler.settings.filter((s) => localExtState(s.name) === 'enabled').map((s) => ({ who, op: 'disable', ext: s.name, settings: s }));
}

export type UpgradeStep =
  | { kind: 'disableOld'; commands: CommandStep[] }
  | { kind: 'copyStatus' }
  /** Env: updateEnv(handler, version, fromVersion, <codes recorded by disableOld>). */
  | { kind: 'update'; who: 'old' | 'new'; version: string; fromVersion: string }
  | { kind: 'uninstallOld' }
  | { kind: 'removeOld' }
  | { kind: 'install' }
  | { kind: 'setInstalled' };

/**
 * §3.4: the upgrade/downgrade sequence. `updateWithInstall` comes from the NEW manifest. The executor runs
 * the steps in order; failures of disableOld/uninstallOld follow continueOnUpdateFailure (new manifest):
 * false => ExtensionUpdateError 1008 and stop; true => record the code (handoverCode) and go on. A failing
 * update marks the instance that ran it FailedUpgrade and stops with 1008.
 */
export function upgradeSteps(args: {
  kind: 'upgrade' | 'downgrade';
  oldVersion: string;
  newVersion: string;
  oldState: HandlerState;
  handler: ExtensionHandler;
  oldExtState: (ext: string) => ExtensionState;
  updateWithInstall: boolean;
}): UpgradeStep[] {
  const { kind, oldVersion, newVersion, handler } = args;
  const disables = disablesFor('old', args.oldState, handler, args.oldExtState);
  const steps: UpgradeStep[] = [];
  if (disables.length > 0) steps.push({ kind: 'disableOld', commands: disables });
  steps.push({ kind: 'copyStatus' });
  steps.push({
    kind: 'update',
    // Downgrade: the OLD (higher) version's updateCommand runs, and both variables name the target (sic).
    who: kind === 'upgrade' ? 'new' : 'old',
    version: newVersion,
    fromVersion: kind === 'upgrade' ? oldVersion : newVersion,
  });
  steps.push({ kind: 'uninstallOld' }, { kind: 'removeOld' });
  if (args.updateWithInstall) steps.push({ kind: 'install' });
  steps.push({ kind: 'setInstalled' });
  return steps;
}

/**
 * Variables of the update command. `codes` maps the disabled item (SC: undefined key or the handler name;
 * MC: extension name) to its recorded exit code string.
 * Deliberate: a disable that did not run is NOT_RUN, as the Python agent intends (`defaultdict(lambda:
 * NOT_RUN)`); it actually sends "None" because it reads that dict with `.get()` (seen running WALinuxAgent
 * 2.15 against the same e2e tests, test/e2e/ext-upgrade.test.ts).
 */
export function updateEnv(handler: ExtensionHandler, version: string, fromVersion: string, codes: Map<string | undefined, string>): Record<string, string> {
  const env: Record<string, string> = { [ENV.version]: version, [ENV.updatingFromVersion]: fromVersion };
  if (handler.isMultiConfig) {
    env[ENV.disableExitCodesMulti] = pyDumps(handler.settings.map((s) => ({ extensionName: s.name, exitCode: codes.get(s.name) ?? NOT_RUN })));
  } else {
    // SC: one disable (handler level or the single settings item); its code or NOT_RUN.
    const first = [...codes.values()][0];
    env[ENV.disableExitCode] = first ?? NOT_RUN;
  }
  return env;
}

/** install/enable after an upgrade get the old uninstall's code; otherwise NOT_RUN (launcher default). */
export function uninstallCodeEnv(code: string | undefined): Record<string, string> {
  return { [ENV.uninstallExitCode]: code ?? NOT_RUN };
}

/** §3.3 uninstall: disables (if Enabled), then uninstall (errors swallowed), then removal of the dir. */
export function uninstallSteps(state: HandlerState, handler: ExtensionHandler, localExtState: (ext: string) => ExtensionState): { disables: CommandStep[]; uninstall: boolean } {
  if (state === 'NotInstalled') return { disables: [], uninstall: false };
  return { disables: disablesFor('new', state, handler, localExtState), uninstall: true };
}

/** §3.3 legacy "disabled": disable only if Enabled (per item). */
export function legacyDisableNeeded(state: HandlerState): boolean {
  return state === 'Enabled';
}

/**
 * After setup, what the item itself runs (§3.3 "then:"): handler-level enable, enable(ext), or for an MC
 * extension the goal state marks disabled, a disable (errors ignored) plus removal of its files, unless the
 * extension is already disabled locally.
 */
export function itemCommand(item: PlanItem, localExtState: (ext: string) => ExtensionState): { action: 'enable' | 'disableAndRemove' | 'none'; ext?: string } {
  const s = item.settings;
  if (s === null) return { action: 'enable' };
  const ext = itemExtName(item);
  if (s.state === 'enabled') return { action: 'enable', ext };
  if (ext !== undefined && localExtState(ext) !== 'disabled') return { action: 'disableAndRemove', ext };
  return { action: 'none', ext };
}

// ---------------------------------------------------------------------------------------------------
// §3.9 what a failure is reported as

export function failureStatus(e: unknown): { message: string; code: number; operation: string } {
  if (e instanceof ExtensionsGoalStateError) {
    return { message: `Ran into config errors: ${e.describe()}. \nPlease retry again as another operation with updated settings`, code: e.code, operation: 'InvalidExtensionConfig' };
  }
  if (e instanceof ExtensionUpdateError) return { message: e.describe(), code: e.code, operation: 'Update' };
  if (e instanceof ExtensionDownloadError) return { message: `Failed to download artifacts: ${e.describe()}`, code: e.code, operation: 'Download' };
  if (e instanceof ExtensionError) return { message: e.describe(), code: e.code, operation: 'Enable' };
  return { message: errorText(e), code: ErrorCodes.Unknown, operation: 'Enable' };
}

/** A handler the goal-state parser marked invalid fails with this error (§3.3 step 0). */
export function invalidHandlerError(handler: ExtensionHandler): ExtensionsGoalStateError | null {
  return handler.invalidReason ? new ExtensionsGoalStateError(handler.invalidReason) : null;
}

/** §6.3 Extensions.Enabled=n: every item NotReady with this message; 1009 for enable, 1010 otherwise. */
export function extensionsDisabledStatus(item: PlanItem, confPath = '/etc/waagent.conf'): { message: string; code: number } {
  return {
    message: `Extension '${itemFullName(item)}' will not be processed since extension processing is disabled. To enable extension processing, set Extensions.Enabled=y in '${confPath}'`,
    code: item.handler.state === 'enabled' ? ErrorCodes.PluginEnableProcessingFailed : ErrorCodes.PluginDisableProcessingFailed,
  };
}

/** §3.5 handler status after each successful operation. */
export const SUCCESS_STATUS = {
  installed: { status: 'NotReady', code: 0, message: 'Plugin installed but not enabled' },
  enabled: { status: 'Ready', code: 0, message: 'Plugin enabled' },
  disabled: { status: 'NotReady', code: 0, message: 'Plugin disabled' },
} as const;

/** Required features the goal state asks for that we do not implement (non-empty => fail with 2001). */
export function unsupportedFeatures(required: readonly { name: string }[], supported: readonly string[]): string[] {
  return required.map((f) => f.name).filter((n) => !supported.includes(n));
}
