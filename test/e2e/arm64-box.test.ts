// dist/waagent-arm64 as THE agent of a VM-in-a-box, run by qemu-user (arm64-helpers.ts): `-daemon`
// provisions from the UDF DVD (user with the ovf password and the SSH key), reports Ready, runs one
// extension whose protected settings it decrypted, uploads the status; SIGTERM ends it cleanly; then
// `-deprovision+user -force` removes what provisioning made. The focused set of the x64 suites, because
// every step is emulated. Needs root (namespaces, loop devices).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { Box } from '../sandbox/box.ts';
import { baseScenario } from '../fabric/testing.ts';
import { imageFiles, passwordMatches, shadowHash } from './provision-helpers.ts';
import { ARM64_BIN, arm64Argv, arm64Missing } from './arm64-helpers.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (namespaces, loop devices)' : arm64Missing();
const PASSWORD = 'Test-Passw0rd!';
const PROTECTED = { secret: 'arm64-protected-value' };
const CONF = [
  'Provisioning.Agent=waagent', 'Provisioning.SshHostKeyPairType=ed25519', 'Provisioning.RegenerateSshHostKeyPair=y',
  'Extensions.GoalStatePeriod=1', 'OS.EnableFirewall=n', 'ResourceDisk.Format=n', 'Logs.Collect=n', 'Logs.Console=n', '',
].join('\n');

interface Upload {
  aggregateStatus: {
    guestAgentStatus: { version: string; status: string };
    handlerAggregateStatus: { handlerName: string; status: string; runtimeSettingsStatus?: { settingsStatus: { status: { status: string; formattedMessage: { message: string } } } } }[];
  };
}

test('arm64 binary under qemu-user as the box agent (root): provisioning with password and key, extension with protected settings, status, SIGTERM, deprovision+user', { skip, timeout: 600_000 }, async () => {
  const scenario = baseScenario({
    vmSettings: false,
    extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 3, publicSettings: { message: 'from-arm64' }, protectedSettings: PROTECTED }],
  });
  const box = await Box.start({ scenario, media: { kind: 'udf' }, files: imageFiles(CONF) });
  try {
    const fabric = box.fabric!;
    const key = (await fabric.sshKeys()).find((k) => k.id === 'test-key-a')!.publicKey;
    const daemon = box.spawn(arm64Argv(ARM64_BIN, '-daemon'));
    const health = await fabric.waitFor(() => fabric.health(), (h) => h.some((x) => x.state === 'Ready') || daemon.exited, 300_000);
    assert.ok(health.some((x) => x.state === 'Ready'), `Ready reported:\n${box.agentLog().split('\n').slice(-30).join('\n')}\n${daemon.stderr()}`);
    assert.equal(health[0]!.state, 'NotReady', 'NotReady/Provisioning first');
    // The agent process really is the emulator running the arm64 binary.
    const pid = daemon.innerPid()!;
    assert.match(readlinkSync(`/proc/${pid}/exe`), /qemu-aarch64-static$/);
    assert.ok(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(ARM64_BIN));
    assert.ok(box.exists('/var/lib/waagent/provisioned'));
    assert.equal(box.readFile('/etc/hostname').trim(), 'testvm');
    assert.equal(passwordMatches(shadowHash(box, 'tester'), PASSWORD), true, 'the shadow hash is of the ovf password');
    assert.equal(box.readFile('/home/tester/.ssh/authorized_keys'), `${key}\n`);
    assert.match(box.readFile('/var/log/waagent.log'), /WALinuxAgent-3\.0\.0\.0|3\.0\.0\.0/);

    // The extension decrypted its protected settings with the certificate the arm64 agent stored.
    const proof = `protectedSettingsSha256=${createHash('sha256').update(JSON.stringify(PROTECTED)).digest('hex')}; message=from-arm64`;
    const ups = await fabric.waitFor(() => fabric.statusUploads(), (u) => daemon.exited || u.some((d) => {
      const h = (d.json as Upload | undefined)?.aggregateStatus.handlerAggregateStatus[0];
      return h?.runtimeSettingsStatus?.settingsStatus.status.status === 'success';
    }), 300_000);
    const last = ups.map((d) => d.json as Upload).filter(Boolean).at(-1)!;
    assert.equal(last.aggregateStatus.guestAgentStatus.version, '3.0.0.0');
    assert.equal(last.aggregateStatus.guestAgentStatus.status, 'Ready');
    const h = last.aggregateStatus.handlerAggregateStatus[0]!;
    assert.equal(h.handlerName, 'Waagent.Test.ShellExt');
    assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.formattedMessage.message, proof);
    const log = box.agentLog();
    for (const secret of [PASSWORD, PROTECTED.secret]) assert.ok(!log.includes(secret), 'no secret in the log');

    // SIGTERM through qemu reaches the agent: clean exit 0, pid file removed.
    daemon.kill('SIGTERM');
    const end = await daemon.wait(120_000);
    assert.equal(end.code, 0, `${end.signal ?? ''} ${end.stderr}`);
    assert.equal(box.exists('/var/run/waagent.pid'), false);

    // Deprovision, by the arm64 binary too.
    assert.ok(readdirSync(box.root.path('/etc/ssh')).some((n) => n.startsWith('ssh_host_')));
    const dep = await box.run(arm64Argv(ARM64_BIN, '-deprovision+user', '-force'), { timeoutMs: 240_000 });
    assert.equal(dep.code, 0, dep.stdout + dep.stderr);
    assert.doesNotMatch(box.readFile('/etc/passwd'), /^tester:/m, 'the provisioned user is gone');
    assert.equal(box.exists('/home/tester'), false);
    assert.deepEqual(readdirSync(box.root.path('/etc/ssh')).filter((n) => n.startsWith('ssh_host_')), [], 'host keys removed');
    for (const p of ['/var/lib/waagent/provisioned', '/var/lib/waagent/ovf-env.xml', '/var/lib/waagent/Waagent.Test.ShellExt-1.0.0']) {
      assert.equal(box.exists(p), false, `${p} removed`);
    }
    assert.ok(!box.exists('/etc/sudoers.d/waagent') || !/^tester\b/m.test(box.readFile('/etc/sudoers.d/waagent')), 'no sudoers line for the user');
  } finally {
    await box.close();
  }
});
