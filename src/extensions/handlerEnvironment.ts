// HandlerEnvironment.json (docs/extensions.md §1.2): the one file every extension reads to find its folders.
// Exactly the Python agent's json.dumps output: a one-element array, key order as below, schema
// version the float 1.0, no seqNo key. CustomScript requires exactly one element.
import { mkdirSync, chmodSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.ts';
import type { HandlerLayout } from './layout.ts';
import { pyDumps, pyFloat } from './pyjson.ts';

export interface HandlerEnvironmentOptions {
  /** Extension Telemetry Pipeline: adds eventsFolder(+_preview). Always on in the Python agent. */
  etp?: boolean;
}

export function handlerEnvironmentJson(layout: HandlerLayout, opts: HandlerEnvironmentOptions = {}): string {
  const env: Record<string, string> = {
    logFolder: layout.logDir,
    configFolder: layout.configDir,
    statusFolder: layout.statusDir,
    heartbeatFile: layout.heartbeatPath,
  };
  if (opts.etp ?? true) {
    env['eventsFolder'] = layout.eventsDir;
    env['eventsFolder_preview'] = layout.eventsDir;
  }
  return pyDumps([{ name: layout.name, version: pyFloat(1.0), handlerEnvironment: env }]);
}

/**
 * Writes HandlerEnvironment.json (0644: extensions read it) and makes sure the log folder (0755) and,
 * with ETP, its events folder (0700) exist. Idempotent: the agent rewrites it at every start.
 */
export function writeHandlerEnvironment(layout: HandlerLayout, opts: HandlerEnvironmentOptions = {}): void {
  mkdirSync(layout.logDir, { recursive: true, mode: 0o755 });
  if (opts.etp ?? true) {
    mkdirSync(layout.eventsDir, { recursive: true, mode: 0o700 });
    chmodSync(layout.eventsDir, 0o700);
  }
  writeFileAtomic(layout.environmentPath, handlerEnvironmentJson(layout, opts), { mode: 0o644 });
}
