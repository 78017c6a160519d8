// The benchmark peer in the box: Debian's waagent 2.7.3 package (unpacked, never installed on the
// host) provisions against the simulator to Ready, runs the scenario's extension, uploads its
// status and formats/mounts the fake resource disk — proof that the box is faithful enough for a
// real agent. Skipped (with the reason) when the Debian archive cannot be reached.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Box } from '../sandbox/box.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const PEER = process.env.WAAGENT_PEER_DIR ?? '/opt/debian-waagent';

function preparePeer(): string | undefined {
  if (existsSync(join(PEER, 'usr/sbin/waagent'))) return undefined;
  const r = spawnSync('bash', [join(HERE, '..', 'sandbox', 'debian-waagent.sh'), PEER], { encoding: 'utf8', timeout: 300_000 });
  return r.status === 0 ? undefined : `Debian waagent not available: ${(r.stderr || r.stdout).trim().slice(-300)}`;
}

const SSHD_CONFIG = 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n';
const NOOP = { content: '#!/bin/sh\nexit 0\n', mode: 0o755 };

test('peer (root, namespaces, loop devices): Debian waagent 2.7.3 provisions to Ready in the box', async (t) => {
  const why = preparePeer();
  if (why) { t.skip(why); return; }
  const conf = readFileSync(join(PEER, 'etc/waagent.conf'), 'utf8').replace(/^Provisioning\.Agent=.*$/m, 'Provisioning.Agent=waagent');
  const box = await Box.start({
    scenario: 'test/fabric/scenarios/default.json',
    media: { kind: 'udf' },
    mountShim: true,
    resourceDisk: { sizeMiB: 128, kind: 'scsi-gen2' },
    files: {
      '/etc/waagent.conf': conf,
      // This host has no sshd (2.7.3 edits its config) and no ifupdown (it restarts the primary
      // interface, here lo, to publish the host name: a no-op saves its 3 x 5 s retries).
      ...(existsSync('/etc/ssh/sshd_config') ? {} : { '/etc/ssh/sshd_config': SSHD_CONFIG }),
      '/usr/local/sbin/ifdown': NOOP,
      '/usr/local/sbin/ifup': NOOP,
    },
  });
  try {
    const agent = box.spawn(['python3', '-u', join(PEER, 'usr/sbin/waagent'), '-daemon'], {
      env: { PYTHONPATH: join(PEER, 'usr/lib/python3/dist-packages'), PYTHONDONTWRITEBYTECODE: '1' },
    });
    const fabric = box.fabric!;
    await fabric.waitFor(() => fabric.statusUploads(), (u) => u.length > 0 || agent.exited, 180_000, 250);
    assert.equal(agent.exited, false, `the agent died: ${agent.stderr().slice(-2000)}`);
    const health = await fabric.health();
    assert.deepEqual(health.map((h) => h.state).slice(0, 2), ['NotReady', 'Ready']);
    const uploads = await fabric.statusUploads();
    const status = JSON.stringify(uploads.at(-1)!.json);
    assert.match(status, /Waagent\.Test\.ShellExt/);

    // Provisioning happened inside the box only.
    assert.match(box.readFile('/etc/passwd'), /^azureuser:/m);
    assert.equal(box.readFile('/etc/hostname').trim(), 'demovm');
    assert.ok(box.exists('/var/lib/waagent/provisioned'));
    assert.equal(spawnSync('getent', ['passwd', 'azureuser']).status, 2, 'no such user on the host');
    // The DVD was read through the mount shim and the copy redacted.
    assert.match(box.readFile('/var/lib/waagent/ovf-env.xml'), /<UserPassword>\*<\/UserPassword>|UserPassword>\*</);
    // The resource disk was found through the fake vmbus tree, formatted and mounted.
    const mounts = await box.run(['cat', '/proc/mounts']);
    assert.match(mounts.stdout, /^\/dev\/sdb1 \/mnt\/resource ext4 /m, box.agentLog().split('\n').filter((l) => /resource/i.test(l)).join('\n'));
    assert.ok(box.exists('/mnt/resource/DATALOSS_WARNING_README.txt'));
    const changed = box.changedFiles();
    for (const p of ['/etc/sudoers.d/waagent', '/home/azureuser/.ssh/authorized_keys', '/var/lib/waagent/ovf-env.xml']) assert.ok(changed.includes(p), p);
    agent.kill('SIGTERM');
    await agent.wait(20_000);
  } finally {
    await box.close();
  }
});
