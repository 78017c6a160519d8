// Fixtures of the provision-* tests: an ovf-env.xml writer (over ./ovf.ts), a fake ProvisionPlatform that
// records every call, and a temp root that looks like a small Debian image (accounts, sshd config,
// host key, DMI uuid).
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import type { CertificateSummary, GoalState, HealthReport, ImdsInstance } from '../../src/platform/types.ts';
import type { ProvisionPlatform } from '../../src/provision/platform.ts';
import { DEFAULT_SETTINGS, type ProvisionSettings } from '../../src/provision/settings.ts';
import { makeRoot, type TempRoot } from './os-fixtures.ts';
import { ovfEnvXml, type OvfOptions as BaseOvfOptions } from './ovf.ts';

/** The provisioning tests' defaults on top of the shared builder: host unit-vm, password auth stated. */
export type OvfOptions = Omit<BaseOvfOptions, 'disable' | 'raw'> & { disablePasswordAuth?: boolean };

export function ovfXml(o: OvfOptions = {}): string {
  const { disablePasswordAuth, ...rest } = o;
  return ovfEnvXml({ host: 'unit-vm', ...rest, disable: disablePasswordAuth ?? false });
}

export const GOAL_STATE: GoalState = {
  incarnation: '1', containerId: 'c0ffee00-0000-4000-8000-000000000001', instanceId: 'inst.unit-vm', configName: 'cfg.1.xml',
  deploymentId: 'cfg', expectedState: 'Started', roleInstanceState: 'Started', urls: {},
};

export function imdsDoc(keys: { keyData: string; path: string }[], vmId = '11111111-2222-3333-4444-555555555555'): ImdsInstance {
  return {
    vmId, name: 'unit-vm', location: 'x', vmSize: 'x', subscriptionId: '', resourceGroupName: '', publisher: '', offer: '', sku: '', version: '',
    osType: 'Linux', osProfile: { adminUsername: 'azureuser', computerName: 'unit-vm', disablePasswordAuthentication: undefined },
    publicKeys: keys, userData: '', interfaces: [],
  };
}

export interface FakeCall { op: string; report?: HealthReport; final?: boolean; thumbprint?: string }

export class FakePlatform implements ProvisionPlatform {
  readonly calls: FakeCall[] = [];
  imdsValue: ImdsInstance | null = null;
  /** Called by certificates(): install files in Lib.Dir as the real one would. */
  onCertificates: () => CertificateSummary[] = () => [];
  failGoalState: Error | null = null;
  async goalState(): Promise<GoalState> {
    this.calls.push({ op: 'goalState' });
    if (this.failGoalState) throw this.failGoalState;
    return GOAL_STATE;
  }
  async imds(): Promise<ImdsInstance | null> { this.calls.push({ op: 'imds' }); return this.imdsValue; }
  async certificates(): Promise<CertificateSummary[]> { this.calls.push({ op: 'certificates' }); return this.onCertificates(); }
  async reportHealth(report: HealthReport, final: boolean): Promise<void> { this.calls.push({ op: 'health', report, final }); }
  async reportHostKeyThumbprint(thumbprint: string): Promise<void> { this.calls.push({ op: 'roleProperties', thumbprint }); }
  /** Answers of reprovisiondata, one per request (the last one repeats). */
  reprovision: { status: number; text?: string }[] = [{ status: 404 }];
  async reprovisionData(): Promise<{ status: number; text?: string }> {
    this.calls.push({ op: 'reprovisionData' });
    return this.reprovision.length > 1 ? this.reprovision.shift()! : this.reprovision[0]!;
  }
  health(): string[] {
    return this.calls.filter((c) => c.op === 'health').map((c) => [c.report!.state, c.report!.subStatus, c.report!.description].filter(Boolean).join('/'));
  }
}

export function sshKey(dir: string, name: string, type = 'ed25519'): string {
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', type, '-C', name, '-f', `${dir}/${name}`]);
  return readFileSync(`${dir}/${name}.pub`, 'utf8').trim();
}

/** A Debian-like temp root: accounts copied from this machine, sshd config with a drop-in dir, an ed25519 host key, DMI uuid. */
export function imageRoot(opts: { dmi?: string | null } = {}): TempRoot {
  const r = makeRoot({ accounts: true });
  r.write('/etc/os-release', 'ID=debian\nVERSION_ID=12\nNAME="Debian GNU/Linux"\n');
  r.write('/etc/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n');
  mkdirSync(r.p('/etc/ssh/sshd_config.d'), { recursive: true });
  mkdirSync(r.p('/etc/sudoers.d'), { recursive: true, mode: 0o750 });
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', r.p('/etc/ssh/ssh_host_ed25519_key')]);
  if (opts.dmi !== null) r.write('/sys/class/dmi/id/product_uuid', `${opts.dmi ?? '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8'}\n`);
  return r;
}

export function settings(over: Partial<ProvisionSettings> = {}): ProvisionSettings {
  return { ...DEFAULT_SETTINGS, agent: 'waagent', hostKeyType: 'ed25519', ...over };
}
