// The waagent.conf keys provisioning honours, read once into a plain object (unit tests build one
// directly). Values are checked here so a bad configuration fails before anything is changed.
import type { Config } from '../config/config.ts';

export interface ProvisionSettings {
  /** Provisioning.Agent. */
  agent: string;
  libDir: string;
  /** DVD.MountPoint. */
  mountPoint: string;
  /** OS.HomeDir: what `$HOME` in ovf key paths stands for (the home ROOT). */
  homeDir: string;
  sshDir: string;
  sudoersDir: string;
  passwordPath: string;
  /** OS.OpensslPath (undefined: `openssl` from PATH). */
  openssl?: string;
  clientAliveInterval: number;
  allowResetSysUser: boolean;
  regenerateHostKeys: boolean;
  /** Provisioning.SshHostKeyPairType: rsa, dsa, ecdsa, ed25519 or auto. */
  hostKeyType: string;
  deleteRootPassword: boolean;
  decodeCustomData: boolean;
  executeCustomData: boolean;
  /** Provisioning.PasswordCryptId. */
  cryptId: string;
  /** Provisioning.PasswordCryptSaltLength. */
  saltLength: number;
  /** Provisioning.KvpReporting: steps and outcome to the Hyper-V KVP pool where /var/lib/hyperv exists. */
  kvpReporting?: boolean;
  /** Bound of each wait of the cloud-init handler (docs/os.md §4.16: 1800 s; not configurable upstream). */
  cloudInitTimeoutSec: number;
}

export function settingsFromConfig(c: Config): ProvisionSettings {
  return {
    agent: c.str('Provisioning.Agent'),
    libDir: c.str('Lib.Dir'),
    mountPoint: c.str('DVD.MountPoint'),
    homeDir: c.str('OS.HomeDir'),
    sshDir: c.str('OS.SshDir'),
    sudoersDir: c.str('OS.SudoersDir'),
    passwordPath: c.str('OS.PasswordPath'),
    openssl: c.str('OS.OpensslPath') || undefined,
    clientAliveInterval: c.int('OS.SshClientAliveInterval'),
    allowResetSysUser: c.bool('Provisioning.AllowResetSysUser'),
    regenerateHostKeys: c.bool('Provisioning.RegenerateSshHostKeyPair'),
    hostKeyType: c.str('Provisioning.SshHostKeyPairType'),
    deleteRootPassword: c.bool('Provisioning.DeleteRootPassword'),
    decodeCustomData: c.bool('Provisioning.DecodeCustomData'),
    executeCustomData: c.bool('Provisioning.ExecuteCustomData'),
    cryptId: c.str('Provisioning.PasswordCryptId'),
    saltLength: c.int('Provisioning.PasswordCryptSaltLength'),
    kvpReporting: c.bool('Provisioning.KvpReporting'),
    cloudInitTimeoutSec: 1800,
  };
}

/** Defaults of every key, for tests and callers without a file. */
export const DEFAULT_SETTINGS: ProvisionSettings = {
  agent: 'auto', libDir: '/var/lib/waagent', mountPoint: '/mnt/cdrom/secure', homeDir: '/home', sshDir: '/etc/ssh',
  sudoersDir: '/etc/sudoers.d', passwordPath: '/etc/shadow', openssl: '/usr/bin/openssl', clientAliveInterval: 180,
  allowResetSysUser: false, regenerateHostKeys: false, hostKeyType: 'rsa', deleteRootPassword: false,
  decodeCustomData: false, executeCustomData: false, cryptId: '6', saltLength: 10, kvpReporting: true, cloudInitTimeoutSec: 1800,
};
