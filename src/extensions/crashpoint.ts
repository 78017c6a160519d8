// Test-only crash points of the extension pipeline, for the end-to-end crash test (test/e2e/ext-crash):
// when WAAGENT_TEST_CRASH_AFTER (the provisioning crash test's hook) names one of EXT_CRASH_STEPS, the
// process kills itself with SIGKILL at that point:
//   ext-download   the first bytes of a package are on disk (a partial zip)
//   ext-extracted  a package was extracted into its handler dir, nothing run yet
//   ext-status     the "Plugin enabled" handler status is written to its temp file, not yet renamed
// Unset (always, outside that test) it costs one environment read per executor.
import { readFileSync } from 'node:fs';
import { setBeforeRenameHook } from '../util/atomic.ts';
import { log } from '../util/logger.ts';

export const CRASH_ENV = 'WAAGENT_TEST_CRASH_AFTER';
export const EXT_CRASH_STEPS = ['ext-download', 'ext-extracted', 'ext-status'] as const;
export type ExtCrashStep = (typeof EXT_CRASH_STEPS)[number];

let armed: ExtCrashStep | null = null;

function die(step: string): never {
  log.warn(`${CRASH_ENV}=${step}: killing this process (test hook)`);
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}

/** Reads the environment once (the executor's constructor). */
export function armCrashPoints(env: NodeJS.ProcessEnv = process.env): void {
  const v = env[CRASH_ENV];
  armed = v && (EXT_CRASH_STEPS as readonly string[]).includes(v) ? v as ExtCrashStep : null;
  if (armed === 'ext-status') {
    setBeforeRenameHook((tmp, target) => {
      if (target.endsWith('/config/HandlerStatus') && readFileSync(tmp, 'utf8').includes('"Plugin enabled"')) die('ext-status');
    });
  }
}

export function crashPoint(step: ExtCrashStep): void {
  if (armed === step) die(step);
}
