// `-register-service` and `-setup-firewall=IP`.
//
// -register-service: a systemd unit for THIS binary at its real path under /etc/systemd/system (never a
// read-only /lib or /usr), a default /etc/waagent.conf only when none exists (Flatcar layout on Flatcar),
// then `systemctl enable`. Where systemd does not run, the files are written and that is said.
// Run from our merged system extension (/usr/bin/waagent, os/sysext.ts) with the default configuration
// path: the shipped unit is enabled instead and the shipped default conf copied to /etc if none is there;
// nothing is written under /usr.
//
// -setup-firewall=IP (the boot unit's command): the three rules for IP. Unlike waagent (which appends
// without looking, so a second run duplicates them), we check first: running it twice changes nothing.
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Config } from '../config/config.ts';
import type { Invocation } from '../util/invocation.ts';
import { EXIT } from '../util/exit.ts';
import { detectDistro } from '../os/distro.ts';
import { Firewall } from '../os/firewall.ts';
import { AGENT_UNIT, agentUnit, defaultConf, enableShippedUnit, installUnit, systemdRunning } from '../os/service.ts';
import { SYSEXT_CONF, SYSEXT_NAME, runsFromSysext } from '../os/sysext.ts';
import { DEFAULT_CONFIG_PATH } from '../config/config.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

/** The argv for units: the binary's real path (symlinks resolved), then a script when run from source. */
export function realSelf(self: string[]): string[] {
  const [bin, ...rest] = self;
  let real = bin!;
  try { real = realpathSync(bin!); } catch { /* keep as given */ }
  return [real, ...rest.map((r) => { try { return realpathSync(r); } catch { return r; } })];
}

/**
 * Debug.AgentCpuQuota for the unit (2.15: applied when cgroups are enabled; systemd's CPUQuota is a
 * percentage of one CPU). CGroups.Enabled=n or CGroups.EnforceLimits=n: no quota. A value outside
 * 1..100 x CPUs is refused with a warning naming the key (no quota rather than a wrong one).
 */
export function agentCpuQuota(c: Config, nCpus = cpus().length): number | undefined {
  if (!c.bool('CGroups.Enabled') || !c.bool('CGroups.EnforceLimits')) return undefined;
  const q = c.int('Debug.AgentCpuQuota');
  if (!Number.isInteger(q) || q < 1 || q > 100 * Math.max(1, nCpus)) {
    log.warn(`Debug.AgentCpuQuota=${q}: not between 1 and ${100 * Math.max(1, nCpus)} (percent of one CPU); the agent's unit gets no CPU quota`);
    return undefined;
  }
  return q;
}

export async function runRegisterService(ctx: Invocation): Promise<number> {
  const root = ctx.root;
  const flatcar = detectDistro(root).family === 'flatcar';
  const self = realSelf(ctx.self);
  const confPath = ctx.configPath;
  const confHost = root.path(confPath);
  const sysext = runsFromSysext(root, self[0]) && confPath === DEFAULT_CONFIG_PATH;
  if (sysext) return registerFromSysext(ctx, confPath);
  if (!existsSync(confHost)) {
    writeFileAtomic(confHost, defaultConf({ flatcar }), { mode: 0o644, mkdirMode: 0o755 });
    ctx.io.out(`Wrote a default ${confPath}\n`);
  }
  const systemd = systemdRunning(root);
  try {
    const cpuQuotaPercent = agentCpuQuota(ctx.config);
    const r = await installUnit(root, ctx.runner, AGENT_UNIT, agentUnit({ self, configPath: confPath, flatcar, ...(cpuQuotaPercent !== undefined ? { cpuQuotaPercent } : {}) }), { systemd });
    ctx.io.out(`${r.written ? 'Wrote' : 'Unchanged:'} ${r.path} (ExecStart=${self.join(' ')} -daemon)\n`);
    if (r.enabled) ctx.io.out(`Enabled ${AGENT_UNIT}; start it with: systemctl start ${AGENT_UNIT}\n`);
    else ctx.io.out(`systemd is not running here: ${AGENT_UNIT} was not enabled, and its CPUQuota applies only when systemd starts it\n`);
    return EXIT.OK;
  } catch (e) {
    log.error(`Registering the service: ${errorText(e)}`);
    return EXIT.FAILURE;
  }
}

async function registerFromSysext(ctx: Invocation, confPath: string): Promise<number> {
  const root = ctx.root;
  try {
    if (!existsSync(root.path(confPath))) {
      let text: string;
      try { text = readFileSync(root.path(SYSEXT_CONF), 'utf8'); } catch (e) { throw new Error(`reading the shipped default ${SYSEXT_CONF}: ${errorText(e)}`); }
      writeFileAtomic(root.path(confPath), text, { mode: 0o644, mkdirMode: 0o755 });
      ctx.io.out(`Copied ${SYSEXT_CONF} to ${confPath}\n`);
    }
    const r = await enableShippedUnit(root, ctx.runner, AGENT_UNIT);
    if (r.removed) ctx.io.out(`Removed ${r.removed}, written by an earlier install: the ${SYSEXT_NAME} system extension's unit replaces it\n`);
    if (r.shadowedBy) log.warn(`${r.shadowedBy} hides the unit shipped in the ${SYSEXT_NAME} system extension; systemd runs that one. Remove it to use the shipped unit.`);
    if (r.enabled) ctx.io.out(`Enabled the shipped ${AGENT_UNIT} (${SYSEXT_NAME} system extension); start it with: systemctl start ${AGENT_UNIT}\n`);
    else ctx.io.out(`systemd is not running here: the shipped ${AGENT_UNIT} was not enabled\n`);
    return EXIT.OK;
  } catch (e) {
    log.error(`Registering the service: ${errorText(e)}`);
    return EXIT.FAILURE;
  }
}

export async function runSetupFirewall(ctx: Invocation): Promise<number> {
  const ip = ctx.args.firewallIp;
  if (!ip) { ctx.io.err('setup-firewall: missing =IP\n'); return EXIT.USAGE; }
  try {
    const fw = new Firewall({ runner: ctx.runner, dst: ip, uid: process.getuid?.() ?? 0 });
    const r = await fw.ensure();
    if (fw.fallback) log.warn(`Firewall rules for ${fw.dst}: ${fw.fallback}`);
    log.info(`Firewall rules for ${fw.dst} (${await fw.detect()}): ${r}`);
    return EXIT.OK;
  } catch (e) {
    log.error(`Setting up the firewall for ${ip}: ${errorText(e)}`);
    return EXIT.FAILURE;
  }
}
