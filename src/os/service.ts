// systemd units for this agent (docs/os.md §3.4, §6.6, §11): the agent service and the boot-time firewall
// unit, written under /etc/systemd/system (never /lib or /usr: read-only on Flatcar) and enabled with
// systemctl where systemd runs. ExecStart names the real path of this binary. Rewritten only when the
// content differs, so running twice changes nothing. From our system extension (sysext.ts) the units
// shipped in /usr/lib/systemd/system are enabled instead (enableShippedUnit): nothing is written to /usr.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { posix } from 'node:path';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { SYSEXT_NAME, SYSEXT_UNIT_DIR } from './sysext.ts';
import { AgentError } from '../util/errors.ts';

export const UNIT_DIR = '/etc/systemd/system';
export const AGENT_UNIT = 'waagent.service';
export const FIREWALL_UNIT = 'waagent-network-setup.service';
/** Version tag of the firewall unit (waagent's is 1.4; ours runs the binary itself, no helper script). */
export const FIREWALL_UNIT_VERSION = '2.0';

export class ServiceError extends AgentError {
  static override readonly errorName: string = 'ServiceError';
}

/** systemd's ExecStart quoting: a path with spaces or specials is double-quoted with escapes. */
export function quoteExecArg(a: string): string {
  if (/[\0\n\r]/.test(a)) throw new ServiceError(`cannot put ${JSON.stringify(a)} into a unit file`);
  // `%` is a specifier and `$` an environment reference to systemd: escape them in every argument.
  const esc = a.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_@%+=:,./$-]+$/.test(esc) ? esc : `"${esc.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface AgentUnitOptions {
  /** argv that runs this agent (the SEA binary alone in production). */
  self: string[];
  /** -configuration-path when not the default. */
  configPath?: string;
  flatcar?: boolean;
  /** Debug.AgentCpuQuota (percent of one CPU) as the unit's CPUQuota; absent: no quota (2.15: cgroups off). */
  cpuQuotaPercent?: number;
  /** The unit shipped in our system extension (its header says so). */
  shipped?: boolean;
}

const AGENT_UNIT_HEADER = '# Written by waagent -register-service (waagent-sea).';
const SHIPPED_HEADER = `# Shipped in the ${SYSEXT_NAME} system extension; enable it with: waagent -register-service`;

export function agentUnit(o: AgentUnitOptions): string {
  const exec = [...o.self, '-daemon', ...(o.configPath && o.configPath !== '/etc/waagent.conf' ? [`-configuration-path:${o.configPath}`] : [])];
  const conf = o.configPath ?? '/etc/waagent.conf';
  return [
    o.shipped ? SHIPPED_HEADER : AGENT_UNIT_HEADER,
    '[Unit]',
    'Description=Azure Linux Agent',
    'Wants=network-online.target sshd.service sshd-keygen.service',
    `After=network-online.target${o.flatcar ? ' sshd-keygen.service systemd-sysext.service' : ''}`,
    `ConditionFileIsExecutable=${o.self[0]}`,
    `ConditionPathExists=${conf}`,
    '',
    '[Service]',
    'Type=simple',
    `ExecStart=${exec.map(quoteExecArg).join(' ')}`,
    'Restart=always',
    'RestartSec=5',
    // A broken waagent.conf (exit 2) is not fixed by restarting every 5 s.
    'RestartPreventExitStatus=2',
    // SIGTERM goes to the daemon only: it gives running extension commands a grace period and kills
    // them itself; whatever is still left in the cgroup after TimeoutStopSec gets SIGKILL (mixed).
    'TimeoutStopSec=60',
    'KillMode=mixed',
    'CPUAccounting=yes',
    'MemoryAccounting=yes',
    // 2.15 limits the agent's unit to Debug.AgentCpuQuota (50 %); its memory is checked, not capped.
    ...(o.cpuQuotaPercent !== undefined ? [`CPUQuota=${o.cpuQuotaPercent}%`] : []),
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

export interface FirewallUnitOptions {
  self: string[];
  /** WireServer address for -setup-firewall=. */
  endpoint: string;
  flatcar?: boolean;
}

export function firewallUnit(o: FirewallUnitOptions): string {
  return [
    `# This unit file (Version=${FIREWALL_UNIT_VERSION}) was created by the Azure VM Agent.`,
    '# Do not edit.',
    '[Unit]',
    'Description=Setup network rules for WALinuxAgent',
    // Flatcar: the binary may live in a sysext merged by systemd-sysext.
    'After=local-fs.target systemd-sysext.service',
    'Before=network-pre.target',
    'Wants=network-pre.target',
    'DefaultDependencies=no',
    `ConditionFileIsExecutable=${o.self[0]}`,
    '',
    '[Service]',
    'Type=oneshot',
    `ExecStart=${[...o.self, `-setup-firewall=${o.endpoint}`].map(quoteExecArg).join(' ')}`,
    'RemainAfterExit=yes',
    '',
    '[Install]',
    'WantedBy=network.target',
    '',
  ].join('\n');
}

/** Default /etc/waagent.conf for -register-service; the Flatcar layout mirrors the OEM sysext's file. */
export function defaultConf(o: { flatcar: boolean; shipped?: boolean }): string {
  const common = [
    o.shipped
      ? `# Azure Linux Agent default configuration, shipped in the ${SYSEXT_NAME} system extension: copied to /etc/waagent.conf when none exists.`
      : '# Azure Linux Agent configuration (written by waagent -register-service).',
    '# Every key and its default: waagent -show-configuration',
    'Provisioning.Agent=auto',
    'Provisioning.DeleteRootPassword=n',
    'Provisioning.RegenerateSshHostKeyPair=n',
    'Provisioning.SshHostKeyPairType=auto',
    'Provisioning.MonitorHostName=y',
    'Provisioning.DecodeCustomData=n',
    'Provisioning.ExecuteCustomData=n',
    'ResourceDisk.Format=y',
    'ResourceDisk.Filesystem=ext4',
    'ResourceDisk.MountPoint=/mnt/resource',
    'ResourceDisk.EnableSwap=n',
    'ResourceDisk.SwapSizeMB=0',
    'Logs.Verbose=n',
    'OS.EnableFirewall=y',
    'OS.RootDeviceScsiTimeout=300',
    'OS.OpensslPath=None',
    'OS.SshDir=/etc/ssh',
    'AutoUpdate.Enabled=n',
    'Extensions.Enabled=y',
  ];
  // Flatcar: the home dirs live under /home, the provisioning DVD is handled by the agent itself, and
  // there is no dhclient: systemd-networkd gives us the endpoint in its lease files.
  const flatcar = ['OS.HomeDir=/home', 'Protocol.EndpointDiscovery=dhcp'];
  return [...common, ...(o.flatcar ? flatcar : []), ''].join('\n');
}

export interface InstallResult {
  path: string;
  written: boolean;
  enabled: boolean | null;
}

/** Is systemd the running init (sd_booted)? Only then is systemctl asked anything. */
export function systemdRunning(root: Sysroot): boolean {
  return root.isHost && existsSync('/run/systemd/system');
}

/**
 * Writes `<root>/etc/systemd/system/<name>` (0644) if its content differs, then, where systemd runs,
 * `systemctl daemon-reload` (only after a change) and `systemctl enable <name>`. A failed enable
 * removes a unit we just created (a unit that is there but not enabled would only confuse).
 */
export async function installUnit(root: Sysroot, runner: Runner, name: string, text: string, o: { enable?: boolean; systemd?: boolean } = {}): Promise<InstallResult> {
  if (!/^[A-Za-z0-9@._-]+\.service$/.test(name)) throw new ServiceError(`bad unit name ${JSON.stringify(name)}`);
  const inner = posix.join(UNIT_DIR, name);
  const path = root.path(inner);
  let old: string | null = null;
  try { old = readFileSync(path, 'utf8'); } catch { /* absent */ }
  const written = old !== text;
  if (written) writeFileAtomic(path, text, { mode: 0o644, mkdirMode: 0o755 });
  const systemd = o.systemd ?? systemdRunning(root);
  if (!systemd || o.enable === false) return { path: inner, written, enabled: null };
  if (written) await runner.run(['systemctl', 'daemon-reload'], { timeoutMs: 60_000 });
  const r = await runner.run(['systemctl', 'enable', name], { timeoutMs: 60_000 });
  if (r.code !== 0) {
    if (old === null) rmSync(path, { force: true });
    throw new ServiceError(`systemctl enable ${name} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  }
  return { path: inner, written, enabled: true };
}

export interface ShippedUnitResult {
  /** An /etc/systemd/system/<name> written by an agent, removed because it would hide the shipped unit. */
  removed: string | null;
  /** An /etc/systemd/system/<name> of someone else's, left alone: systemd runs it instead of the shipped one. */
  shadowedBy: string | null;
  enabled: boolean | null;
}

/**
 * Our system extension is merged: its unit in /usr/lib/systemd/system is enabled (`systemctl enable`
 * links it from /etc) and nothing is written. A unit of the same name in /etc/systemd/system would hide
 * it: one an agent wrote (an earlier /opt/bin install) is removed, any other is left and reported.
 */
export async function enableShippedUnit(root: Sysroot, runner: Runner, name: string, o: { systemd?: boolean } = {}): Promise<ShippedUnitResult> {
  if (!/^[A-Za-z0-9@._-]+\.service$/.test(name)) throw new ServiceError(`bad unit name ${JSON.stringify(name)}`);
  const shipped = posix.join(SYSEXT_UNIT_DIR, name);
  if (!existsSync(root.path(shipped))) throw new ServiceError(`${shipped} is missing: is the ${SYSEXT_NAME} system extension merged?`);
  const local = posix.join(UNIT_DIR, name);
  let removed: string | null = null;
  let shadowedBy: string | null = null;
  let text: string | null = null;
  try { text = readFileSync(root.path(local), 'utf8'); } catch { /* none */ }
  if (text !== null) {
    const first = text.split('\n', 1)[0];
    if (first === AGENT_UNIT_HEADER || /^# This unit file \(Version=[0-9.]+\) was created by the Azure VM Agent\.$/.test(first)) {
      rmSync(root.path(local), { force: true });
      removed = local;
    } else {
      shadowedBy = local;
    }
  }
  const systemd = o.systemd ?? systemdRunning(root);
  if (!systemd) return { removed, shadowedBy, enabled: null };
  if (removed) await runner.run(['systemctl', 'daemon-reload'], { timeoutMs: 60_000 });
  const r = await runner.run(['systemctl', 'enable', name], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new ServiceError(`systemctl enable ${name} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  return { removed, shadowedBy, enabled: true };
}
