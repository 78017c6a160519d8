// provision() end to end on a temp root with the real tools (useradd --root, openssl, ssh-keygen,
// visudo) and a fake platform that records every call: the built-in sequence, key source order,
// second boot, disabled, changed vmId, cloud-init, and the failure mapping (nothing changed,
// ProvisioningFailed with a reason that never carries the password). Needs root (useradd --root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realRunner } from '../../src/util/exec.ts';
import { MemoryAppender, log } from '../../src/util/logger.ts';
import { provision, outcomeOk, type ProvisionDeps } from '../../src/provision/provision.ts';
import type { ProvisioningMedia } from '../../src/os/media/dvd.ts';
import { DvdError } from '../../src/os/media/dvd.ts';
import { FakePlatform, imageRoot, imdsDoc, ovfXml, settings, sshKey, type OvfOptions } from '../helpers/provision-fixtures.ts';
import type { TempRoot } from '../helpers/os-fixtures.ts';
import { FakeClock } from '../helpers/clock.ts';
import { needsRoot } from '../helpers/skip.ts';
import { treeSnapshot as snapshot } from '../helpers/tree.ts';

const skip = needsRoot('useradd --root, chown');
const LIB = '/var/lib/waagent';
const VMID = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8'; // swapped form of the fixture's DMI uuid
const PASSWORD = 'Unit-Passw0rd-$ecret!';

function media(text: string): () => Promise<ProvisioningMedia> {
  return async () => ({ device: '/dev/sr0', text, via: 'udf', mountedByUs: false });
}

interface Ctx { r: TempRoot; platform: FakePlatform; released: number; steps: string[]; deps: (over?: Partial<ProvisionDeps>) => ProvisionDeps }

function setup(ovf: OvfOptions | string, over: { dmi?: string | null } = {}): Ctx {
  const r = imageRoot({ dmi: over.dmi });
  const platform = new FakePlatform();
  const ctx: Ctx = {
    r, platform, released: 0, steps: [],
    deps: (o = {}) => ({
      settings: settings(), root: r.root, runner: realRunner, platform,
      readMedia: media(typeof ovf === 'string' ? ovf : ovfXml(ovf)),
      releaseMedia: async () => { ctx.released++; },
      afterStep: (s) => ctx.steps.push(s),
      ...o,
    }),
  };
  return ctx;
}

function verifyHash(hash: string, password: string): boolean {
  const m = /^\$(\d)\$([^$]+)\$/.exec(hash)!;
  return execFileSync('openssl', ['passwd', `-${m[1]}`, '-salt', m[2]!, '-stdin'], { input: password + '\n', encoding: 'utf8' }).trim() === hash;
}

test('as root: password + inline key + IMDS key + hostname + custom data: files, owners, modes, reports; second run only reports Ready', { skip }, async (t) => {
  const keys = mkdtempSync(join(tmpdir(), 'prov-keys-'));
  t.after(() => rmSync(keys, { recursive: true, force: true }));
  const inline = sshKey(keys, 'inline');
  const fromImds = sshKey(keys, 'imds', 'rsa');
  const c = setup({ password: PASSWORD, host: 'unit-vm-1', keys: [{ path: '$HOME/azureuser/.ssh/authorized_keys', value: inline }], customData: '#!/bin/sh\necho hi\n' });
  t.after(c.r.cleanup);
  c.platform.imdsValue = imdsDoc([{ keyData: fromImds, path: '/home/azureuser/.ssh/authorized_keys' }]);
  const mem = new MemoryAppender('VERBOSE');
  log.appenders.push(mem);
  t.after(() => { log.appenders = log.appenders.filter((a) => a !== mem); });

  const out = await provision(c.deps());
  assert.equal(out.status, 'provisioned', out.reason);
  assert.equal(out.reported, true);
  assert.equal(outcomeOk(out), true);
  assert.equal(out.vmId, VMID);
  assert.deepEqual(c.platform.calls.map((x) => x.op), ['goalState', 'imds', 'health', 'health'], 'no certificates: no key asked for them');
  assert.deepEqual(c.platform.health(), ['NotReady/Provisioning/Starting', 'Ready']);
  assert.deepEqual(c.platform.calls.filter((x) => x.op === 'health').map((x) => x.final), [false, true]);
  assert.equal(c.released, 1, 'medium released after Ready');
  assert.deepEqual(c.steps, ['media', 'starting', 'validated', 'ovf-copy', 'hostname', 'user', 'password', 'sudoers', 'sshd', 'keys', 'customdata', 'hostkeys', 'marker', 'ready']);

  const p = c.r.p;
  assert.equal(readFileSync(p('/etc/hostname'), 'utf8'), 'unit-vm-1\n');
  assert.equal(readFileSync(p(`${LIB}/published_hostname`), 'utf8'), 'unit-vm-1');
  const pw = readFileSync(p('/etc/passwd'), 'utf8').split('\n').find((l) => l.startsWith('azureuser:'))!.split(':');
  const [uid, gid] = [Number(pw[2]), Number(pw[3])];
  assert.equal(pw[5], '/home/azureuser');
  const shadow = readFileSync(p('/etc/shadow'), 'utf8').split('\n').find((l) => l.startsWith('azureuser:'))!.split(':')[1]!;
  assert.match(shadow, /^\$6\$[A-Za-z0-9]{10}\$[./A-Za-z0-9]{86}$/);
  assert.equal(verifyHash(shadow, PASSWORD), true, 'the hash is of the ovf password');
  assert.equal(readFileSync(p('/etc/sudoers.d/waagent'), 'utf8'), 'azureuser ALL=(ALL) ALL\n');
  assert.equal(statSync(p('/etc/sudoers.d/waagent')).mode & 0o777, 0o440);
  assert.equal(readFileSync(p('/etc/ssh/sshd_config.d/10-waagent.conf'), 'utf8'), 'PasswordAuthentication yes\nChallengeResponseAuthentication yes\nClientAliveInterval 180\n');
  const ak = p('/home/azureuser/.ssh/authorized_keys');
  const lines = readFileSync(ak, 'utf8').trim().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' ').slice(0, 2).join(' ')), [fromImds, inline].map((l) => l.split(' ').slice(0, 2).join(' ')), 'IMDS key first, then the ovf inline value');
  assert.equal(statSync(ak).mode & 0o777, 0o600);
  assert.deepEqual([statSync(ak).uid, statSync(ak).gid], [uid, gid]);
  assert.equal(statSync(p('/home/azureuser/.ssh')).mode & 0o777, 0o700);
  assert.equal(statSync(p('/home/azureuser/.ssh')).uid, uid);
  const copy = readFileSync(p(`${LIB}/ovf-env.xml`), 'utf8');
  assert.match(copy, /<UserPassword>\*<\/UserPassword>/);
  assert.ok(!copy.includes(PASSWORD));
  assert.equal(statSync(p(`${LIB}/ovf-env.xml`)).mode & 0o777, 0o400);
  assert.equal(readFileSync(p(`${LIB}/CustomData`), 'utf8'), Buffer.from('#!/bin/sh\necho hi\n').toString('base64'), 'saved as sent (DecodeCustomData=n)');
  assert.equal(existsSync(p(`${LIB}/CustomData.executed`)), false);
  assert.equal(readFileSync(p(`${LIB}/provisioned`), 'utf8'), VMID);
  assert.equal(existsSync(p(`${LIB}/disable_agent`)), false);
  assert.ok(!mem.lines.some((l) => l.includes(PASSWORD)), 'the password is in no log line');
  assert.ok(!mem.lines.some((l) => l.includes(shadow)), 'nor its hash');

  const before = snapshot(c.r.dir);
  c.platform.calls.length = 0;
  c.released = 0;
  const again = await provision(c.deps({ readMedia: async () => { throw new Error('the DVD must not be read on a second boot'); } }));
  assert.equal(again.status, 'already-provisioned');
  assert.equal(again.reported, true);
  assert.deepEqual(c.platform.calls.map((x) => x.op), ['goalState', 'health']);
  assert.deepEqual(c.platform.health(), ['Ready']);
  assert.equal(c.released, 0);
  assert.deepEqual([...snapshot(c.r.dir)], [...before], 'a second boot changes nothing');
});

test('as root: a run repeated after losing its marker (as after a crash) converges to the same files', { skip }, async (t) => {
  const keys = mkdtempSync(join(tmpdir(), 'prov-keys-'));
  t.after(() => rmSync(keys, { recursive: true, force: true }));
  const c = setup({ password: PASSWORD, keys: [{ path: '$HOME/azureuser/.ssh/authorized_keys', value: sshKey(keys, 'k') }], customData: 'data' });
  t.after(c.r.cleanup);
  assert.equal((await provision(c.deps())).status, 'provisioned');
  const first = snapshot(c.r.dir);
  rmSync(c.r.p(`${LIB}/provisioned`));
  assert.equal((await provision(c.deps())).status, 'provisioned');
  assert.deepEqual([...snapshot(c.r.dir)], [...first]);
});

test('as root: key sources — a thumbprint key covered by IMDS fetches no certificates; otherwise the certificate is converted; key pairs deployed', { skip }, async (t) => {
  const keys = mkdtempSync(join(tmpdir(), 'prov-keys-'));
  t.after(() => rmSync(keys, { recursive: true, force: true }));
  // A self-signed certificate + key as the goal state's Certificates would install them.
  execFileSync('openssl', ['req', '-x509', '-nodes', '-subj', '/CN=unit', '-days', '2', '-newkey', 'rsa:2048', '-keyout', `${keys}/k.prv`, '-out', `${keys}/k.crt`], { stdio: 'ignore' });
  const tp = execFileSync('openssl', ['x509', '-in', `${keys}/k.crt`, '-fingerprint', '-noout'], { encoding: 'utf8' }).split('=')[1]!.replace(/:/g, '').trim().toUpperCase();
  const fromCert = execFileSync('sh', ['-c', `openssl x509 -in ${keys}/k.crt -pubkey -noout > ${keys}/k.pem && ssh-keygen -i -m PKCS8 -f ${keys}/k.pem`], { encoding: 'utf8' }).trim();
  const imdsKey = sshKey(keys, 'imds');

  // 1. IMDS has a key for the same file: the thumbprint is not fetched.
  const covered = setup({ disablePasswordAuth: true, keys: [{ path: '$HOME/azureuser/.ssh/authorized_keys', fingerprint: tp }] });
  t.after(covered.r.cleanup);
  covered.platform.imdsValue = imdsDoc([{ keyData: imdsKey, path: '/home/azureuser/.ssh/authorized_keys' }]);
  const o1 = await provision(covered.deps());
  assert.equal(o1.status, 'provisioned', o1.reason);
  assert.ok(!covered.platform.calls.some((x) => x.op === 'certificates'));
  assert.equal(readFileSync(covered.r.p('/home/azureuser/.ssh/authorized_keys'), 'utf8'), imdsKey + '\n');
  assert.equal(readFileSync(covered.r.p('/etc/sudoers.d/waagent'), 'utf8'), 'azureuser ALL=(ALL) NOPASSWD: ALL\n', 'key-only user');
  assert.match(readFileSync(covered.r.p('/etc/ssh/sshd_config.d/10-waagent.conf'), 'utf8'), /^PasswordAuthentication no$/m);

  // 2. No IMDS: the certificates are fetched, the certificate's key converted; a key pair deployed.
  const byCert = setup({ keys: [{ path: '$HOME/azureuser/.ssh/authorized_keys', fingerprint: tp }], keyPairs: [{ path: '$HOME/azureuser/.ssh/id_rsa', fingerprint: tp }] });
  t.after(byCert.r.cleanup);
  byCert.platform.onCertificates = () => {
    for (const ext of ['crt', 'prv']) writeFileSync(byCert.r.p(`${LIB}/${tp}.${ext}`), readFileSync(`${keys}/k.${ext}`), { mode: 0o400 });
    return [{ thumbprint: tp, hasPrivateKey: true }];
  };
  const o2 = await provision(byCert.deps());
  assert.equal(o2.status, 'provisioned', o2.reason);
  assert.deepEqual(byCert.platform.calls.map((x) => x.op), ['goalState', 'imds', 'health', 'certificates', 'health']);
  assert.equal(readFileSync(byCert.r.p('/home/azureuser/.ssh/authorized_keys'), 'utf8'), fromCert + '\n', 'the certificate\'s key, converted as upstream does');
  const prv = byCert.r.p('/home/azureuser/.ssh/id_rsa');
  assert.equal(statSync(prv).mode & 0o777, 0o600);
  assert.equal(readFileSync(prv, 'utf8'), readFileSync(`${keys}/k.prv`, 'utf8'));
  assert.match(readFileSync(prv + '.pub', 'utf8'), /^ssh-rsa /);
  assert.equal(statSync(prv + '.pub').mode & 0o777, 0o644);
  assert.notEqual(statSync(prv).uid, 0);

  // 3. The certificate never arrives: refused before any change.
  const missing = setup({ keys: [{ path: '$HOME/azureuser/.ssh/authorized_keys', fingerprint: tp }] });
  t.after(missing.r.cleanup);
  const before = snapshot(missing.r.dir);
  const o3 = await provision(missing.deps());
  assert.equal(o3.status, 'failed');
  assert.match(o3.reason!, new RegExp(`Can't find ${tp}\\.crt`));
  assert.deepEqual([...snapshot(missing.r.dir)], [...before]);
});

const BAD: [string, OvfOptions | string, RegExp][] = [
  ['missing user', { user: null, password: PASSWORD }, /UserName not found/],
  ['"../" in a key path', { password: PASSWORD, keys: [{ path: '$HOME/azureuser/../../etc/cron.d/x', value: 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKkJ3Hc5b1kqdGqfV8E0J8a0mXq3fJm8mq0I8CkGm6mY x' }] }, /key path .* contains a "\." or "\.\." component/],
  ['hostname with ";"', { password: PASSWORD, host: 'vm;reboot' }, /hostname "vm;reboot" may contain only/],
  ['reserved user', { user: 'daemon', password: PASSWORD }, /reserved system account/],
  ['not XML', `<Environment>${PASSWORD}`, /malformed XML/],
];

for (const [what, ovf, why] of BAD) {
  test(`as root: bad ovf-env (${what}) -> ProvisioningFailed with the reason, nothing changed, password never reported`, { skip }, async (t) => {
    const c = setup(ovf);
    t.after(c.r.cleanup);
    const before = snapshot(c.r.dir);
    const out = await provision(c.deps());
    assert.equal(out.status, 'failed');
    assert.equal(outcomeOk(out), false);
    assert.equal(out.reported, true);
    assert.match(out.reason!, why);
    const h = c.platform.health();
    assert.equal(h.length, 2, h.join(' | '));
    assert.equal(h[0], 'NotReady/Provisioning/Starting');
    assert.match(h[1]!, /^NotReady\/ProvisioningFailed\//);
    assert.match(h[1]!, why);
    assert.ok(!h.join('').includes(PASSWORD));
    assert.equal(c.released, 0, 'the medium stays until a run succeeds');
    assert.deepEqual([...snapshot(c.r.dir)], [...before], 'nothing on the machine changed');
  });
}

test('as root: an existing system user (uid < UID_MIN) is refused before any change unless AllowResetSysUser', { skip }, async (t) => {
  const c = setup({ user: 'svcacct', password: PASSWORD });
  t.after(c.r.cleanup);
  appendFileSync(c.r.p('/etc/passwd'), 'svcacct:x:150:150::/var/lib/svcacct:/usr/sbin/nologin\n');
  const before = snapshot(c.r.dir);
  const out = await provision(c.deps());
  assert.equal(out.status, 'failed');
  assert.match(out.reason!, /svcacct.*system account/);
  assert.deepEqual([...snapshot(c.r.dir)], [...before]);
});

test('as root: bad configuration (crypt id, host key type) fails before anything changes', { skip }, async (t) => {
  for (const over of [{ cryptId: 'y' }, { hostKeyType: 'rsa1' }]) {
    const c = setup({ password: PASSWORD });
    t.after(c.r.cleanup);
    const before = snapshot(c.r.dir);
    const out = await provision(c.deps({ settings: settings(over) }));
    assert.equal(out.status, 'failed');
    assert.match(out.reason!, /PasswordCryptId|SshHostKeyPairType/);
    assert.deepEqual([...snapshot(c.r.dir)], [...before]);
  }
});

test('as root: media unreadable -> ProvisioningFailed naming the medium; goal state unreachable -> failed, not reported', { skip }, async (t) => {
  const c = setup({});
  t.after(c.r.cleanup);
  const out = await provision(c.deps({ readMedia: async () => { throw new DvdError('[CopyOvfEnv] cannot read ovf-env.xml from the provisioning medium', ['/dev/sr0 (udf reader): bad tag']); } }));
  assert.equal(out.status, 'failed');
  assert.deepEqual(c.platform.health().map((h) => h.split('/').slice(0, 2).join('/')), ['NotReady/ProvisioningFailed']);
  assert.match(c.platform.health()[0]!, /CopyOvfEnv.*sr0/);

  const d = setup({});
  t.after(d.r.cleanup);
  d.platform.failGoalState = new Error('connect ECONNREFUSED');
  const o2 = await provision(d.deps());
  assert.equal(o2.status, 'failed');
  assert.equal(o2.reported, false);
  assert.match(o2.reason!, /ECONNREFUSED/);
  assert.equal(existsSync(d.r.p(`${LIB}/provisioned`)), false);
});

test('as root: ProvisionGuestAgent=false writes disable_agent before the marker', { skip }, async (t) => {
  const c = setup({ provisionGuestAgent: 'FALSE' });
  t.after(c.r.cleanup);
  const out = await provision(c.deps());
  assert.equal(out.status, 'provisioned', out.reason);
  assert.equal(readFileSync(c.r.p(`${LIB}/disable_agent`), 'utf8'), '');
  assert.ok(c.steps.indexOf('disable-agent') < c.steps.indexOf('marker'));
});

test('Provisioning.Agent=disabled: no medium, marker with the vmId, Ready — on every start', async (t) => {
  const c = setup({});
  t.after(c.r.cleanup);
  for (let i = 0; i < 2; i++) {
    c.platform.calls.length = 0;
    const out = await provision(c.deps({ settings: settings({ agent: 'disabled' }), readMedia: async () => { throw new Error('no DVD access when disabled'); } }));
    assert.equal(out.status, 'disabled');
    assert.equal(out.reported, true);
    assert.deepEqual(c.platform.calls.map((x) => x.op), ['goalState', 'health']);
    assert.deepEqual(c.platform.health(), ['Ready']);
    assert.equal(readFileSync(c.r.p(`${LIB}/provisioned`), 'utf8'), VMID);
  }
  assert.equal(existsSync(c.r.p('/etc/sudoers.d/waagent')), false);
});

test('second boot with another vmId: the old VM\'s agent state is removed, the marker rewritten, Ready; user untouched', async (t) => {
  const c = setup({});
  t.after(c.r.cleanup);
  c.r.write(`${LIB}/provisioned`, '11111111-2222-3333-4444-555555555555');
  c.r.write(`${LIB}/SharedConfig.xml`, '<SharedConfig/>');
  c.r.write(`${LIB}/Some.Ext-1.0/status/3.status`, '[]');
  c.r.write(`${LIB}/Some.Ext-1.0/HandlerManifest.json`, '[]');
  c.r.write('/var/lib/dhcp/dhclient.eth0.leases', 'lease {}');
  const out = await provision(c.deps());
  assert.equal(out.status, 'already-provisioned');
  assert.deepEqual(out.cleanedUp?.sort(), ['/var/lib/dhcp/dhclient.eth0.leases', `${LIB}/SharedConfig.xml`, `${LIB}/Some.Ext-1.0/status/3.status`]);
  assert.equal(readFileSync(c.r.p(`${LIB}/provisioned`), 'utf8'), VMID);
  assert.equal(existsSync(c.r.p(`${LIB}/Some.Ext-1.0/HandlerManifest.json`)), true);
  assert.deepEqual(c.platform.health(), ['Ready']);
  // Without DMI the current id is unknown: the marker is kept and nothing is cleaned.
  const d = setup({}, { dmi: null });
  t.after(d.r.cleanup);
  d.r.write(`${LIB}/provisioned`, '11111111-2222-3333-4444-555555555555');
  d.r.write(`${LIB}/SharedConfig.xml`, '<SharedConfig/>');
  const o2 = await provision(d.deps());
  assert.equal(o2.status, 'already-provisioned');
  assert.equal(o2.cleanedUp, undefined);
  assert.equal(existsSync(d.r.p(`${LIB}/SharedConfig.xml`)), true);
});

test('no DMI: the marker records the vmId IMDS reports', { skip }, async (t) => {
  const c = setup({}, { dmi: null });
  t.after(c.r.cleanup);
  c.platform.imdsValue = imdsDoc([], '0b9d8c7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e');
  const out = await provision(c.deps());
  assert.equal(out.status, 'provisioned', out.reason);
  assert.equal(readFileSync(c.r.p(`${LIB}/provisioned`), 'utf8'), '0b9d8c7e-6f5a-4b3c-9d2e-1f0a9b8c7d6e');
});

test('cloud-init: waits (bounded) for its ovf-env.xml copy and the host key, then marker + Ready; timeout -> ProvisioningFailed', async (t) => {
  const c = setup({});
  t.after(c.r.cleanup);
  const key = c.r.p('/etc/ssh/ssh_host_ed25519_key.pub');
  const saved = readFileSync(key);
  rmSync(key);
  const clock = new FakeClock({ start: 0, onSleep: (now) => {
    if (now === 5000) writeFileSync(c.r.p(`${LIB}/ovf-env.xml`), ovfXml({ provisionGuestAgent: 'false' }));
    if (now === 9000) writeFileSync(key, saved);
  } });
  const out = await provision(c.deps({ settings: settings({ agent: 'cloud-init' }), clock }));
  assert.equal(out.status, 'cloud-init', out.reason);
  assert.equal(clock.t, 9000);
  assert.match(out.hostKeyThumbprint!, /^SHA256/);
  assert.deepEqual(c.platform.health(), ['NotReady/Provisioning/Starting', 'Ready']);
  assert.equal(existsSync(c.r.p(`${LIB}/disable_agent`)), true);
  assert.equal(readFileSync(c.r.p(`${LIB}/provisioned`), 'utf8'), VMID);

  const d = setup({});
  t.after(d.r.cleanup);
  const slow = new FakeClock({ start: 0 });
  const o2 = await provision(d.deps({ settings: settings({ agent: 'cloud-init', cloudInitTimeoutSec: 30 }), clock: slow }));
  assert.equal(o2.status, 'failed');
  assert.match(o2.reason!, /cloud-init did not provide .*ovf-env\.xml within 30 s/);
  assert.equal(slow.t, 30_000);
  assert.equal(existsSync(d.r.p(`${LIB}/provisioned`)), false);
});

test('as root: SELinux (recorded; this kernel has none): replaced files keep their context, new ones get restorecon, .ssh and authorized_keys ssh_home_t', { skip }, async (t) => {
  const { RecordingRunner } = await import('../../src/util/exec.ts');
  const { SelinuxLabels } = await import('../../src/os/selinux.ts');
  const keys = mkdtempSync(join(tmpdir(), 'prov-keys-'));
  t.after(() => rmSync(keys, { recursive: true, force: true }));
  const c = setup({ password: PASSWORD, host: 'se-vm-1', keys: [{ path: '$HOME/azureuser/.ssh/authorized_keys', value: sshKey(keys, 'k') }] });
  t.after(c.r.cleanup);
  const p = c.r.p;
  writeFileSync(p('/etc/hostname'), 'image\n');
  const rec = new RecordingRunner()
    .answer((a) => a[0] === 'stat' && a.at(-1) === p('/etc/hostname'), { stdout: 'system_u:object_r:hostname_etc_t:s0\n' })
    .answer((a) => a[0] === 'stat' && a.at(-1) === p('/etc/shadow'), { stdout: 'system_u:object_r:shadow_t:s0\n' })
    .answer((a) => a[0] === 'stat', { stdout: 'system_u:object_r:etc_t:s0\n' })
    .answer('restorecon -h', { code: 1, stderr: 'usage: restorecon ...' });
  const selinux = new SelinuxLabels(rec, c.r.root, { enabled: true });
  const out = await provision(c.deps({ settings: settings({ deleteRootPassword: true }), selinux }));
  assert.equal(out.status, 'provisioned', out.reason);
  const cmds = rec.calls.map((x) => x.argv.join(' '));
  const chcon = cmds.filter((x) => x.startsWith('chcon '));
  assert.ok(chcon.includes(`chcon system_u:object_r:hostname_etc_t:s0 -- ${p('/etc/hostname')}`), cmds.join('\n'));
  assert.ok(chcon.includes(`chcon system_u:object_r:shadow_t:s0 -- ${p('/etc/shadow')}`), cmds.join('\n'));
  assert.ok(cmds.includes(`restorecon -- ${p('/etc/sudoers.d/waagent')}`), 'a new sudoers drop-in gets the policy default');
  assert.ok(chcon.includes(`chcon -t ssh_home_t -- ${p('/home/azureuser/.ssh')}`));
  assert.ok(chcon.includes(`chcon -t ssh_home_t -- ${p('/home/azureuser/.ssh/authorized_keys')}`));
  // The context is read before the replacement and set after it.
  const i = cmds.indexOf(`stat -c %C -- ${p('/etc/hostname')}`);
  assert.ok(i >= 0 && i < cmds.indexOf(`chcon system_u:object_r:hostname_etc_t:s0 -- ${p('/etc/hostname')}`));
  // Without SELinux nothing runs at all.
  const off = new RecordingRunner();
  const labels = new SelinuxLabels(off, c.r.root, { enabled: false });
  await labels.keep(['/etc/hostname'], () => undefined);
  await labels.sshHome([p('/home/azureuser/.ssh')]);
  assert.deepEqual(off.calls, []);
  assert.equal(new SelinuxLabels(off, c.r.root).enabled, false, 'another root is never labelled from here');
});
