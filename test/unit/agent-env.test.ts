// Environment chores on a temp Sysroot (never the host's files): persistent net rules moved, SCSI timeouts,
// Hyper-V entropy once per boot, SCVMM detection commands, DHCP restart detection, hostname monitoring,
// goal-state history caps, telemetry spool caps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../../src/util/exec.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { MemoryAppender, log } from '../../src/util/logger.ts';
import { removePersistentNetRules } from '../../src/os/env/netrules.ts';
import { setScsiTimeouts } from '../../src/os/env/scsi.ts';
import { seedEntropy } from '../../src/os/env/entropy.ts';
import { detectScvmm, scvmmInstallArgv } from '../../src/os/env/scvmm.ts';
import { DhcpMonitor } from '../../src/os/env/dhcp.ts';
import { hostnameChore } from '../../src/agent/chores.ts';
import { profileFor, parseOsRelease } from '../../src/os/distro.ts';
import { GoalStateHistory, redactDocument } from '../../src/agent/history.ts';
import { collectSpool, parseLegacyEvent, sendEventsOnce } from '../../src/agent/telemetry.ts';
import { readZip } from '../../src/util/zipread.ts';

function tmpRoot(): { d: string; root: Sysroot } {
  const d = mkdtempSync(join(tmpdir(), 'agent-env-'));
  return { d, root: new Sysroot(d) };
}
function put(d: string, p: string, text: string | Buffer): void {
  mkdirSync(join(d, p, '..'), { recursive: true });
  writeFileSync(join(d, p), text);
}

test('persistent net rules are moved into Lib.Dir (old copies replaced); none present: no-op', () => {
  const { d, root } = tmpRoot();
  try {
    put(d, '/etc/udev/rules.d/70-persistent-net.rules', 'SUBSYSTEM=="net", ATTR{address}=="00:11"\n');
    put(d, '/var/lib/waagent/70-persistent-net.rules', 'old copy');
    assert.deepEqual(removePersistentNetRules(root, '/var/lib/waagent'), ['/etc/udev/rules.d/70-persistent-net.rules']);
    assert.equal(existsSync(join(d, 'etc/udev/rules.d/70-persistent-net.rules')), false);
    assert.match(readFileSync(join(d, 'var/lib/waagent/70-persistent-net.rules'), 'utf8'), /ATTR\{address\}/);
    assert.deepEqual(removePersistentNetRules(root, '/var/lib/waagent'), []);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('SCSI timeouts: only sd* devices that differ are written; nvme untouched; bad values refused', () => {
  const { d, root } = tmpRoot();
  try {
    put(d, '/sys/block/sda/device/timeout', '30\n');
    put(d, '/sys/block/sdb/device/timeout', '300\n');
    put(d, '/sys/block/nvme0n1/device/timeout', '30\n');
    assert.deepEqual(setScsiTimeouts(root, '300'), ['sda']);
    assert.equal(readFileSync(join(d, 'sys/block/sda/device/timeout'), 'utf8'), '300');
    assert.equal(readFileSync(join(d, 'sys/block/nvme0n1/device/timeout'), 'utf8'), '30\n');
    assert.deepEqual(setScsiTimeouts(root, '300'), []);
    assert.throws(() => setScsiTimeouts(root, '300; reboot'), /not a number/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('Hyper-V entropy: OEM0 bytes go to /dev/random once per boot; no table: absent', () => {
  const { d, root } = tmpRoot();
  try {
    assert.equal(seedEntropy(root), 'absent');
    put(d, '/sys/firmware/acpi/tables/OEM0', Buffer.from([1, 2, 3, 4]));
    mkdirSync(join(d, 'dev'), { recursive: true });
    mkdirSync(join(d, 'run'), { recursive: true });
    assert.equal(seedEntropy(root), 'seeded');
    assert.deepEqual([...readFileSync(join(d, 'dev/random'))], [1, 2, 3, 4]);
    assert.equal(seedEntropy(root), 'done-this-boot');
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('SCVMM: modprobe, each CD drive mounted read-only once, unmounted when it has no configuration', async () => {
  const { d, root } = tmpRoot();
  try {
    for (const n of ['sr0', 'sr1', 'sda', 'cdrom']) put(d, `/dev/${n}`, '');
    const r = new RecordingRunner();
    const res = await detectScvmm(root, r, '/mnt/cdrom/secure');
    assert.equal(res.found, false);
    assert.deepEqual(r.calls.map((c) => c.argv.join(' ')), [
      'modprobe ata_piix',
      'mount -o ro /dev/cdrom /mnt/cdrom/secure', 'umount /mnt/cdrom/secure',
      'mount -o ro /dev/sr0 /mnt/cdrom/secure', 'umount /mnt/cdrom/secure',
      'mount -o ro /dev/sr1 /mnt/cdrom/secure', 'umount /mnt/cdrom/secure',
    ]);
    put(d, '/mnt/cdrom/secure/linuxosconfiguration.xml', '<x/>');
    assert.equal((await detectScvmm(root, new RecordingRunner(), '/mnt/cdrom/secure')).found, true);
    assert.deepEqual(scvmmInstallArgv('/mnt/cdrom/secure'), ['/bin/bash', '/mnt/cdrom/secure/install', '-p /mnt/cdrom/secure']);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('DHCP monitor: first run records, live pids cost no scan, new pids = restart', async () => {
  const alive = new Set([100]);
  let pids = [100];
  let scans = 0;
  const m = new DhcpMonitor(() => { scans++; return pids; }, (p) => alive.has(p));
  assert.deepEqual(m.check(), { event: 'first', pids: [100] });
  assert.equal(m.check().event, 'same');
  assert.equal(scans, 1, 'no /proc scan while the client lives');
  alive.clear();
  pids = [201, 205];
  assert.deepEqual(m.check(), { event: 'restarted', pids: [201, 205] });
  assert.equal(scans, 2);
  const none = new DhcpMonitor(() => { scans++; return []; }, () => false);
  scans = 0;
  assert.equal(none.check().event, 'not-running');
  for (let i = 0; i < 9; i++) none.check();
  assert.equal(scans, 1, 'while no client runs, /proc is scanned on one check in ten');
  none.check();
  assert.equal(scans, 2);
});

test('hostname monitor: the record is created, a change rewrites /etc/hostname and the record (files only on a temp root)', async () => {
  const { d, root } = tmpRoot();
  const mem = new MemoryAppender();
  const saved = log.appenders;
  log.appenders = [mem];
  try {
    put(d, '/etc/hostname', 'first\n');
    let name = 'first';
    const distro = profileFor(parseOsRelease('ID=debian\nVERSION_ID=12\n'));
    const r = new RecordingRunner();
    const chore = hostnameChore({ root, runner: r, libDir: '/var/lib/waagent', distro, current: () => name });
    assert.equal(readFileSync(join(d, 'var/lib/waagent/published_hostname'), 'utf8'), 'first');
    await chore();
    assert.equal(r.calls.length, 0, 'nothing while the name is unchanged');
    name = 'second';
    await chore();
    assert.equal(readFileSync(join(d, 'etc/hostname'), 'utf8'), 'second\n');
    assert.equal(readFileSync(join(d, 'var/lib/waagent/published_hostname'), 'utf8'), 'second');
    assert.ok(mem.lines.some((l) => l.includes('EnvMonitor: Detected hostname change: first -> second')));
    assert.equal(r.calls.length, 0, 'a temp root runs no command');
    await chore();
    assert.equal(mem.lines.filter((l) => l.includes('Detected hostname change')).length, 1);
  } finally {
    log.appenders = saved;
    rmSync(d, { recursive: true, force: true });
  }
});

test('goal-state history: redacted, capped by count and bytes, older entries zipped', () => {
  const { d } = tmpRoot();
  try {
    const h = new GoalStateHistory(d, { maxEntries: 3, maxBytes: 10_000 });
    for (let i = 0; i < 5; i++) h.add(`2026-01-01T00-00-0${i}__${i}`, { 'ExtensionsGoalState.json': JSON.stringify({ protectedSettings: 'SECRETDATA', statusUploadBlob: { url: 'https://a.blob/x?sv=1&sig=abc' } }) });
    const names = readdirSync(join(d, 'history')).sort();
    assert.equal(names.length, 3);
    assert.equal(names.at(-1), '2026-01-01T00-00-04__4');
    const text = readFileSync(join(d, 'history', names.at(-1)!, 'ExtensionsGoalState.json'), 'utf8');
    assert.doesNotMatch(text, /SECRETDATA|sig=abc/);
    assert.match(text, /\*\*\*REDACTED\*\*\*/);
    h.saveStatus('{"status":1}');
    assert.equal(h.archive(), 2);
    const after = readdirSync(join(d, 'history')).sort();
    assert.deepEqual(after.filter((n) => n.endsWith('.zip')).length, 2);
    const zip = readZip(join(d, 'history', after.find((n) => n.endsWith('.zip'))!));
    assert.deepEqual(zip.map((e) => e.path), ['ExtensionsGoalState.json']);
    // Bytes: one huge entry pushes the older ones out, the newest is always kept.
    h.add('2026-01-01T00-00-09__9', { 'big.json': 'x'.repeat(20_000) });
    assert.deepEqual(readdirSync(join(d, 'history')), ['2026-01-01T00-00-09__9']);
    assert.equal(redactDocument('<ProtectedSettings>abc</ProtectedSettings>'), '<ProtectedSettings>***REDACTED***</ProtectedSettings>');
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('telemetry: spool files read and deleted, capped at 1000; ETP events get the common parameters; batches sent', async () => {
  const { d } = tmpRoot();
  try {
    const ev = join(d, 'lib', 'events');
    mkdirSync(ev, { recursive: true });
    for (let i = 0; i < 1005; i++) writeFileSync(join(ev, `${String(i).padStart(6, '0')}.tld`), JSON.stringify({ eventId: 1, providerId: '69B669B9-4AF8-4C50-BDC4-6006FA76E975', parameters: [{ name: 'Name', value: 'Other' }, { name: 'Message', value: 'm' }, { name: 'Extra', value: 'dropped' }] }));
    writeFileSync(join(ev, 'garbage.tld'), 'not json');
    const r = collectSpool(ev, 10);
    assert.equal(r.removed, 6, 'oldest beyond 1000 dropped');
    assert.equal(r.events.length, 10);
    assert.deepEqual(r.events[0]!.params.map((p) => p.name), ['Name', 'Message'], 'foreign events trimmed to core fields');
    assert.equal(readdirSync(ev).length, 990);
    assert.equal(parseLegacyEvent('{"eventId":"x"}'), null);

    const ext = join(d, 'log', 'My.Ext', 'events');
    mkdirSync(ext, { recursive: true });
    writeFileSync(join(ext, '1.json'), JSON.stringify({ Version: '1.0', Timestamp: 't', TaskName: 'tn', EventLevel: 'Info', Message: 'hello', EventPid: 1, EventTid: 2, OperationId: 'op' }));
    const sent: unknown[] = [];
    const out = await sendEventsOnce({
      libDir: join(d, 'lib'), extLogDir: join(d, 'log'),
      common: { containerId: () => 'cid', osVersion: 'Linux:test' },
      sender: { sendTelemetry: async (e) => { sent.push(...e); return { sent: e.length, dropped: 0, requests: 1, failed: 0 }; } },
    });
    assert.equal(out.collected, 990, '1 ETP event + 989 valid spool files (garbage.tld is dropped)');
    assert.equal(out.sent, 990);
    const etp = sent[0] as { params: { name: string; value: unknown }[] };
    assert.ok(etp.params.some((p) => p.name === 'Context1' && p.value === 'hello'));
    assert.ok(etp.params.some((p) => p.name === 'ContainerId' && p.value === 'cid'));
    assert.ok(etp.params.some((p) => p.name === 'GAVersion' && p.value === 'WALinuxAgent-3.0.0.0'));
    assert.equal(existsSync(join(ext, '1.json')), false);
    assert.equal(readdirSync(ev).length, 0);
  } finally { rmSync(d, { recursive: true, force: true }); }
});



test('log collection: the child under systemd-run with the spec limits, its zip uploaded; exit 2 turns periodic collection off', async () => {
  const { collectorArgv, LogCollectTask } = await import('../../src/agent/logcollect.ts');
  assert.deepEqual(collectorArgv(['/usr/bin/waagent'], { systemd: false, cgroupV2: true }), ['/usr/bin/waagent', '-collect-logs']);
  assert.deepEqual(collectorArgv(['/usr/bin/waagent'], { systemd: true, cgroupV2: true, configPath: '/etc/w.conf' }), [
    'systemd-run', '--unit=collect-logs', '--slice=azure-walinuxagent-logcollector.slice', '--scope', '--quiet',
    '--property=CPUAccounting=yes', '--property=MemoryAccounting=yes', '--property=CPUQuota=5%', '--property=MemoryHigh=170M',
    '/usr/bin/waagent', '-collect-logs', '-configuration-path:/etc/w.conf',
  ]);
  const { d } = tmpRoot();
  try {
    put(d, '/lib/logcollector/logs.zip', 'PK-zip-bytes');
    const uploads: string[] = [];
    const r = new RecordingRunner();
    const task = new LogCollectTask({ runner: r, self: ['/usr/bin/waagent'], libDir: join(d, 'lib'), systemd: false, cgroupV2: false, upload: async (z) => { uploads.push(Buffer.from(z).toString()); } });
    assert.equal(await task.run(), 'uploaded');
    assert.deepEqual(uploads, ['PK-zip-bytes']);
    const failing = new LogCollectTask({ runner: new RecordingRunner().answer(() => true, { code: 1, stderr: 'boom' }), self: ['/x'], libDir: join(d, 'lib'), systemd: false, cgroupV2: false, upload: async () => undefined });
    await assert.rejects(failing.run(), /log collector failed \(exit 1\)/);
    const cg = new LogCollectTask({ runner: new RecordingRunner().answer(() => true, { code: 2 }), self: ['/x'], libDir: join(d, 'lib'), systemd: true, cgroupV2: true, upload: async () => { throw new Error('not called'); } });
    assert.equal(await cg.run(), 'disabled');
    assert.equal(await cg.run(), 'disabled');
    assert.equal(cg.enabled, false);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('telemetry: the agent\'s own events are queued (bounded) and sent with the common parameters', async () => {
  const { EventQueue, agentOperationEvent } = await import('../../src/agent/telemetry.ts');
  const q = new EventQueue(3);
  for (let i = 0; i < 5; i++) q.push(agentOperationEvent('Op', true, `m${i}`));
  assert.equal(q.size, 3, 'oldest dropped beyond the bound');
  const { d } = tmpRoot();
  try {
    const sent: { params: { name: string; value: unknown }[] }[] = [];
    const r = await sendEventsOnce({
      libDir: join(d, 'lib'), extLogDir: join(d, 'log'), queue: q,
      common: { containerId: () => 'cid', osVersion: 'Linux:test' },
      sender: { sendTelemetry: async (e) => { sent.push(...(e as never[])); return { sent: e.length, dropped: 0, requests: 1, failed: 0 }; } },
    });
    assert.equal(r.sent, 3);
    assert.deepEqual(sent.map((e) => e.params.find((p) => p.name === 'Message')!.value), ['m2', 'm3', 'm4']);
    assert.deepEqual(sent[0]!.params.slice(0, 6).map((p) => p.name), ['Name', 'Version', 'Operation', 'OperationSuccess', 'Message', 'Duration']);
    assert.ok(sent[0]!.params.some((p) => p.name === 'GAVersion'));
    assert.equal(q.size, 0);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
