// Who provisions this VM (docs/os.md §4.1): Provisioning.Agent = auto | waagent | cloud-init | disabled,
// with upstream's cloud-init detection. Detection runs two small commands; it is skipped when the
// configuration already decides (disabled).
import type { Runner } from '../util/exec.ts';
import { log } from '../util/logger.ts';
import { AgentError } from '../util/errors.ts';

export type AgentChoice = 'waagent' | 'cloud-init' | 'disabled';

/**
 * `systemctl is-enabled cloud-init-local.service` printing `enabled`, else `service cloud-init status`
 * exiting 0. Any failure (no systemd, no such unit, no `service`) means "not enabled" — on Flatcar
 * both fail and the agent provisions.
 */
export async function cloudInitEnabled(runner: Runner): Promise<boolean> {
  let enabled = false;
  try {
    const r = await runner.run(['systemctl', 'is-enabled', 'cloud-init-local.service'], { timeoutMs: 30_000 });
    enabled = r.code === 0 && r.stdout.replace(/\n/g, '').trim() === 'enabled';
    if (!enabled) {
      const s = await runner.run(['service', 'cloud-init', 'status'], { timeoutMs: 30_000 });
      enabled = s.code === 0;
    }
  } catch {
    enabled = false;
  }
  log.info(`cloud-init is enabled: ${enabled}`);
  return enabled;
}

export class AgentConfigError extends AgentError {
  static override readonly errorName: string = 'AgentConfigError';
}

/**
 * The handler for a Provisioning.Agent value. Unknown values: upstream treats anything that is not
 * auto/waagent/cloud-init like `disabled`; we refuse instead (a typo must not silently skip
 * provisioning and report the VM Ready without its user).
 */
export async function selectAgent(value: string | undefined, detect: () => Promise<boolean>): Promise<{ agent: AgentChoice; cloudInit: boolean | null }> {
  const v = (value ?? 'auto').trim().toLowerCase();
  switch (v) {
    case 'disabled': return { agent: 'disabled', cloudInit: null };
    case 'cloud-init': return { agent: 'cloud-init', cloudInit: null };
    case 'waagent': return { agent: 'waagent', cloudInit: await detect() };
    case 'auto': {
      const ci = await detect();
      return { agent: ci ? 'cloud-init' : 'waagent', cloudInit: ci };
    }
    default:
      throw new AgentConfigError(`Provisioning.Agent=${JSON.stringify(value)} is not one of auto, waagent, cloud-init, disabled`);
  }
}
