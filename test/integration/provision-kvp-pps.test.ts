// provision() on a temp root (real tools, fake platform) with a KVP pool directory: the records after
// a provisioning, after a failed one, when the pool cannot be written, and with reporting off; and
// the pre-provisioned pool flows (Running, Savable, a restart while waiting, a wait that runs out and
// is resumed) with scripted link events and reprovisiondata answers. Needs root (useradd --root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { realRunner } from '../../src/util/exec.ts';
import { MemoryAppender, log } from '../../src/util/logger.ts';
import { provision, type ProvisionDeps } from '../../src/provision/provision.ts';
import type { ProvisioningMedia } from '../../src/os/media/dvd.ts';
import type { LinkEvent, LinkWatcher } from '../../src/os/network/links.ts';
import type { Clock } from '../../src/platform/retry.ts';
import { FakePlatform, imageRoot, ovfXml, settings, type OvfOptions } from '../helpers/provision-fixtures.ts';
import type { TempRoot } from '../helpers/os-fixtures.ts';
import { readPool, reportFields, type PoolRecord } from '../helpers/kvp-reader.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (useradd --root, chown)';
const LIB = '/var/lib/waagent';
const POOL = '/var/lib/hyperv/.kvp_pool_1';
const VMID = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
const PASSWORD = 'Kvp-Unit-Passw0rd!';

interface Ctx { r: TempRoot; platform: FakePlatform; mediaReads: number; steps: string[]; deps: (o?: Partial<ProvisionDeps>) => ProvisionDeps }

function setup(ovf: OvfOptions, hyperv = true): Ctx {
  const r = imageRoot();
  if (hyperv) { mkdirSync(r.p('/var/lib/hyperv'), { recursive: true }); chmodSync(r.p('/var/lib/hyperv'), 0o755); }
  const platform = new FakePlatform();
  const ctx: Ctx = {
    r, platform, mediaReads: 0, steps: [],
    deps: (o = {}) => ({
      settings: settings(), root: r.root, runner: realRunner, platform,
      readMedia: async (): Promise<ProvisioningMedia> => { ctx.mediaReads++; return { device: '/dev/sr0', text: ovfXml(ovf), via: 'udf', mountedByUs: false }; },
      releaseMedia: async () => undefined,
      afterStep: (s) => ctx.steps.push(s),
      ...o,
    }),
  };
  return ctx;
}

function memLog(t: { after(fn: () => void): void }): MemoryAppender {
  const mem = new MemoryAppender('VERBOSE');
  log.appenders.push(mem);
  t.after(() => { log.appenders = log.appenders.filter((a) => a !== mem); });
  return mem;
}

function report(recs: PoolRecord[]): Map<string, string> {
  const r = recs.filter((x) => x.key === 'PROVISIONING_REPORT');
  assert.equal(r.length, 1, 'exactly one PROVISIONING_REPORT of ours');
  return reportFields(r[0]!.value);
}

/** A clock whose sleeps pass at once (waits in the pool are minutes to hours). */
function fastClock(): Clock & { t: number } {
  const c = { t: 1_000_000, now: () => c.t, sleep: async (ms: number) => { c.t += ms; await new Promise((r) => setImmediate(r)); }, random: () => 0.5 };
  return c;
}

/** Link events handed out in order; then silence. */
function scriptedLinks(events: Partial<LinkEvent>[]): { watch: () => LinkWatcher; closed: () => boolean } {
  let closed = false;
  const q = events.map((e) => ({ deleted: false, index: 2, name: 'eth0', flags: [], state: '', ...e }));
  return {
    closed: () => closed,
    watch: () => ({
      get ended() { return closed; },
      async next(ms: number) { const e = q.shift(); if (e) return e; await new Promise((r) => setTimeout(r, Math.min(ms, 20))); return null; },
      close() { closed = true; },
    }),
  };
}

test('as root: a provisioning leaves one timing record per step and PROVISIONING_REPORT result=success in the KVP pool', { skip }, async (t) => {
  const c = setup({ password: PASSWORD, host: 'kvp-vm' });
  t.after(c.r.cleanup);
  const out = await provision(c.deps());
  assert.equal(out.status, 'provisioned', out.reason);
  const recs = readPool(c.r.p(POOL));
  const f = report(recs);
  assert.equal(f.get('result'), 'success');
  assert.equal(f.get('agent'), 'waagent-sea/3.0.0.0');
  assert.equal(f.get('pps_type'), 'None');
  assert.equal(f.get('vm_id'), VMID);
  assert.match(f.get('timestamp')!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const steps = recs.filter((x) => x.key.startsWith('waagent-sea|'));
  assert.deepEqual(steps.map((x) => reportFields(x.value).get('step')), c.steps.filter((s) => s !== 'ready'), 'every step before Ready, in order');
  for (const s of steps) {
    const v = reportFields(s.value);
    assert.match(s.key, new RegExp(`^waagent-sea\\|\\d+\\|${VMID}\\|provision\\|\\d+\\|${v.get('step')}$`));
    assert.equal(v.get('result'), 'success');
    assert.ok(Number(v.get('duration_ms')) >= 0);
    assert.ok(Date.parse(v.get('end')!) >= Date.parse(v.get('start')!));
  }
  assert.ok(!readFileSync(c.r.p(POOL)).includes(PASSWORD), 'the password is not in the pool');
  assert.equal(c.platform.health().at(-1), 'Ready');
});

test('as root: a failed provisioning reports result=error with the reason (never the password) in KVP, as in the health report', { skip }, async (t) => {
  const c = setup({ password: PASSWORD, user: 'root' });
  t.after(c.r.cleanup);
  const out = await provision(c.deps());
  assert.equal(out.status, 'failed');
  const f = report(readPool(c.r.p(POOL)));
  assert.equal(f.get('result'), 'error');
  assert.match(f.get('reason')!, /user name "root" cannot be provisioned/);
  assert.equal(f.get('documentation_url'), 'https://aka.ms/linuxprovisioningerror');
  assert.equal(f.get('vm_id'), VMID);
  assert.equal(c.platform.health().at(-1), `NotReady/ProvisioningFailed/${out.reason}`);
  assert.ok(readFileSync(c.r.p(POOL)).toString().includes('step=failed|result=error'));
  assert.ok(!readFileSync(c.r.p(POOL)).includes(PASSWORD));
});

test('as root: a pool that cannot be written costs one warning; no /var/lib/hyperv or KvpReporting=n: nothing written', { skip }, async (t) => {
  const mem = memLog(t);
  const c = setup({ host: 'kvp-vm-2' });
  t.after(c.r.cleanup);
  writeFileSync(c.r.p(POOL), 'garbage that is not whole records');
  const out = await provision(c.deps());
  assert.equal(out.status, 'provisioned', out.reason);
  assert.equal(out.reported, true);
  assert.equal(mem.lines.filter((l) => /KVP report not written/.test(l)).length, 1);
  assert.equal(readFileSync(c.r.p(POOL), 'utf8'), 'garbage that is not whole records');

  const off = setup({ host: 'kvp-vm-3' });
  t.after(off.r.cleanup);
  assert.equal((await provision(off.deps({ settings: settings({ kvpReporting: false }) }))).status, 'provisioned');
  assert.equal(existsSync(off.r.p(POOL)), false);
  const none = setup({ host: 'kvp-vm-4' }, false);
  t.after(none.r.cleanup);
  assert.equal((await provision(none.deps())).status, 'provisioned');
  assert.equal(existsSync(none.r.p('/var/lib/hyperv')), false);
});

const NEW_OVF = ovfXml({ user: 'realuser', host: 'real-vm', password: PASSWORD });

test('as root: PPS Running: Ready in the pool, VNet switch, reprovisiondata polled, then provisioned with the new ovf-env', { skip }, async (t) => {
  const c = setup({ user: 'pooluser', host: 'pool-vm', pps: 'Running' });
  t.after(c.r.cleanup);
  rmSync(c.r.p(LIB), { recursive: true }); // a first boot: Lib.Dir does not exist yet
  c.platform.reprovision = [{ status: 404 }, { status: 410 }, { status: 200, text: NEW_OVF }];
  const links = scriptedLinks([{ flags: ['NO-CARRIER', 'UP'], state: 'LOWERLAYERDOWN' }, { flags: ['UP', 'LOWER_UP'], state: 'UP' }]);
  const out = await provision(c.deps({ clock: fastClock(), watchLinks: links.watch, primaryLink: () => 'eth0' }));
  assert.equal(out.status, 'provisioned', out.reason);
  assert.deepEqual(c.platform.calls.map((x) => x.op), [
    'goalState', 'imds', 'health', 'reprovisionData', 'reprovisionData', 'reprovisionData', 'goalState', 'imds', 'health', 'health',
  ]);
  assert.deepEqual(c.platform.calls.filter((x) => x.op === 'health').map((x) => [x.report!.state, x.final]), [['Ready', false], ['NotReady', false], ['Ready', true]]);
  assert.equal(readFileSync(c.r.p('/etc/hostname'), 'utf8'), 'real-vm\n');
  assert.match(readFileSync(c.r.p('/etc/passwd'), 'utf8'), /^realuser:/m);
  assert.doesNotMatch(readFileSync(c.r.p('/etc/passwd'), 'utf8'), /^pooluser:/m);
  assert.match(readFileSync(c.r.p(`${LIB}/ovf-env.xml`), 'utf8'), /<HostName>real-vm<\/HostName>/);
  assert.equal(existsSync(c.r.p(`${LIB}/pps_reported_ready`)), false, 'the pool marker is gone');
  assert.equal(readFileSync(c.r.p(`${LIB}/provisioned`), 'utf8'), VMID);
  assert.equal(links.closed(), true, 'the link monitor is stopped');
  assert.deepEqual(c.steps.slice(0, 4), ['media', 'pps-ready', 'pps-reprovision-data', 'starting']);
  const f = report(readPool(c.r.p(POOL)));
  assert.equal(f.get('result'), 'success');
  assert.equal(f.get('pps_type'), 'Running');
});

test('as root: PPS Savable: a failed Ready in the pool is tolerated; NIC detached and a new one attached; a restart while waiting does not report Ready again', { skip }, async (t) => {
  const c = setup({ user: 'pooluser', host: 'pool-vm', pps: 'Savable' });
  t.after(c.r.cleanup);
  let healthCalls = 0;
  const orig = c.platform.reportHealth.bind(c.platform);
  c.platform.reportHealth = async (r, f) => { await orig(r, f); if (healthCalls++ === 0) throw new Error('connection reset (the VM was suspended)'); };
  c.platform.reprovision = [{ status: 404 }];
  // First start: the wait runs out (bounded) -> failed and reported, the marker stays: recoverable.
  const links = scriptedLinks([{ deleted: true, name: 'eth0' }, { name: 'eth1', flags: ['UP', 'LOWER_UP'], state: 'UP' }]);
  const first = await provision(c.deps({ clock: fastClock(), watchLinks: links.watch, primaryLink: () => 'eth0', ppsWaitMs: 120_000 }));
  assert.equal(first.status, 'failed');
  assert.match(first.reason!, /no reprovisioning data from IMDS within 120 s/);
  assert.equal(existsSync(c.r.p(`${LIB}/pps_reported_ready`)), true);
  assert.equal(existsSync(c.r.p(`${LIB}/provisioned`)), false);
  const f1 = report(readPool(c.r.p(POOL)));
  assert.equal(f1.get('result'), 'error');
  assert.equal(f1.get('pps_type'), 'Savable');

  // Second start: Unknown (marker): no media, no Ready in the pool, reprovisiondata at once.
  c.platform.calls.length = 0;
  c.platform.reprovision = [{ status: 200, text: NEW_OVF }];
  const reads = c.mediaReads;
  const second = await provision(c.deps({ clock: fastClock(), watchLinks: () => assert.fail('no link watch when resuming'), primaryLink: () => null }));
  assert.equal(second.status, 'provisioned', second.reason);
  assert.equal(c.mediaReads, reads, 'the DVD is not read again');
  assert.deepEqual(c.platform.calls.map((x) => x.op), ['goalState', 'imds', 'reprovisionData', 'goalState', 'imds', 'health', 'health']);
  assert.match(readFileSync(c.r.p('/etc/passwd'), 'utf8'), /^realuser:/m);
  assert.equal(existsSync(c.r.p(`${LIB}/pps_reported_ready`)), false);
  const f2 = report(readPool(c.r.p(POOL)));
  assert.equal(f2.get('result'), 'success', 'the earlier error report of ours is replaced');
  assert.equal(f2.get('pps_type'), 'Unknown');
});

test('as root: PPS: IMDS still saying ppsType after reprovisioning is a failure, reported', { skip }, async (t) => {
  const c = setup({ user: 'pooluser', host: 'pool-vm', pps: 'Running' });
  t.after(c.r.cleanup);
  c.platform.imdsValue = { vmId: VMID.toLowerCase(), name: '', location: '', vmSize: '', subscriptionId: '', resourceGroupName: '', publisher: '', offer: '', sku: '', version: '', osType: 'Linux', osProfile: { adminUsername: '', computerName: '', disablePasswordAuthentication: undefined }, publicKeys: [], userData: '', interfaces: [], ppsType: 'Running' };
  c.platform.reprovision = [{ status: 200, text: NEW_OVF }];
  const out = await provision(c.deps({ clock: fastClock(), watchLinks: scriptedLinks([]).watch, primaryLink: () => null }));
  assert.equal(out.status, 'failed');
  assert.match(out.reason!, /ppsType is still "Running"/);
  assert.equal(c.platform.health().at(-1), `NotReady/ProvisioningFailed/${out.reason}`);
});

test('as root: PPS PreprovisionedOSDisk: Ready in the pool, no marker, then the (bounded) wait for the host\'s shutdown ends in a reported failure', { skip }, async (t) => {
  const c = setup({ user: 'pooluser', host: 'pool-vm', pps: 'PreprovisionedOSDisk' });
  t.after(c.r.cleanup);
  const out = await provision(c.deps({ clock: fastClock(), watchLinks: () => assert.fail('no link watch for an OS-disk pool VM'), primaryLink: () => null, ppsWaitMs: 600_000 }));
  assert.equal(out.status, 'failed');
  assert.match(out.reason!, /did not shut the pre-provisioned OS-disk VM down within 600 s/);
  assert.deepEqual(c.platform.calls.map((x) => x.op).filter((o) => o !== 'imds'), ['goalState', 'health', 'health']);
  assert.equal(c.platform.health()[0], 'Ready');
  assert.equal(existsSync(c.r.p(`${LIB}/pps_reported_ready`)), false, 'the disk is reused: no marker');
  assert.equal(report(readPool(c.r.p(POOL))).get('pps_type'), 'PreprovisionedOSDisk');
});
