import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sysroot } from '../../src/util/sysroot.ts';
import { planDeprovision, provisionedUser, type DeprovisionOs } from '../../src/deprovision/plan.ts';
import { describePlan, runPlan } from '../../src/deprovision/run.ts';

const OVF = `<?xml version="1.0"?><ns0:Environment xmlns:ns0="http://schemas.dmtf.org/ovf/environment/1" xmlns:ns1="http://schemas.microsoft.com/windowsazure">
<ns1:ProvisioningSection><ns1:LinuxProvisioningConfigurationSet><ns1:UserName>alice</ns1:UserName><ns1:UserPassword>*</ns1:UserPassword></ns1:LinuxProvisioningConfigurationSet></ns1:ProvisioningSection></ns0:Environment>`;

function makeRoot(t: { after(fn: () => void): void }, resolvSymlink: boolean) {
  const d = mkdtempSync(join(tmpdir(), 'deprov-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const files: Record<string, string> = {
    'etc/ssh/ssh_host_rsa_key': 'k', 'etc/ssh/ssh_host_rsa_key.pub': 'p', 'etc/ssh/ssh_host_ed25519_key': 'k', 'etc/ssh/sshd_config': 'c',
    'var/lib/dhcp/dhclient.eth0.leases': 'l', 'run/systemd/netif/leases/2': 'l',
    'var/lib/waagent/ovf-env.xml': OVF, 'var/lib/waagent/provisioned': 'id', 'var/lib/waagent/ABC.prv': 'key',
    'var/lib/waagent/Ext.Name-1.0/config/0.settings': '{}', 'var/log/azure/Ext.Name/handler.log': 'log',
    'root/.bash_history': 'h', 'var/log/waagent.log': 'log', 'var/log/syslog': 'keep',
    'etc/systemd/system/waagent-network-setup.service': 'u', 'etc/machine-id': 'm', 'etc/hostname': 'vm1',
    'home/bob/keep': 'keep',
  };
  for (const [p, c] of Object.entries(files)) { mkdirSync(join(d, p, '..'), { recursive: true }); writeFileSync(join(d, p), c); }
  mkdirSync(join(d, 'run/systemd/resolve'), { recursive: true });
  writeFileSync(join(d, 'run/systemd/resolve/resolv.conf'), 'nameserver 127.0.0.53');
  if (resolvSymlink) symlinkSync('../run/systemd/resolve/resolv.conf', join(d, 'etc/resolv.conf'));
  else writeFileSync(join(d, 'etc/resolv.conf'), 'nameserver 10.0.0.1');
  return d;
}

function fakeOs(calls: string[], systemUsers: string[] = []): DeprovisionOs {
  return {
    stopService: async () => { calls.push('stop'); },
    resetHostname: async (n) => { calls.push(`hostname ${n}`); },
    lockRootPassword: async () => { calls.push('lockroot'); },
    isSystemUser: (u) => systemUsers.includes(u),
    deleteUser: async (u) => { calls.push(`deluser ${u}`); },
  };
}

const conf = { libDir: '/var/lib/waagent', extensionLogDir: '/var/log/azure', sshDir: '/etc/ssh', deleteRootPassword: false };

test('the provisioned user is read from the ovf-env.xml copy', (t) => {
  const d = makeRoot(t, false);
  assert.equal(provisionedUser(new Sysroot(d), '/var/lib/waagent'), 'alice');
  assert.equal(provisionedUser(new Sysroot(d), '/nowhere'), undefined);
});

test('dry-run plan lists every item and changes nothing', (t) => {
  const d = makeRoot(t, false);
  const calls: string[] = [];
  const plan = planDeprovision(new Sysroot(d), conf, fakeOs(calls), { deleteUser: true, flatcar: true, liveSystem: false });
  const text = describePlan(plan).join('\n');
  for (const p of ['/etc/ssh/ssh_host_rsa_key', '/etc/ssh/ssh_host_ed25519_key', '/var/lib/dhcp/dhclient.eth0.leases', '/run/systemd/netif/leases/2',
    '/var/lib/waagent/ovf-env.xml', '/var/lib/waagent/Ext.Name-1.0', '/var/log/azure/Ext.Name', '/etc/resolv.conf', '/etc/machine-id',
    '/etc/systemd/system/waagent-network-setup.service', 'user alice']) {
    assert.ok(text.includes(p), `dry-run lists ${p}`);
  }
  assert.ok(!text.includes('sshd_config'));
  assert.ok(!text.includes('/var/log/syslog'));
  assert.ok(plan.warnings.includes('WARNING! alice account and entire home directory will be deleted.'));
  assert.deepEqual(calls, []);
  assert.ok(existsSync(join(d, 'etc/ssh/ssh_host_rsa_key')));
});

test('running the plan removes the items, keeps the directories, calls the OS actions in order', async (t) => {
  const d = makeRoot(t, false);
  const calls: string[] = [];
  const root = new Sysroot(d);
  const plan = planDeprovision(root, conf, fakeOs(calls), { deleteUser: true, flatcar: false, liveSystem: true });
  const reports = await runPlan(root, plan, () => {});
  assert.ok(reports.every((r) => r.ok));
  assert.deepEqual(readdirSync(join(d, 'etc/ssh')), ['sshd_config']);
  assert.deepEqual(readdirSync(join(d, 'var/lib/waagent')), []);
  assert.deepEqual(readdirSync(join(d, 'var/log/azure')), []);
  assert.equal(existsSync(join(d, 'etc/resolv.conf')), false);
  assert.equal(existsSync(join(d, 'var/lib/dhcp/dhclient.eth0.leases')), false);
  assert.equal(existsSync(join(d, 'root/.bash_history')), false);
  assert.equal(existsSync(join(d, 'etc/machine-id')), true, 'machine-id only goes on Flatcar');
  assert.equal(existsSync(join(d, 'var/log/syslog')), true);
  assert.equal(existsSync(join(d, 'home/bob/keep')), true);
  assert.deepEqual(calls, ['stop', 'hostname localhost.localdomain', 'deluser alice']);
});

test('a symlinked resolv.conf survives; a system user is never deleted', async (t) => {
  const d = makeRoot(t, true);
  const calls: string[] = [];
  const root = new Sysroot(d);
  const plan = planDeprovision(root, conf, fakeOs(calls, ['alice']), { deleteUser: true, flatcar: false, liveSystem: false });
  assert.ok(plan.warnings.some((w) => w.includes('will NOT be removed')));
  assert.ok(plan.warnings.includes('WARNING! alice is a system user. Will not delete it.'));
  await runPlan(root, plan, () => {});
  assert.ok(lstatSync(join(d, 'etc/resolv.conf')).isSymbolicLink());
  assert.ok(!calls.some((c) => c.startsWith('deluser')));
});

test('a failing step is reported and later steps still run', async (t) => {
  const d = makeRoot(t, false);
  const root = new Sysroot(d);
  const os = fakeOs([]);
  os.resetHostname = async () => { throw new Error('hostname tool missing'); };
  const plan = planDeprovision(root, conf, os, { deleteUser: false, flatcar: false, liveSystem: false });
  const reports = await runPlan(root, plan, () => {});
  const h = reports.find((r) => r.id === 'hostname')!;
  assert.equal(h.ok, false);
  assert.match(h.error!, /hostname tool missing/);
  assert.equal(existsSync(join(d, 'var/lib/waagent/provisioned')), false);
});

test('rescue root: an absolute link on the rescued disk never leads the removal to the rescue VM\'s own files', async (t) => {
  const d = makeRoot(t, false);
  const root = new Sysroot(join(d));
  // The "rescue VM" side: a directory outside the root, reachable on the host by its absolute path.
  const outside = mkdtempSync(join(tmpdir(), 'deprov-outside-'));
  t.after(() => rmSync(outside, { recursive: true, force: true }));
  mkdirSync(join(outside, 'azure', 'Other.Ext'), { recursive: true });
  writeFileSync(join(outside, 'azure', 'Other.Ext', 'handler.log'), 'rescue VM log');
  // On the disk, /var/log is an absolute link: as inside that system it means <root><outside>.
  rmSync(join(d, 'var/log'), { recursive: true, force: true });
  symlinkSync(outside, join(d, 'var/log'));
  mkdirSync(join(d, outside.slice(1), 'azure', 'Disk.Ext'), { recursive: true });
  writeFileSync(join(d, outside.slice(1), 'azure', 'Disk.Ext', 'handler.log'), 'disk log');
  const plan = planDeprovision(root, conf, fakeOs([]), { deleteUser: false, flatcar: false, liveSystem: false });
  const reports = await runPlan(root, plan, () => {});
  assert.ok(reports.every((r) => r.ok), JSON.stringify(reports));
  assert.equal(existsSync(join(outside, 'azure', 'Other.Ext', 'handler.log')), true, 'the rescue VM keeps its files');
  assert.deepEqual(readdirSync(join(d, outside.slice(1), 'azure')), [], 'the disk\'s own Extension.LogDir was emptied');
  assert.ok(describePlan(plan).includes(`  remove ${outside}/azure/Disk.Ext`), describePlan(plan).join('\n'));
});

test('a Lib.Dir or Extension.LogDir naming a system directory is refused, reported as a failed step, and nothing in it is touched', async (t) => {
  const { isAgentDir } = await import('../../src/deprovision/plan.ts');
  for (const ok of ['/var/lib/waagent', '/var/log/azure', '/data/waagent/']) assert.equal(isAgentDir(ok), true, ok);
  for (const bad of ['/', '/var', '/var/lib', '/var/lib/', '/var/log/../lib', 'var/lib/waagent', '/etc', '/usr/share/oem', '/home']) assert.equal(isAgentDir(bad), false, bad);
  const d = makeRoot(t, false);
  const root = new Sysroot(d);
  const plan = planDeprovision(root, { ...conf, libDir: '/var/lib' }, fakeOs([]), { deleteUser: false, flatcar: false, liveSystem: false });
  assert.ok(describePlan(plan).includes('  refuse to empty /var/lib'));
  assert.ok(!describePlan(plan).some((l) => l.startsWith('  remove /var/lib/waagent')));
  const reports = await runPlan(root, plan, () => {});
  const step = reports.find((r) => r.id === 'agentstate')!;
  assert.equal(step.ok, false);
  assert.match(step.error!, /refusing to empty \/var\/lib/);
  assert.ok(existsSync(join(d, 'var/lib/waagent/ovf-env.xml')), 'nothing under /var/lib was removed');
  assert.ok(existsSync(join(d, 'var/lib/dhcp')), 'other steps still ran (leases gone, the dir stays)');
  assert.equal(existsSync(join(d, 'etc/ssh/ssh_host_rsa_key')), false, 'other steps still ran');
});
