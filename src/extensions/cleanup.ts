// §6.4 cleanup after a goal state (docs/extensions.md): handler directories whose name is no longer in
// the goal state are removed without running their uninstall command, and package zips whose handler
// directory is gone are deleted. The agent's own packages (WALinuxAgent-*) are never touched.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { ExtensionsGoalState } from '../platform/types.ts';
import { log } from '../util/logger.ts';
import { HandlerLayout, type LayoutRoots, listHandlerDirs } from './layout.ts';
import { removeHandlerFiles } from './state.ts';

/** Removes handler dirs whose name is not in the goal state (no uninstall command) and orphan zips. */
export function removeOutdatedHandlers(roots: LayoutRoots, egs: ExtensionsGoalState): void {
  const names = new Set(egs.handlers.map((h) => h.name));
  for (const d of listHandlerDirs(roots.libDir)) {
    if (names.has(d.name)) continue;
    log.info(`removing ${d.dirName}: no longer in the goal state`);
    removeHandlerFiles(new HandlerLayout(roots, d.name, d.version));
  }
  let entries: string[] = [];
  try { entries = readdirSync(roots.libDir); } catch { return; }
  for (const n of entries) {
    const m = /^(.+?)(?:__|-)(\d+(?:\.\d+)*)\.zip$/i.exec(n);
    if (!m || /^WALinuxAgent/i.test(n)) continue;
    const p = join(roots.libDir, n);
    try {
      if (statSync(p).isFile() && !existsSync(join(roots.libDir, `${m[1]}-${m[2]}`))) rmSync(p, { force: true });
    } catch { /* raced: fine */ }
  }
}
