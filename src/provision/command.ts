// `waagent -provision`: one-shot, cloud-init style. Provisions (or, on later boots, only reports
// Ready) and exits 0; on failure reports NotReady/ProvisioningFailed and exits non-zero.
//
// Test-only crash hook: when the environment variable WAAGENT_TEST_CRASH_AFTER names a step of
// STEPS (provision.ts), the process kills itself with SIGKILL right after that step completed. It
// exists so the end-to-end crash test can interrupt a run at exact points; unset (always, outside
// that test) it does nothing.
import type { Invocation } from '../util/invocation.ts';
import { EXIT } from '../util/exit.ts';
import { HttpClient } from '../platform/http.ts';
import { discoverEndpoint } from '../platform/endpoint.ts';
import { OpenSsl } from '../crypto/openssl.ts';
import { findWireServerInLeases, readRouteTable } from '../os/network/leases.ts';
import { log } from '../util/logger.ts';
import { outcomeOk, provision, STEPS, type ProvisionOutcome } from './provision.ts';
import { settingsFromConfig } from './settings.ts';
import { WirePlatform } from './platform.ts';

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

export async function runProvision(ctx: Invocation): Promise<number> {
  const settings = settingsFromConfig(ctx.config);
  const root = ctx.root;
  const { endpoint, source } = discoverEndpoint({
    libDir: root.path(settings.libDir),
    discovery: ctx.config.str('Protocol.EndpointDiscovery'),
    // The daemon deletes the saved endpoint at start (a VHD may have moved); provisioning never trusts it.
    skipSaved: true,
    routeTable: () => readRouteTable(root),
    leaseEndpoint: () => findWireServerInLeases(root)?.endpoint ?? null,
  });
  log.verbose(`WireServer endpoint ${endpoint} (${source})`);
  const transport = new HttpClient({ directHosts: [endpoint.replace(/:\d+$/, '')] });
  const platform = new WirePlatform({
    endpoint, libDir: root.path(settings.libDir), transport,
    openssl: new OpenSsl(settings.openssl ?? 'openssl', ctx.runner),
  });
  let outcome: ProvisionOutcome;
  try {
    outcome = await provision({ settings, root, runner: ctx.runner, platform, afterStep: crashHook() });
  } finally {
    await transport.close();
  }
  const ok = outcomeOk(outcome);
  if (!ok) log.error(`Provisioning ${outcome.status === 'failed' ? 'failed' : 'not reported'}: ${outcome.reason ?? 'unknown reason'}`);
  return ok ? EXIT.OK : EXIT.FAILURE;
}
