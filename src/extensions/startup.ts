// What the extension handler does once at service start (docs/extensions.md §6.5, §1.2, §6.3): remove what a
// killed agent left (leftovers.ts), migrate the legacy handler_state/ layout, rewrite HandlerEnvironment.json
// of every handler dir (which also recreates a missing events/), tighten certificate modes, and optionally
// wait for cloud-init.
import { chmodSync, existsSync, lstatSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../util/exec.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { HandlerLayout, listHandlerDirs, type LayoutRoots } from './layout.ts';
import { writeHandlerEnvironment } from './handlerEnvironment.ts';
import { sweepExtensionLeftovers } from './leftovers.ts';

/** LIB/handler_state/<H-V>/{state,status} -> <H-V>/config/{HandlerState,HandlerStatus}, then drop handler_state/. */
export function migrateHandlerState(libDir: string): void {
  const legacy = join(libDir, 'handler_state');
  if (!existsSync(legacy)) return;
  let entries: string[] = [];
  try { entries = readdirSync(legacy); } catch { /* unreadable: just remove below */ }
  for (const handler of entries) {
    const config = join(libDir, handler, 'config');
    if (!existsSync(config)) continue;
    for (const [from, to] of [['state', 'HandlerState'], ['status', 'HandlerStatus']] as const) {
      const src = join(legacy, handler, from);
      const dst = join(config, to);
      try {
        if (existsSync(src) && lstatSync(src).isFile() && !existsSync(dst)) renameSync(src, dst);
      } catch (e) {
        log.warn(`Exception occurred migrating ${handler} ${from} file: ${errorText(e)}`);
      }
    }
  }
  try { rmSync(legacy, { recursive: true, force: true }); } catch (e) { log.warn(`Exception occurred removing ${legacy}: ${errorText(e)}`); }
}

/** Rewrites HandlerEnvironment.json for every `<Name>-<Version>` dir (errors logged per handler). */
export function rewriteHandlerEnvironments(roots: LayoutRoots, etp = true): number {
  let n = 0;
  for (const d of listHandlerDirs(roots.libDir)) {
    try {
      writeHandlerEnvironment(new HandlerLayout(roots, d.name, d.version), { etp });
      n++;
    } catch (e) {
      log.warn(`rewriting HandlerEnvironment.json of ${d.dirName}: ${errorText(e)}`);
    }
  }
  return n;
}

const SECRET_FILE = /\.(crt|p7m|pem|prv)$|^(Certificates\.xml|ovf-env\.xml)$/;

/** chmod 0400 the certificate/key files and ovf-env.xml directly in Lib.Dir (regular files only). */
export function protectCertificateFiles(libDir: string): void {
  let names: string[] = [];
  try { names = readdirSync(libDir); } catch { return; }
  for (const n of names) {
    if (!SECRET_FILE.test(n)) continue;
    const p = join(libDir, n);
    try {
      if (lstatSync(p).isFile()) chmodSync(p, 0o400);
    } catch (e) {
      log.warn(`chmod 0400 ${p}: ${errorText(e)}`);
    }
  }
}

/** All start-up steps; never throws (the extension handler must start anyway). */
export function extensionHandlerStartup(roots: LayoutRoots, etp = true): void {
  for (const [what, fn] of [
    ['removing leftovers of an interrupted agent', () => sweepExtensionLeftovers(roots.libDir)],
    ['migrating handler state', () => migrateHandlerState(roots.libDir)],
    ['rewriting HandlerEnvironment.json', () => rewriteHandlerEnvironments(roots, etp)],
    ['protecting certificate files', () => protectCertificateFiles(roots.libDir)],
  ] as const) {
    try { fn(); } catch (e) { log.warn(`extension handler start-up, ${what}: ${errorText(e)}`); }
  }
}

/**
 * Extensions.WaitForCloudInit: `cloud-init status --wait` before the first extension runs after a
 * service start, bounded by Extensions.WaitForCloudInitTimeout; any failure is logged and we go on.
 * Returns true when cloud-init reported done.
 */
export async function waitForCloudInit(runner: Runner, timeoutSec = 3600): Promise<boolean> {
  log.info(`Waiting for cloud-init to complete (timeout ${timeoutSec} s)`);
  const r = await runner.run(['cloud-init', 'status', '--wait'], { timeoutMs: timeoutSec * 1000, maxOutput: 64 * 1024 });
  if (r.timedOut) {
    log.warn(`cloud-init did not complete within ${timeoutSec} s; processing extensions anyway`);
    return false;
  }
  if (r.code !== 0) {
    log.warn(`cloud-init status --wait exited with ${r.code}: ${r.stderr.trim().slice(0, 500)}; processing extensions anyway`);
    return false;
  }
  log.info(`cloud-init completed: ${r.stdout.trim().slice(0, 200)}`);
  return true;
}
