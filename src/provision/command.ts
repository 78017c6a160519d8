// `waagent -provision`: one-shot, cloud-init style. Provisions (or, on later boots, only reports
// Ready) and exits 0; on failure reports NotReady/ProvisioningFailed and exits non-zero.
//
// Test-only crash hook: when the environment variable WAAGENT_TEST_CRASH_AFTER names a step of
// STEPS (provision.ts), the process kills itself with SIGKILL right after that step completed. It
// exists so the end-to-end crash test can interrupt a run at exact points; unset (always, outside
// that test) it does nothing.
import type { Invocation } from '../util/invocation.ts';
import { EXIT } from '../util/exit.ts';
import { log } from '../util/logger.ts';
import { outcomeOk, provision, STEPS, type ProvisionOutcome } from './provision.ts';
import { settingsFromConfig } from './settings.ts';
import { WirePlatform } from './platform.ts';
import { openPlatform } from './connect.ts';

export const CRASH_HOOK_ENV = 'WAAGENT_TEST_CRASH_AFTER';

export function crashHook(env: NodeJS.ProcessEnv = process.env): ((step: string) => void) | undefined {
  const at = env[CRASH_HOOK_ENV];
  if (!at || !(STEPS as readonly string[]).includes(at)) return undefined;
  return (step) => {
    if (step === at) {
      log.warn(`${CRASH_HOOK_ENV}=${at}: killing this process (test hook)`);
      process.kill(process.pid, 'SIGKILL');
    }
  };
}

/** One provisioning run over the platform (the wiring shared with `-daemon`); the outcome is reported, not thrown. */
export async function provisionOnce(ctx: Invocation, afterStep?: (step: string) => void): Promise<ProvisionOutcome> {
  const settings = settingsFromConfig(ctx.config);
  // The daemon deletes the saved endpoint at start (a VHD may have moved); provisioning never trusts it.
  const conn = openPlatform(ctx, { skipSaved: true });
  try {
    const platform = new WirePlatform({ endpoint: conn.endpoint, libDir: conn.libDir, transport: conn.transport, openssl: conn.openssl });
    return await provision({ settings, root: ctx.root, runner: ctx.runner, platform, ...(afterStep ? { afterStep } : {}) });
  } finally {
    await conn.close();
  }
}

export async function runProvision(ctx: Invocation): Promise<number> {
  const outcome = await provisionOnce(ctx, crashHook());
  const ok = outcomeOk(outcome);
  if (!ok) log.error(`Provisioning ${outcome.status === 'failed' ? 'failed' : 'not reported'}: ${outcome.reason ?? 'unknown reason'}`);
  return ok ? EXIT.OK : EXIT.FAILURE;
}
