// Pre-provisioned pool VMs end to end: the built binary in the box, the simulator as the platform,
// a veth as the NIC (test/sandbox/nic.ts). Running and Savable both end provisioned with the SECOND
// ovf-env's user and hostname, with the requests in cloud-init's order (Ready in the pool on the pool
// VM's goal state, reprovisiondata, then IMDS and the new goal state, then Ready), the same files
// as a normal first boot with that ovf-env, and the PROVISIONING_REPORT in the KVP pool. Needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Box } from '../sandbox/box.ts';
import { plugNic, unplugNic } from '../sandbox/nic.ts';
import type { RecordedRequest } from '../fabric/server.ts';
import { ASSIGNED, ASSIGNED_KEYS, KVP_FILES, assignPatch, poolScenario, runPool, type PoolKind } from './pps-helpers.ts';
import { changedBesidesLog, conf, imageFiles, passwordMatches, provisionRun, shadowHash, skip } from './provision-helpers.ts';
import { readPool, reportFields } from '../helpers/kvp-reader.ts';

const LIB = '/var/lib/waagent';

function kind(q: RecordedRequest): string {
  if (q.url.startsWith('/metadata/reprovisiondata')) return `reprovision ${q.status}`;
  if (q.url.startsWith('/metadata/instance')) return 'imds';
  if (q.url.includes('comp=goalstate')) return 'goalstate';
  if (q.url.includes('comp=health')) return 'health';
  if (q.url.startsWith('/provisioning/health')) return 'health-json';
  return `${q.endpoint} ${q.method} ${q.url}`;
}

/** cloud-init's order: [imds, goalstate] -> Ready in the pool -> reprovisiondata… 200 -> [imds, goalstate] -> Ready. */
function assertCloudInitOrder(requests: RecordedRequest[]): void {
  const seen = requests.map(kind);
  const text = seen.join(', ');
  const firstHealth = seen.indexOf('health');
  const repro = seen.map((k, i) => (k.startsWith('reprovision') ? i : -1)).filter((i) => i >= 0);
  assert.ok(repro.length >= 1, text);
  assert.ok(firstHealth >= 0 && firstHealth < repro[0]!, `Ready in the pool before any reprovisiondata: ${text}`);
  assert.deepEqual(seen.slice(0, firstHealth).sort(), ['goalstate', 'imds'], text);
  assert.equal(seen[repro.at(-1)!], 'reprovision 200', text);
  assert.ok(repro.slice(0, -1).every((i) => seen[i] !== 'reprovision 200'), 'polling stops at the first 200');
  const after = seen.slice(repro.at(-1)! + 1);
  assert.deepEqual(after.slice(0, 2).sort(), ['goalstate', 'imds'], text);
  assert.deepEqual(after.slice(2, 5), ['health', 'health', 'health-json'], text); // then, with -daemon, its goal-state loop
  assert.equal(seen.slice(firstHealth + 1, repro.at(-1)).filter((k) => !k.startsWith('reprovision')).length, 0, text);
  for (const q of requests.filter((r) => r.url.startsWith('/metadata/reprovisiondata'))) {
    assert.equal(q.headers['metadata'], 'true');
    assert.match(q.headers['x-ms-client-request-id'] ?? '', /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.match(q.url, /api-version=2019-06-01/);
  }
}

async function flow(kindName: PoolKind, daemon = false): Promise<string[]> {
  const run = await runPool(kindName, { daemon });
  const { box } = run;
  try {
    assert.equal(run.result.code, 0, run.result.stdout + run.result.stderr);
    assertCloudInitOrder(run.requests);
    assert.deepEqual(run.health.map((h) => [h.channel, h.state, h.subStatus ?? '', h.containerId ?? '']), [
      ['xml', 'Ready', '', 'b2c3d4e5-0000-4000-8000-00000000a001'],
      ['xml', 'NotReady', 'Provisioning', ASSIGNED.containerId],
      ['xml', 'Ready', '', ASSIGNED.containerId],
      ['json', 'Ready', '', ''],
    ], 'Ready in the pool on the pool goal state, then the customer VM\'s');
    assert.equal(box.readFile('/etc/hostname'), `${ASSIGNED.hostname}\n`);
    assert.match(box.readFile('/etc/passwd'), new RegExp(`^${ASSIGNED.user}:`, 'm'));
    assert.doesNotMatch(box.readFile('/etc/passwd'), /^pooladmin:/m, 'the placeholder user is never created');
    assert.equal(passwordMatches(shadowHash(box, ASSIGNED.user), ASSIGNED.password), true);
    assert.match(box.readFile(`${LIB}/ovf-env.xml`), new RegExp(`<HostName>${ASSIGNED.hostname}</HostName>`));
    const key = (await box.fabric!.sshKeys()).find((k) => k.id === 'pps-key')!.publicKey;
    assert.equal(box.readFile(`/home/${ASSIGNED.user}/.ssh/authorized_keys`), key + '\n');
    assert.equal(box.exists(`${LIB}/pps_reported_ready`), false);
    assert.equal(box.readFile(`${LIB}/provisioned`), '7e1c9a52-3f0b-4d2e-9a61-2c5b8f4e0d17');
    const log = box.agentLog();
    assert.ok(!log.includes(ASSIGNED.password), 'the password is in no log line');
    assert.match(log, kindName === 'Running' ? /PPS: eth0 is connected again after the VNet switch/ : /PPS: NIC eth1 attached/);
    assert.equal((await box.run(['pgrep', '-f', 'ip -o monitor link'])).code, 1, 'the link monitor is gone');
    const kvp = readPool(box.hostPath('/var/lib/hyperv/.kvp_pool_1'));
    const rep = reportFields(kvp.find((r) => r.key === 'PROVISIONING_REPORT')!.value);
    assert.equal(rep.get('result'), 'success');
    assert.equal(rep.get('pps_type'), kindName);
    assert.ok(kvp.some((r) => r.key.endsWith('|pps-ready')) && kvp.some((r) => r.key.endsWith('|pps-reprovision-data')));
    const ms = run.readyAt - run.assignedAt;
    console.log(`PPS ${kindName}: reprovision data available -> Ready ${ms} ms (first 200 after ${run.dataAt - run.assignedAt} ms)`);
    return changedBesidesLog(box);
  } finally {
    await box.close();
  }
}

test('box (root): PPS Running: Ready in the pool, VNet switch on eth0, reprovisiondata, provisioned as the assigned VM', { skip }, async () => {
  const changed = await flow('Running');
  // The same files as a normal first boot with the assigned VM's ovf-env.
  const normalScenario = { ...poolScenario('Running'), ppsType: 'None', user: { name: ASSIGNED.user, password: ASSIGNED.password, disableSshPasswordAuthentication: false },
    vm: { vmId: '7e1c9a52-3f0b-4d2e-9a61-2c5b8f4e0d17', containerId: ASSIGNED.containerId, roleName: 'pool-vm', hostname: ASSIGNED.hostname }, sshKeys: ASSIGNED_KEYS };
  const box = await Box.start({ scenario: normalScenario, media: { kind: 'udf' }, files: { ...imageFiles(conf()), ...KVP_FILES } });
  try {
    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.deepEqual(changed, changedBesidesLog(box));
  } finally {
    await box.close();
  }
});

test('box (root): PPS Savable (-daemon): Ready in the pool, eth0 unplugged and eth1 plugged, reprovisiondata, provisioned as the assigned VM', { skip }, async () => {
  await flow('Savable', true);
});

test('box (root): PPS failure after reprovisioning (a refused user) is reported to the health endpoint and KVP; the next start resumes the wait and provisions', { skip }, async () => {
  const run = await runPool('Running', { assign: assignPatch({ name: 'root', password: ASSIGNED.password }) });
  const { box } = run;
  try {
    assert.equal(run.result.code, 1, run.result.stdout + run.result.stderr);
    const last = run.health.filter((h) => h.channel === 'xml').at(-1)!;
    assert.equal(`${last.state}/${last.subStatus}`, 'NotReady/ProvisioningFailed');
    assert.match(last.description ?? '', /user name "root" cannot be provisioned/);
    assert.equal(last.containerId, ASSIGNED.containerId, 'reported on the assigned VM\'s goal state');
    const pool = () => readPool(box.hostPath('/var/lib/hyperv/.kvp_pool_1'));
    const failed = reportFields(pool().find((r) => r.key === 'PROVISIONING_REPORT')!.value);
    assert.equal(failed.get('result'), 'error');
    assert.match(failed.get('reason')!, /cannot be provisioned/);
    assert.equal(failed.get('pps_type'), 'Running');
    assert.ok(!box.readFile('/var/lib/hyperv/.kvp_pool_1', null).includes(ASSIGNED.password), 'no password in the pool');
    assert.equal(box.exists(`${LIB}/pps_reported_ready`), true, 'still waiting to be provisioned');
    assert.equal(box.exists(`${LIB}/provisioned`), false);

    // The platform corrects the assignment; the agent starts again (as after a reboot).
    await box.fabric!.update({ user: { name: ASSIGNED.user, password: ASSIGNED.password } });
    const n = box.requests().length;
    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const again = box.requests().slice(n).map(kind);
    assert.deepEqual(again.filter((k) => k !== 'imds'), ['goalstate', 'reprovision 200', 'goalstate', 'health', 'health', 'health-json'], 'no second Ready in the pool');
    assert.match(box.readFile('/etc/passwd'), new RegExp(`^${ASSIGNED.user}:`, 'm'));
    assert.equal(box.readFile('/etc/hostname'), `${ASSIGNED.hostname}\n`);
    assert.equal(box.exists(`${LIB}/pps_reported_ready`), false);
    const reports = pool().filter((x) => x.key === 'PROVISIONING_REPORT');
    assert.equal(reports.length, 1, 'the earlier error report of ours was replaced');
    assert.equal(reportFields(reports[0]!.value).get('result'), 'success');
  } finally {
    await box.close();
  }
});

test('box (root): PPS Savable killed (SIGKILL) right after Ready in the pool: no monitor left behind; the next start reports no second Ready, polls reprovisiondata at once and provisions', { skip }, async () => {
  const box = await Box.start({ scenario: poolScenario('Savable'), media: { kind: 'udf' }, files: { ...imageFiles(conf()), ...KVP_FILES } });
  try {
    await plugNic(box, 'eth0');
    const crashed = await provisionRun(box, { WAAGENT_TEST_CRASH_AFTER: 'pps-ready' });
    assert.match(crashed.stdout, /WAAGENT_TEST_CRASH_AFTER=pps-ready: killing this process/);
    assert.notEqual(crashed.code, 0);
    assert.equal(box.exists(`${LIB}/pps_reported_ready`), true, 'the marker is written before the step ends');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await box.run(['pgrep', '-f', 'ip -o monitor link'])).code, 1, 'the link monitor died with the agent');

    // The VM is assigned while nothing runs (a Savable VM is suspended); on resume the agent starts again.
    await unplugNic(box, 'eth0');
    await plugNic(box, 'eth1');
    await box.fabric!.update(assignPatch());
    const n = box.requests().length;
    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /Ready was reported in the pool before this start/);
    const again = box.requests().slice(n).map(kind);
    assert.deepEqual(again.filter((k) => k !== 'imds'), ['goalstate', 'reprovision 200', 'goalstate', 'health', 'health', 'health-json']);
    assert.equal(box.readFile('/etc/hostname'), `${ASSIGNED.hostname}\n`);
    assert.equal(box.exists(`${LIB}/pps_reported_ready`), false);
    const health = await box.fabric!.health();
    assert.equal(health.filter((h) => h.channel === 'xml' && h.state === 'Ready').length, 2, 'one Ready in the pool, one for the assigned VM');
  } finally {
    await box.close();
  }
});
