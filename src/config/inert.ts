// Keys this build knows (so they parse, show in -show-configuration and never count as unknown) but
// does not act upon. Setting one to a value other than its default would otherwise be silently
// ignored; instead each such key gets one warning at start saying what happens instead.
// When a feature learns a key, its entry goes from this table.
import type { Config } from './config.ts';
import type { ConfigKey } from './keys.ts';

export const INERT_KEYS: Readonly<Partial<Record<ConfigKey, string>>> = {
  'OS.EnableRDMA': 'RDMA setup is not supported by this agent; no RDMA driver or network is configured',
  'OS.UpdateRdmaDriver': 'RDMA drivers are never updated by this agent',
  'OS.CheckRdmaDriver': 'RDMA drivers are not checked by this agent',
  'OS.AllowHTTP': 'URLs from the platform are used with the scheme they have; nothing changes with this key',
  'ResourceDisk.EnableSwapEncryption': 'the swap file on the resource disk is not encrypted (it is root\'s, mode 0600, and the disk is wiped by the platform)',
  'AutoUpdate.Enabled': 'this agent never updates itself: a new version is installed with the image',
  'AutoUpdate.UpdateToLatestVersion': 'this agent never updates itself: a new version is installed with the image',
  'AutoUpdate.GAFamily': 'this agent never updates itself, so no agent family is followed',
  'Autoupdate.Frequency': 'this agent never updates itself',
  'Debug.AutoUpdateHotfixFrequency': 'this agent never updates itself',
  'Debug.AutoUpdateNormalFrequency': 'this agent never updates itself',
  'Debug.SelfUpdateHotfixFrequency': 'this agent never updates itself',
  'Debug.SelfUpdateRegularFrequency': 'this agent never updates itself',
  'Debug.EnableGAVersioning': 'this agent never updates itself, so no version is requested from the platform',
  'Debug.EnableRsmDowngrade': 'this agent never updates itself, so it never downgrades either',
  'Debug.CgroupDisableOnProcessCheckFailure': 'the agent\'s cgroup is not checked',
  'Debug.CgroupDisableOnQuotaCheckFailure': 'the agent\'s cgroup is not checked',
  'Debug.AgentCpuThrottledTimeThreshold': 'throttled CPU time of the agent is not checked (its CPU quota is set in the unit by -register-service)',
  'Debug.FirewallRulesLogPeriod': 'the firewall rules are logged when they are set up or repaired, not periodically',
};

/** One warning per key of INERT_KEYS set to a value other than its default. */
export function inertKeyWarnings(config: Config): string[] {
  const out: string[] = [];
  for (const [key, instead] of Object.entries(INERT_KEYS) as [ConfigKey, string][]) {
    if (config.isNonDefault(key)) out.push(`${key}=${config.raw(key)} is set but this agent does not act on it: ${instead}`);
  }
  return out;
}
