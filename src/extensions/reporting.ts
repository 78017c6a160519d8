// What the handler's state and status files say after each item (docs/extensions.md §3.6, §6.1–6.3),
// and the handlerAggregateStatus entries gathered from them on every report cycle (§5.3). Writing a
// failure's status never throws: a handler directory that cannot be written only costs a log line.
import { readdirSync } from 'node:fs';
import type { ExtensionHandler, ExtensionSettings, ExtensionsGoalState } from '../platform/types.ts';
import { log } from '../util/logger.ts';
import { ErrorCodes, MultiConfigEnableError, errorMessage } from './errors.ts';
import type { HandlerLayout } from './layout.ts';
import { loadHandlerManifest } from './manifest.ts';
import type { HandlerDirs } from './handlerdirs.ts';
import {
  readExtensionState, readHandlerState, readHandlerStatus, removeExtensionFiles, writeExtensionState, writeHandlerState,
  writeHandlerStatus, writePlaceholderStatus, type HandlerStatus,
} from './state.ts';
import { collectExtensionStatus, readHeartbeat, type ReadStatusOptions } from './statusFile.ts';
import { SUCCESS_STATUS, extensionsDisabledStatus, failureStatus, itemExtName, itemFullName, type PlanItem } from './plan.ts';
import type { HandlerReport } from './aggregate.ts';
import { withHeartbeat } from './policy/gate.ts';
import type { FileCache } from '../util/filecache.ts';

/** Who an item's status file belongs to, as statusFile.ts reads it. */
export function statusContext(item: PlanItem, layout: HandlerLayout) {
  return { handlerName: item.handler.name, handlerVersion: layout.version, ext: itemExtName(item), name: item.settings?.name ?? item.handler.name, seq: item.settings?.sequenceNumber ?? -1 };
}

/** §6.1: an item skipped because a handler it depends on failed (or did not finish). */
export function recordDependencySkip(dirs: HandlerDirs, item: PlanItem, message: string): void {
  const ext = itemExtName(item);
  try {
    const layout = dirs.layoutFor(item.handler);
    if (ext === undefined) {
      writeHandlerStatus(layout, { status: 'NotReady', code: ErrorCodes.Unknown, message, supports_multi_config: false });
    } else {
      if (readHandlerStatus(layout) === null) writeHandlerStatus(layout, { status: 'NotReady', code: ErrorCodes.Unknown, message, supports_multi_config: true });
      writePlaceholderStatus(layout, item.settings!.sequenceNumber, { ext, operation: 'Enable', code: ErrorCodes.Unknown, message, overwrite: false });
    }
  } catch (e) {
    log.warn(`recording the dependency skip of ${itemFullName(item)}: ${errorMessage(e)}`);
  }
}

/** After an install (or an upgrade's install): Installed, "Plugin installed". */
export function recordInstalled(layout: HandlerLayout, h: ExtensionHandler): void {
  writeHandlerState(layout, 'Installed');
  writeHandlerStatus(layout, { ...SUCCESS_STATUS.installed, supports_multi_config: h.isMultiConfig });
}

/** After one successful disable: an MC extension is marked disabled (or its files go if it was deleted). */
export function recordDisabledOf(layout: HandlerLayout, h: ExtensionHandler, ext: string | undefined, settings: ExtensionSettings | null): void {
  if (h.isMultiConfig && ext !== undefined) {
    if (settings?.state === 'disabled') removeExtensionFiles(layout, ext);
    else writeExtensionState(layout, ext, 'disabled');
  }
  recordDisabled(layout, h);
}

/** SC, or MC once no extension remains enabled: Installed / "Plugin disabled". */
export function recordDisabled(layout: HandlerLayout, h: ExtensionHandler): void {
  if (h.isMultiConfig) {
    let anyEnabled = false;
    try {
      anyEnabled = readdirSync(layout.configDir).some((n) => n.endsWith('.HandlerState') && n !== 'HandlerState'
        && readExtensionState(layout, n.slice(0, -'.HandlerState'.length)) === 'enabled');
    } catch { /* no config dir: nothing enabled */ }
    if (anyEnabled) return;
  }
  writeHandlerState(layout, 'Installed');
  writeHandlerStatus(layout, { ...SUCCESS_STATUS.disabled, supports_multi_config: h.isMultiConfig });
}

/** A failed item: handler NotReady with the error (an MC enable failure: only that extension's status). */
export function recordFailure(item: PlanItem, layout: HandlerLayout, e: unknown): void {
  const f = failureStatus(e);
  const ext = itemExtName(item);
  log.warn(`[${itemFullName(item)}] ${f.message}`);
  try {
    if (e instanceof MultiConfigEnableError) {
      // The handler is fine; only this extension failed: its own status says so.
      writePlaceholderStatus(layout, item.settings!.sequenceNumber, {
        ext, operation: 'Enable', code: e.inner.code, overwrite: true,
        message: `Error processing MultiConfig extension ${itemFullName(item)}: ${e.inner.describe()}`,
      });
      return;
    }
    writeHandlerStatus(layout, { status: 'NotReady', code: f.code, message: f.message, supports_multi_config: item.handler.isMultiConfig });
    if (ext !== undefined && item.settings) {
      writePlaceholderStatus(layout, item.settings.sequenceNumber, { ext, operation: f.operation, code: f.code, message: f.message, overwrite: false });
    }
  } catch (err) {
    log.warn(`recording the failure of ${itemFullName(item)}: ${errorMessage(err)}`);
  }
}

/** Extensions.Enabled=n: the item's "not processed" status. */
export function recordExtensionsDisabled(layout: HandlerLayout, item: PlanItem, confPath: string | undefined): void {
  const { message, code } = extensionsDisabledStatus(item, confPath);
  writeHandlerStatus(layout, { status: 'NotReady', code, message, supports_multi_config: item.handler.isMultiConfig });
  if (item.handler.state === 'enabled' && item.settings) {
    // No command ran, so no operation (the Python agent writes its handler's unset operation: null).
    writePlaceholderStatus(layout, item.settings.sequenceNumber, { ext: itemExtName(item), operation: null, code, message, overwrite: true });
  }
}

export interface ReportContext {
  dirs: HandlerDirs;
  /** Handlers the policy blocked in the current goal state (policy/gate.ts). */
  blocked: ReadonlySet<string>;
  now: () => number;
  extensionsEnabled: boolean | undefined;
  statusRead: ReadStatusOptions | undefined;
  /** Results of unchanged files from the previous cycles (the idle poll stats instead of reading; util/filecache.ts). */
  cache?: FileCache;
}

/** The handlerAggregateStatus entries for the current goal state (called on every report cycle). */
export async function collectHandlerReports(egs: ExtensionsGoalState, c: ReportContext): Promise<HandlerReport[]> {
  const out: HandlerReport[] = [];
  for (const h of egs.handlers) {
    const layout = c.dirs.safeLayoutFor(h);
    if (!layout) continue;
    // Files only the agent writes (the executor distrusts them while it works): no stat per poll.
    const own = <T>(kind: string, path: string, load: () => T): T => (c.cache ? c.cache.getOwn(kind, path, load) : load());
    let hs: HandlerStatus | null = own('HandlerStatus', layout.handlerStatusPath, () => readHandlerStatus(layout));
    if (hs === null) continue;
    const state = own('HandlerState', layout.handlerStatePath, () => readHandlerState(layout));
    if (state !== 'NotInstalled') {
      try {
        const m = own('HandlerManifest', layout.manifestPath, () => loadHandlerManifest(layout.manifestPath));
        if (m.reportHeartbeat) {
          const before = hs;
          const hb = readHeartbeat(hs, layout, c.now());
          // A blocked handler keeps its NotReady status and code; the heartbeat only adds to the message (2.15).
          hs = c.blocked.has(h.name) && !hb.failed ? withHeartbeat(before, hb.status) : hb.status;
          // Only a failure is persisted, like the Python agent (which then reports it from its next cycle on);
          // and only when it changed: reports run every few seconds.
          if (hb.failed && (hs.status !== before.status || hs.code !== before.code || hs.message !== before.message)) {
            writeHandlerStatus(layout, hs);
            c.cache?.distrust();
          }
        }
      } catch { /* no manifest: no heartbeat */ }
    }
    const items = h.settings.length === 0 ? [null] : h.settings;
    for (const s of items) {
      const item: PlanItem = { handler: h, settings: s, key: 0 };
      const ext = itemExtName(item);
      if (ext !== undefined && s?.state === 'disabled' && own('ExtensionState', layout.extensionStatePath(ext), () => readExtensionState(layout, ext)) === 'disabled') continue;
      let extension = null;
      if (s !== null && (state !== 'NotInstalled' || h.isMultiConfig || c.extensionsEnabled === false || c.blocked.has(h.name))) {
        const sc = statusContext(item, layout);
        const collect = () => collectExtensionStatus(layout, sc, c.statusRead);
        extension = c.cache && sc.seq >= 0 ? await c.cache.getAsync(`status:${sc.name}`, layout.statusPath(sc.seq, sc.ext), collect) : await collect();
      }
      out.push({ handler: { ...hs }, extension, isMultiConfig: h.isMultiConfig });
    }
  }
  return out;
}
