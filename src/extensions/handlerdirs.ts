// Which version directory a handler's files are in: the version last resolved for it in this process
// (so reports name the directory actually used), else the installed one, else the highest on disk, else
// the goal state's. Shared by processing (executor.ts), reporting (reporting.ts) and cleanup.
import type { ExtensionHandler } from '../platform/types.ts';
import { HandlerLayout, type LayoutRoots, listHandlerDirs } from './layout.ts';
import { findInstalledVersion } from './state.ts';
import { compareVersions } from './versions.ts';

export class HandlerDirs {
  private readonly roots: LayoutRoots;
  /** The version last resolved for a handler. */
  private readonly resolved = new Map<string, string>();
  private readonly layouts = new Map<string, HandlerLayout>();

  constructor(roots: LayoutRoots) {
    this.roots = roots;
  }

  /** Records the version processing chose for a handler. */
  resolve(name: string, version: string): void {
    this.resolved.set(name, version);
  }

  /** Forgets a handler whose files were removed. */
  forget(name: string): void {
    this.resolved.delete(name);
  }

  /** Throws on an invalid name or version (which never gets a directory). */
  layoutFor(h: ExtensionHandler): HandlerLayout {
    const v = this.resolved.get(h.name) ?? findInstalledVersion(this.roots, h.name)?.version ?? highestDir(this.roots, h.name) ?? h.version;
    // Layouts are immutable: one per name and version, reused by every report cycle (bounded).
    const key = `${h.name}\0${v}`;
    let l = this.layouts.get(key);
    if (!l) {
      l = new HandlerLayout(this.roots, h.name, v);
      if (this.layouts.size >= 1024) this.layouts.clear();
      this.layouts.set(key, l);
    }
    return l;
  }

  safeLayoutFor(h: ExtensionHandler): HandlerLayout | undefined {
    try {
      return this.layoutFor(h);
    } catch {
      return undefined; // an invalid name or version never gets a directory
    }
  }
}

function highestDir(roots: LayoutRoots, name: string): string | undefined {
  let best: string | undefined;
  for (const d of listHandlerDirs(roots.libDir)) {
    if (d.name === name && (best === undefined || compareVersions(d.version, best) > 0)) best = d.version;
  }
  return best;
}
