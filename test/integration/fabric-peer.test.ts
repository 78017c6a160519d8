// Faithfulness check: the upstream Python agent (WALinuxAgent source tree given in WALA_SRC, run
// with the system python3 that has the `distro` module) runs its extension handler inside the
// VM-in-a-box against the simulator's default scenario. It must fetch and decrypt the certificates,
// download and enable the demo extension, and upload a status showing the extension decrypted its
// protected settings — all without a single protocol violation noted by the simulator.
// Needs root (box namespaces) and WALA_SRC; skipped otherwise (CI has no WALinuxAgent tree).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { SCENARIOS } from '../fabric/testing.ts';
import { loadScenarioFile } from '../fabric/scenario.ts';
import { needsRoot } from '../helpers/skip.ts';

const src = process.env.WALA_SRC ? resolve(process.env.WALA_SRC) : '';

function skipReason(): string | undefined {
  const noRoot = needsRoot('VM-in-a-box');
  if (noRoot) return noRoot;
  if (!src) return 'set WALA_SRC to a WALinuxAgent source tree (with bin/waagent and azurelinuxagent/)';
  if (!existsSync(join(src, 'bin', 'waagent')) || !existsSync(join(src, 'azurelinuxagent'))) return `WALA_SRC=${src} is not a WALinuxAgent tree`;
  if (spawnSync('/usr/bin/python3', ['-c', 'import distro'], { stdio: 'ignore' }).status !== 0) return '/usr/bin/python3 with the distro module is required';
  return undefined;
}

test('upstream WALinuxAgent -run-exthandlers in the box (needs root, WALA_SRC): certificates, extension, status via HostGAPlugin, no violations', async (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  const { Box } = await import('../sandbox/box.ts');
  const conf = ['Extensions.Enabled=y', 'Provisioning.Agent=disabled', 'Protocol.EndpointDiscovery=static', 'OS.EnableFirewall=n',
    'Extensions.GoalStatePeriod=2', 'AutoUpdate.Enabled=n', 'AutoUpdate.UpdateToLatestVersion=n', ''].join('\n');
  const box = await Box.start({ scenario: join(SCENARIOS, 'default.json'), files: { '/etc/waagent.conf': conf } });
  try {
    // The extension handler exits as an "orphan" unless its parent's pid is in Pid.File (the daemon's job).
    const p = box.spawn(['/bin/sh', '-c', `mkdir -p /var/lib/waagent && printf %s $$ > /var/run/waagent.pid && /usr/bin/python3 -u ${join(src, 'bin', 'waagent')} -run-exthandlers`],
      { env: { PYTHONPATH: src } });
    const fabric = box.fabric!;
    const ups = await fabric.waitFor(() => fabric.statusUploads(), (u) => u.some((x) => {
      const h = (x.json as any)?.aggregateStatus?.handlerAggregateStatus?.[0];
      return h?.runtimeSettingsStatus?.settingsStatus?.status?.status === 'success';
    }), 90_000, 500).finally(() => p.kill('SIGKILL'));
    const s = loadScenarioFile(join(SCENARIOS, 'default.json'));
    const expected = createHash('sha256').update(JSON.stringify(s.extensions[0]!.settings!.protectedSettings)).digest('hex');
    const ok = ups.find((x) => (x.json as any)?.aggregateStatus?.handlerAggregateStatus?.[0]?.runtimeSettingsStatus?.settingsStatus?.status?.status === 'success')!;
    assert.equal(ok.channel, 'hgap');
    const h = (ok.json as any).aggregateStatus.handlerAggregateStatus[0];
    assert.equal(h.handlerName, 'Waagent.Test.ShellExt');
    assert.equal(h.status, 'Ready');
    assert.match(h.runtimeSettingsStatus.settingsStatus.status.formattedMessage.message, new RegExp(`protectedSettingsSha256=${expected}`));
    assert.equal((ok.json as any).aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus.inSvdSeqNo, '1');
    const certs = await fabric.requests({ endpoint: 'wire', path: 'comp=certificates' });
    assert.ok(certs.length >= 1);
    assert.equal(certs[0]!.status, 200);
    assert.equal(certs[0]!.headers['x-ms-cipher-name'], 'AES128_CBC');
    assert.deepEqual(await fabric.violations(), []);
  } finally {
    await box.close();
  }
});

test('upstream WALinuxAgent -daemon provisions from the simulator\'s ovf-env in the box (needs root, WALA_SRC): NotReady/Provisioning then Ready, user, key, hostname', async (t) => {
  const why = skipReason();
  if (why) return t.skip(why);
  const { Box } = await import('../sandbox/box.ts');
  const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const keys = mkdtempSync(join(tmpdir(), 'fabric-peer-'));
  spawnSync('ssh-keygen', ['-q', '-t', 'rsa', '-b', '2048', '-N', '', '-f', join(keys, 'ssh_host_rsa_key')]);
  const conf = ['Provisioning.Agent=waagent', 'Protocol.EndpointDiscovery=static', 'OS.EnableFirewall=n', 'Extensions.GoalStatePeriod=2',
    'AutoUpdate.UpdateToLatestVersion=n', 'ResourceDisk.Format=n', 'Provisioning.RegenerateSshHostKeyPair=n', ''].join('\n');
  const box = await Box.start({
    scenario: join(SCENARIOS, 'default.json'),
    media: { kind: 'iso9660' },
    mountShim: true,
    files: {
      '/etc/waagent.conf': conf,
      // What a real image has and this host may not: sshd_config, host keys, eject.
      '/etc/ssh/sshd_config': 'PasswordAuthentication no\n',
      '/etc/ssh/ssh_host_rsa_key': { content: readFileSync(join(keys, 'ssh_host_rsa_key')), mode: 0o600 },
      '/etc/ssh/ssh_host_rsa_key.pub': readFileSync(join(keys, 'ssh_host_rsa_key.pub'), 'utf8'),
      '/usr/local/bin/eject': { content: '#!/bin/sh\nexit 0\n', mode: 0o755 },
    },
  });
  rmSync(keys, { recursive: true, force: true });
  try {
    const p = box.spawn(['/usr/bin/python3', '-u', join(src, 'bin', 'waagent'), '-daemon'], { env: { PYTHONPATH: src } });
    const fabric = box.fabric!;
    const health = await fabric.waitFor(() => fabric.health(), (h) => h.some((x) => x.state === 'Ready' || x.subStatus === 'ProvisioningFailed'), 120_000, 500)
      .finally(() => p.kill('SIGKILL'));
    assert.deepEqual(health.map((h) => [h.state, h.subStatus ?? '', h.description ?? '']).slice(0, 2), [['NotReady', 'Provisioning', 'Starting'], ['Ready', '', '']], box.agentLog().slice(-3000));
    const s = loadScenarioFile(join(SCENARIOS, 'default.json'));
    assert.match((await box.run(['getent', 'passwd', s.user.name])).stdout, new RegExp(`^${s.user.name}:`));
    const key = (await fabric.sshKeys())[0]!.publicKey.split(' ').slice(0, 2).join(' ');
    assert.ok(box.readFile(`/home/${s.user.name}/.ssh/authorized_keys`).includes(key));
    assert.equal((await box.run(['hostname'])).stdout.trim(), s.vm.hostname);
    assert.equal(Buffer.from(box.readFile('/var/lib/waagent/CustomData').trim(), 'base64').toString(), s.customData);
    assert.match(box.readFile('/var/lib/waagent/ovf-env.xml'), /<UserPassword>\*</);
    assert.deepEqual(await fabric.violations(), []);
  } finally {
    await box.close();
  }
});
