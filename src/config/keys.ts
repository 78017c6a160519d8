// Every waagent.conf key the agent knows, with its type and default: ONE table, so the parser, the
// typed getters and -show-configuration can never disagree. Source: docs/os.md §2.3 (WALinuxAgent 2.15
// conf.py tables and getters).
//
// Where Python's table default and its getter default differ, the table below holds the value the
// agent actually USES (the getter's), so -show-configuration tells the truth about behaviour:
//   OS.CheckRdmaDriver                 table n, getter y  -> y
//   Debug.EnableCgroupV2ResourceLimiting table n, getter y -> y
// Derived defaults (`defaultFrom`): when the key is absent, the value of another key applies.
//
// Keys that Python reads only through getters (origin 'getter') are listed too; Python does not
// print them in -show-configuration, we do (every key we honour is shown — a deliberate change).
//
// Keys added by waagent-sea (origin 'ours'):
//   ResourceDisk.EnableNvme  switch, n  format NVMe temporary disks (new VM sizes expose the temp
//                                       disk as raw NVMe). Formatting is destructive, so opt-in.
//   CGroups.EnforceLimits    switch, y  apply CPU/memory limits to the agent and extensions.
//   CGroups.Excluded         string, None  comma-separated extension names never put under limits.
//   Provisioning.KvpReporting switch, y  provisioning steps and outcome to the Hyper-V KVP pool
//                                       (/var/lib/hyperv/.kvp_pool_1) where that directory exists.

export type KeyType = 'switch' | 'string' | 'int';
export type KeyOrigin = 'table' | 'getter' | 'ours';

interface BaseDef { readonly origin: KeyOrigin; readonly defaultFrom?: string }
export interface SwitchDef extends BaseDef { readonly type: 'switch'; readonly default: boolean }
export interface StringDef extends BaseDef { readonly type: 'string'; readonly default: string | null }
export interface IntDef extends BaseDef { readonly type: 'int'; readonly default: number | null }
export type KeyDef = SwitchDef | StringDef | IntDef;

const sw = (d: boolean, origin: KeyOrigin = 'table') => ({ type: 'switch', default: d, origin }) as const;
const str = <D extends string | null>(d: D, origin: KeyOrigin = 'table') => ({ type: 'string', default: d, origin }) as const;
const int = <D extends number | null>(d: D, origin: KeyOrigin = 'table') => ({ type: 'int', default: d, origin }) as const;

export const KEYS = {
  // ---- switches (y/n) ----
  'OS.AllowHTTP': sw(false),
  'OS.EnableFirewall': sw(false),
  'OS.EnableFIPS': sw(false),
  'OS.EnableRDMA': sw(false),
  'OS.UpdateRdmaDriver': sw(false),
  'OS.CheckRdmaDriver': sw(true), // table says n; the getter (what runs) says y
  'Logs.Verbose': sw(false),
  'Logs.Console': sw(true),
  'Logs.Collect': sw(true),
  'Extensions.Enabled': sw(true),
  'Extensions.WaitForCloudInit': sw(false),
  'Provisioning.AllowResetSysUser': sw(false),
  'Provisioning.RegenerateSshHostKeyPair': sw(false),
  'Provisioning.DeleteRootPassword': sw(false),
  'Provisioning.DecodeCustomData': sw(false),
  'Provisioning.ExecuteCustomData': sw(false),
  'Provisioning.MonitorHostName': sw(false),
  'DetectScvmmEnv': sw(false),
  'ResourceDisk.Format': sw(false),
  'ResourceDisk.EnableSwap': sw(false),
  'ResourceDisk.EnableSwapEncryption': sw(false),
  'AutoUpdate.Enabled': sw(true),
  'AutoUpdate.UpdateToLatestVersion': { ...sw(true), defaultFrom: 'AutoUpdate.Enabled' },
  'EnableOverProvisioning': sw(true),
  'Debug.CgroupLogMetrics': sw(false),
  'Debug.CgroupDisableOnProcessCheckFailure': sw(true),
  'Debug.CgroupDisableOnQuotaCheckFailure': sw(true),
  'Debug.EnableAgentMemoryUsageCheck': sw(false),
  'Debug.EnableFastTrack': sw(true),
  'Debug.EnableGAVersioning': sw(true),
  'Debug.EnableCgroupV2ResourceLimiting': sw(true), // table says n; the getter says y
  'Debug.EnableExtensionPolicy': sw(false),
  'Debug.EnableSignatureValidation': sw(false),
  // getter-only switches
  'CGroups.Enabled': sw(true, 'getter'),
  'Monitor.NetworkConfigurationChanges': sw(false, 'getter'),
  'Debug.EnableRsmDowngrade': sw(false, 'getter'),
  // ours
  'ResourceDisk.EnableNvme': sw(false, 'ours'),
  'CGroups.EnforceLimits': sw(true, 'ours'),
  'Provisioning.KvpReporting': sw(true, 'ours'),

  // ---- strings ----
  'Lib.Dir': str('/var/lib/waagent'),
  'DVD.MountPoint': str('/mnt/cdrom/secure'),
  'Pid.File': str('/var/run/waagent.pid'),
  'Extension.LogDir': str('/var/log/azure'),
  'OS.OpensslPath': str('/usr/bin/openssl'),
  'OS.SshDir': str('/etc/ssh'),
  'OS.HomeDir': str('/home'),
  'OS.PasswordPath': str('/etc/shadow'),
  'OS.SudoersDir': str('/etc/sudoers.d'),
  'OS.RootDeviceScsiTimeout': str(null),
  'Provisioning.Agent': str('auto'),
  'Provisioning.SshHostKeyPairType': str('rsa'),
  'Provisioning.PasswordCryptId': str('6'),
  'HttpProxy.Host': str(null),
  'ResourceDisk.MountPoint': str('/mnt/resource'),
  'ResourceDisk.MountOptions': str(null),
  'ResourceDisk.Filesystem': str('ext3'),
  'AutoUpdate.GAFamily': str('Prod'),
  'Policy.PolicyFilePath': str('/etc/waagent_policy.json'),
  'Protocol.EndpointDiscovery': str('dhcp'),
  // ours
  'CGroups.Excluded': str(null, 'ours'),

  // ---- integers ----
  'Extensions.GoalStatePeriod': int(6),
  'Extensions.InitialGoalStatePeriod': { ...int(6), defaultFrom: 'Extensions.GoalStatePeriod' },
  // Python reads this one with the switch getter, so any value gives 3600; we read it as the
  // integer it is documented to be (a fix, not a compatibility break: the default is unchanged).
  'Extensions.WaitForCloudInitTimeout': int(3600),
  'OS.EnableFirewallPeriod': int(300),
  'OS.RemovePersistentNetRulesPeriod': int(30),
  'OS.RootDeviceScsiTimeoutPeriod': int(30),
  'OS.MonitorDhcpClientRestartPeriod': int(30),
  'OS.SshClientAliveInterval': int(180),
  'Provisioning.MonitorHostNamePeriod': int(30),
  'Provisioning.PasswordCryptSaltLength': int(10),
  'HttpProxy.Port': int(null),
  'ResourceDisk.SwapSizeMB': int(0),
  'Autoupdate.Frequency': int(3600), // lower-case "u": that is how waagent spells it
  'Logs.CollectPeriod': int(3600),
  'Debug.CgroupCheckPeriod': int(300),
  'Debug.AgentCpuQuota': int(50),
  'Debug.AgentCpuThrottledTimeThreshold': int(120),
  'Debug.AgentMemoryQuota': int(31457280),
  'Debug.EtpCollectionPeriod': int(300),
  'Debug.AutoUpdateHotfixFrequency': int(14400),
  'Debug.AutoUpdateNormalFrequency': int(86400),
  'Debug.FirewallRulesLogPeriod': int(86400),
  'Debug.LogCollectorInitialDelay': int(300),
  // getter-only integers
  'Debug.SelfUpdateHotfixFrequency': int(14400, 'getter'),
  'Debug.SelfUpdateRegularFrequency': int(86400, 'getter'),
} as const satisfies Record<string, KeyDef>;

type Table = typeof KEYS;
export type ConfigKey = keyof Table;
export type SwitchKey = { [K in ConfigKey]: Table[K]['type'] extends 'switch' ? K : never }[ConfigKey];
export type StringKey = { [K in ConfigKey]: Table[K]['type'] extends 'string' ? K : never }[ConfigKey];
export type IntKey = { [K in ConfigKey]: Table[K]['type'] extends 'int' ? K : never }[ConfigKey];
/** A string key whose default is None reads as `string | undefined`; others always give a string. */
export type StringValue<K extends StringKey> = Table[K]['default'] extends string ? string : string | undefined;
export type IntValue<K extends IntKey> = Table[K]['default'] extends number ? number : number | undefined;

/**
 * Keys found in sample or older configuration files that waagent ignores. A value here is the
 * hint given with the warning; an empty hint means the key is ignored silently (it is in every
 * shipped CoreOS file and carries no intent worth warning about).
 */
export const OBSOLETE_KEYS: Readonly<Record<string, string>> = {
  'LBProbeResponder': '',
  'Home.Dir': 'use OS.HomeDir',
  'Provisioning.Enabled': 'use Provisioning.Agent (auto, waagent, cloud-init or disabled)',
  'Provisioning.UseCloudInit': 'use Provisioning.Agent=cloud-init',
  'Logs.File': 'the log file is always /var/log/waagent.log',
};

export function isConfigKey(k: string): k is ConfigKey {
  return Object.hasOwn(KEYS, k);
}

export function keyDef(k: ConfigKey): KeyDef {
  return KEYS[k];
}

/** All keys, sorted the way -show-configuration prints them (plain code-unit order, like Python). */
export function sortedKeys(): ConfigKey[] {
  return (Object.keys(KEYS) as ConfigKey[]).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
