// `dist/waagent -provision` in the VM-in-a-box against the fabric simulator (168.63.129.16 and
// 169.254.169.254 exist only on the box's lo). The provisioning DVD is a loop device shown as
// /dev/sr0; this kernel has neither udf nor iso9660, so `mount` fails and the agent reads the medium
// in user space. Each test checks the resulting files, owners and modes, the password hash, and the
// exact requests the fabric saw. Needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { Box } from '../sandbox/box.ts';
import { renderOvfEnv } from '../fabric/server.ts';
import { SCENARIOS } from '../fabric/testing.ts';
import { join } from 'node:path';
import {
  assertRequests, changedBesidesLog, conf, imageFiles, passwordMatches, provisionRun, provisionWithDmi, requestsSince, sh, shadowHash, skip,
} from './provision-helpers.ts';

const scenario = (name: string) => join(SCENARIOS, `${name}.json`);
const LIB = '/var/lib/waagent';

function stat(box: Box, p: string): string {
  const s = box.stat(p);
  return `${(s.mode & 0o7777).toString(8)} ${s.uid}:${s.gid}`;
}

function uidOf(box: Box, user: string): string {
  const f = box.readFile('/etc/passwd').split('\n').find((l) => l.startsWith(`${user}:`))!.split(':');
  return `${f[2]}:${f[3]}`;
}

test('box (root): (a)+(d udf)+(f) password, inline key, hostname, CustomData saved; executed in a later run once only; second boot only reports Ready', { skip }, async () => {
  const box = await Box.start({ scenario: scenario('provision-password'), media: { kind: 'udf' }, files: imageFiles(conf()) });
  try {
    const keys = await box.fabric!.sshKeys();
    const inline = keys.find((k) => k.id === 'prov-inline')!.publicKey;
    const password = 'Prov-e2e-Passw0rd!';

    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const log = box.agentLog();
    assert.match(log, /Read ovf-env\.xml from \/dev\/sr0 \(udf\)/, 'mount is impossible here: read in user space');
    assert.ok(!log.includes(password), 'the password is in no log line');
    assertRequests(requestsSince(box, 0), ['goalstate', 'health', 'health', 'health-json'], 1);
    const health = await box.fabric!.health();
    assert.deepEqual(health.map((h) => [h.channel, h.state, h.subStatus ?? '', h.description ?? '']), [
      ['xml', 'NotReady', 'Provisioning', 'Starting'], ['xml', 'Ready', '', ''], ['json', 'Ready', '', ''],
    ]);

    assert.equal(box.readFile('/etc/hostname'), 'provvm-a\n');
    assert.equal(await sh(box, 'hostname'), 'provvm-a');
    const uid = uidOf(box, 'azureuser');
    assert.notEqual(uid.split(':')[0], '0');
    assert.equal(passwordMatches(shadowHash(box, 'azureuser'), password), true, 'the shadow hash is of the ovf password');
    assert.match(shadowHash(box, 'azureuser'), /^\$6\$[A-Za-z0-9]{10}\$/);
    assert.equal(box.readFile('/etc/sudoers.d/waagent'), 'azureuser ALL=(ALL) ALL\n');
    assert.equal(stat(box, '/etc/sudoers.d/waagent'), '440 0:0');
    assert.equal(box.readFile('/etc/ssh/sshd_config.d/10-waagent.conf'), 'PasswordAuthentication yes\nChallengeResponseAuthentication yes\nClientAliveInterval 180\n');
    assert.equal(box.readFile('/home/azureuser/.ssh/authorized_keys'), inline + '\n');
    assert.equal(stat(box, '/home/azureuser/.ssh/authorized_keys'), `600 ${uid}`);
    assert.equal(stat(box, '/home/azureuser/.ssh'), `700 ${uid}`);
    assert.equal(stat(box, `${LIB}/ovf-env.xml`), '400 0:0');
    const copy = box.readFile(`${LIB}/ovf-env.xml`);
    assert.match(copy, /<UserPassword>\*<\/UserPassword>/);
    assert.ok(!copy.includes(password));
    assert.equal(box.readFile(`${LIB}/provisioned`), 'd0df4c54-4ecb-4a4b-9954-5bdf3ed5c3b8', 'no DMI in the box: the vmId IMDS reports');
    const customData = '#!/bin/sh\necho "custom data ran as $(id -u)" >> /var/log/customdata-runs\n';
    assert.equal(box.readFile(`${LIB}/CustomData`), Buffer.from(customData).toString('base64'), 'saved as sent: DecodeCustomData=n');
    assert.equal(stat(box, `${LIB}/CustomData`), '600 0:0');
    assert.equal(box.exists('/var/log/customdata-runs'), false, 'ExecuteCustomData=n: not run');
    assert.equal(box.exists('/mnt/cdrom/secure/ovf-env.xml'), false, 'nothing left mounted');
    const firstFiles = changedBesidesLog(box);
    for (const p of ['/etc/hostname', '/etc/passwd', '/etc/shadow', '/etc/sudoers.d/waagent', '/etc/ssh/sshd_config.d/10-waagent.conf',
      '/home/azureuser/.ssh/authorized_keys', `${LIB}/provisioned`, `${LIB}/ovf-env.xml`, `${LIB}/CustomData`, `${LIB}/published_hostname`]) {
      assert.ok(firstFiles.includes(p), `${p} in ${firstFiles.join(' ')}`);
    }
    assert.ok(!firstFiles.some((p) => p.startsWith('/etc/ssh/ssh_host_')), 'host keys kept (RegenerateSshHostKeyPair=n)');
    assert.ok(!firstFiles.includes(`${LIB}/disable_agent`));

    // (f) A second boot: the marker is there, the DVD is not read, nothing changes, Ready again.
    const before = new Map(firstFiles.map((p) => [p, box.exists(p) && box.stat(p).isFile() ? createHash('sha256').update(box.readFile(p, null)).digest('hex') : 'dir']));
    let n = box.requests().length;
    const second = await provisionRun(box);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assertRequests(requestsSince(box, n), ['goalstate', 'health', 'health-json'], 0);
    assert.match(second.stdout, /Provisioning already completed, skipping\./);
    assert.doesNotMatch(second.stdout, /Read ovf-env\.xml/);
    assert.deepEqual(changedBesidesLog(box), firstFiles);
    for (const [p, h] of before) {
      assert.equal(box.stat(p).isFile() ? createHash('sha256').update(box.readFile(p, null)).digest('hex') : 'dir', h, `${p} unchanged`);
    }

    // Provisioning again with ExecuteCustomData=y (marker removed, as after a re-deployment of this disk):
    // the script runs, as root, once; a further run does not start it again.
    for (let i = 0; i < 2; i++) {
      box.writeFile('/etc/waagent.conf', conf('Provisioning.ExecuteCustomData=y'));
      await sh(box, `rm ${LIB}/provisioned`);
      n = box.requests().length;
      const r2 = await provisionRun(box);
      assert.equal(r2.code, 0, r2.stdout + r2.stderr);
      assertRequests(requestsSince(box, n), ['goalstate', 'health', 'health', 'health-json'], 1);
      assert.equal(box.readFile('/var/log/customdata-runs'), 'custom data ran as 0\n', `run ${i + 2}: executed exactly once in all`);
      assert.match(r2.stdout, i === 0 ? /CustomData executed: exit 0/ : /CustomData not executed: already-executed/);
      assert.equal(box.readFile(`${LIB}/CustomData`), customData, 'decoded to run it');
      assert.equal(box.readFile('/home/azureuser/.ssh/authorized_keys'), inline + '\n', 'the key is not appended twice');
      assert.equal(passwordMatches(shadowHash(box, 'azureuser'), password), true);
    }
  } finally {
    await box.close();
  }
});

test('box (root): (b)+(d iso9660) key by certificate thumbprint, password login disabled, host keys regenerated and reported, guest agent disabled', { skip }, async () => {
  const box = await Box.start({
    scenario: scenario('provision-thumbprint'), media: { kind: 'iso9660' },
    files: imageFiles(conf('Provisioning.RegenerateSshHostKeyPair=y')),
  });
  try {
    const key = (await box.fabric!.sshKeys()).find((k) => k.id === 'prov-thumbprint')!;
    const oldHostKey = box.readFile('/etc/ssh/ssh_host_ed25519_key.pub');
    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(box.agentLog(), /Read ovf-env\.xml from \/dev\/sr0 \(iso9660\)/);
    // The JSON endpoint answers 404 here: tried once, the XML report is what counts.
    assertRequests(requestsSince(box, 0), ['goalstate', 'health', 'certificates', 'health', 'health-json', 'roleProperties'], 1);
    const certReq = box.requests().find((q) => q.url.includes('comp=certificates'))!;
    assert.equal(certReq.status, 200);
    assert.ok(certReq.headers['x-ms-guest-agent-public-x509-cert'], 'the transport certificate was sent');
    assert.equal(stat(box, `${LIB}/TransportPrivate.pem`), '600 0:0');
    assert.equal(box.readFile(`${LIB}/${key.thumbprint}.crt`).trim(), key.certPem.trim());

    const uid = uidOf(box, 'ops');
    assert.equal(box.readFile('/home/ops/.ssh/authorized_keys').trim(), key.publicKey.split(' ').slice(0, 2).join(' '), 'the certificate\'s public key in OpenSSH form');
    assert.equal(stat(box, '/home/ops/.ssh/authorized_keys'), `600 ${uid}`);
    assert.match(shadowHash(box, 'ops'), /^[!*]/, 'no usable password');
    assert.equal(box.readFile('/etc/sudoers.d/waagent'), 'ops ALL=(ALL) NOPASSWD: ALL\n');
    assert.match(box.readFile('/etc/ssh/sshd_config.d/10-waagent.conf'), /^PasswordAuthentication no\nChallengeResponseAuthentication no\n/);

    const newHostKey = box.readFile('/etc/ssh/ssh_host_ed25519_key.pub');
    assert.notEqual(newHostKey, oldHostKey, 'regenerated');
    assert.equal(stat(box, '/etc/ssh/ssh_host_ed25519_key'), '600 0:0');
    const fp = (await sh(box, 'ssh-keygen -l -f /etc/ssh/ssh_host_ed25519_key.pub')).split(/\s+/)[1]!.replace(/:/g, '');
    const rp = box.requests().find((q) => q.url.includes('comp=roleProperties'))!;
    assert.equal(rp.status, 202);
    assert.match(rp.body, new RegExp(`<Property name="CertificateThumbprint" value="${fp.replace(/[+/]/g, (c) => `\\${c}`)}" />`));
    assert.equal(box.readFile(`${LIB}/disable_agent`), '', 'ProvisionGuestAgent=false');
    assert.equal(box.readFile(`${LIB}/provisioned`), '0b9d8c7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e');
    const health = await box.fabric!.health();
    assert.deepEqual(health.filter((h) => h.channel === 'xml').map((h) => h.state), ['NotReady', 'Ready']);
  } finally {
    await box.close();
  }
});

test('box (root): (e) Provisioning.Agent=disabled reports Ready without touching the DVD; then (c) keys only in IMDS', { skip }, async () => {
  const box = await Box.start({ scenario: scenario('provision-imds'), media: { kind: 'udf' }, files: imageFiles(conf().replace('Provisioning.Agent=waagent', 'Provisioning.Agent=disabled')) });
  try {
    const d = await provisionRun(box);
    assert.equal(d.code, 0, d.stdout + d.stderr);
    assert.match(d.stdout, /Provisioning is disabled, skipping\./);
    assertRequests(requestsSince(box, 0), ['goalstate', 'health', 'health-json'], 0);
    assert.deepEqual(changedBesidesLog(box), [LIB, `${LIB}/provisioned`], 'only the marker: no user, no DVD mount point');
    assert.equal(box.readFile(`${LIB}/provisioned`), '', 'no DMI in the box and IMDS is not asked when disabled');
    const again = await provisionRun(box);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Provisioning is disabled, skipping\./, 'on every start, marker or not');

    // Same box, provisioned by the agent this time (marker removed): the keys come from IMDS only.
    box.writeFile('/etc/waagent.conf', conf());
    await sh(box, `rm ${LIB}/provisioned`);
    const n = box.requests().length;
    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assertRequests(requestsSince(box, n), ['goalstate', 'health', 'health', 'health-json'], 1);
    const keys = (await box.fabric!.sshKeys()).filter((k) => k.id.startsWith('prov-imds-')).map((k) => k.publicKey);
    assert.equal(keys.length, 2);
    assert.equal(box.readFile('/home/clouduser/.ssh/authorized_keys'), keys.map((k) => k + '\n').join(''));
    assert.equal(stat(box, '/home/clouduser/.ssh/authorized_keys'), `600 ${uidOf(box, 'clouduser')}`);
    assert.equal(box.readFile(`${LIB}/provisioned`), '3f2a1c9e-8b7d-4e6f-a5c4-1d2e3f405162');
    assert.equal(box.exists(`${LIB}/disable_agent`), false);
  } finally {
    await box.close();
  }
});

const BAD_OVF: [string, (ovf: string) => string, RegExp][] = [
  ['missing user', (o) => o.replace(/<UserName>[^<]*<\/UserName>/, ''), /UserName not found/],
  ['"../" in a key path', (o) => o.replace(/<Path>[^<]*<\/Path>/, '<Path>$HOME/azureuser/../../../etc/cron.d/evil</Path>'), /key path .*"\.\." component/],
  ['hostname with ";"', (o) => o.replace(/<HostName>[^<]*<\/HostName>/, '<HostName>provvm;reboot</HostName>'), /hostname "provvm;reboot"/],
];

test('box (root): (g) bad ovf-env.xml (missing user, "../" in a key path, hostname with ";") -> ProvisioningFailed, non-zero exit, nothing changed', { skip }, async () => {
  const good = await renderOvfEnv(scenario('provision-password'));
  for (const [what, mutate, why] of BAD_OVF) {
    const ovf = mutate(good);
    assert.notEqual(ovf, good, what);
    const box = await Box.start({ scenario: scenario('provision-password'), media: { kind: 'udf', ovfEnv: ovf }, files: imageFiles(conf()) });
    try {
      const r = await provisionRun(box);
      assert.equal(r.code, 1, `${what}: ${r.stdout}`);
      assertRequests(requestsSince(box, 0), ['goalstate', 'health', 'health', 'health-json'], 1);
      const h = await box.fabric!.health();
      assert.deepEqual(h.map((x) => [x.channel, x.state, x.subStatus]), [['xml', 'NotReady', 'Provisioning'], ['xml', 'NotReady', 'ProvisioningFailed'], ['json', 'NotReady', 'ProvisioningFailed']], what);
      assert.match(h[1]!.description ?? '', why, what);
      assert.ok(!JSON.stringify(h).includes('Prov-e2e-Passw0rd!'), 'the password is never reported');
      // The mount point the (failed) mount attempt needed is the only trace; no user, no marker, no copy.
      assert.deepEqual(changedBesidesLog(box), ['/mnt/cdrom', '/mnt/cdrom/secure'], what);
      assert.doesNotMatch(box.readFile('/etc/passwd'), /^azureuser:/m);
    } finally {
      await box.close();
    }
  }
});

test('box (root): the marker holds the byte-swapped SMBIOS uuid; booted as another VM (image not deprovisioned): old VM state removed, marker rewritten, Ready, no re-provisioning', { skip }, async () => {
  const box = await Box.start({ scenario: scenario('provision-imds'), media: { kind: 'udf' }, files: imageFiles(conf()) });
  try {
    const first = await provisionWithDmi(box, '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8');
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.equal(box.readFile(`${LIB}/provisioned`), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    // State a later agent would leave: goal-state documents, an extension's status, a DHCP lease.
    for (const [p, c] of [[`${LIB}/SharedConfig.xml`, '<SharedConfig/>'], [`${LIB}/Waagent.Test.ShellExt-1.0.0/status/0.status`, '[]'],
      [`${LIB}/Waagent.Test.ShellExt-1.0.0/HandlerManifest.json`, '[]'], ['/var/lib/dhcp/dhclient.eth0.leases', 'lease {}\n']] as const) box.writeFile(p, c);
    const userLine = box.readFile('/etc/passwd').split('\n').find((l) => l.startsWith('clouduser:'));
    const keys = box.readFile('/home/clouduser/.ssh/authorized_keys');
    const n = box.requests().length;
    const moved = await provisionWithDmi(box, '00112233-4455-6677-8899-AABBCCDDEEFF');
    assert.equal(moved.code, 0, moved.stdout + moved.stderr);
    assert.match(moved.stdout, /The VM unique id changed \(D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8 -> 33221100-5544-7766-8899-AABBCCDDEEFF\)/);
    assertRequests(requestsSince(box, n), ['goalstate', 'health', 'health-json'], 0);
    assert.equal(box.readFile(`${LIB}/provisioned`), '33221100-5544-7766-8899-AABBCCDDEEFF');
    for (const p of [`${LIB}/SharedConfig.xml`, `${LIB}/Waagent.Test.ShellExt-1.0.0/status/0.status`, '/var/lib/dhcp/dhclient.eth0.leases']) assert.equal(box.exists(p), false, p);
    assert.equal(box.exists(`${LIB}/Waagent.Test.ShellExt-1.0.0/HandlerManifest.json`), true, 'extension packages stay');
    assert.equal(box.readFile('/etc/passwd').split('\n').find((l) => l.startsWith('clouduser:')), userLine, 'the user is not redone');
    assert.equal(box.readFile('/home/clouduser/.ssh/authorized_keys'), keys);
  } finally {
    await box.close();
  }
});
