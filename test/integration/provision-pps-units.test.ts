// The pure parts of KVP reporting and pool detection: the report's csv encoding and size limit,
// which records are ours, and cloud-init's order for the pool type; plus the IMDS client's
// reprovisiondata request and ppsType against the fabric simulator on 127.0.0.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeReport, isOurRecord, reportValue, REPORT_AGENT } from '../../src/provision/kvpreport.ts';
import { poolType } from '../../src/provision/pps.ts';
import { parseOvfEnv } from '../../src/platform/ovfenv.ts';
import { ImdsClient } from '../../src/platform/imds.ts';
import { HttpClient } from '../../src/platform/http.ts';
import { startFabric } from '../fabric/server.ts';
import { ovfXml } from '../helpers/provision-fixtures.ts';
import { reportFields } from '../helpers/kvp-reader.ts';

test('PROVISIONING_REPORT: csv with | and \' quoting as cloud-init encodes it; cut to 1022 bytes by shortening the reason only', () => {
  assert.equal(encodeReport(['a=1', 'b=x|y', "c=it's", 'd=two\nlines']), "a=1|'b=x|y'|'c=it''s'|'d=two\nlines'");
  const ok = reportValue({ ok: true, pps: 'Savable', vmId: 'vm-1', nowMs: Date.UTC(2026, 0, 2, 3, 4, 5, 6) });
  assert.equal(ok, `result=success|agent=${REPORT_AGENT}|pps_type=Savable|vm_id=vm-1|timestamp=2026-01-02T03:04:05.006Z`);
  const long = reportValue({ ok: false, reason: 'ü|'.repeat(2000) + '\nsecond line', pps: 'None', vmId: 'vm-1', nowMs: 0 });
  assert.ok(Buffer.byteLength(long) <= 1022, `${Buffer.byteLength(long)} bytes`);
  const f = reportFields(long);
  assert.match(f.get('reason')!, /^(ü\|)+.*\.\.\.$/);
  assert.equal(f.get('documentation_url'), 'https://aka.ms/linuxprovisioningerror');
  assert.equal(f.get('vm_id'), 'vm-1');
  assert.equal(f.get('result'), 'error');
});

test('ours: our key prefix, or a PROVISIONING_REPORT with our agent; never cloud-init\'s or azure-init\'s', () => {
  assert.equal(isOurRecord({ key: 'waagent-sea|1|vm|provision|1|media', value: '' }), true);
  assert.equal(isOurRecord({ key: 'PROVISIONING_REPORT', value: `result=success|agent=${REPORT_AGENT}|pps_type=None` }), true);
  assert.equal(isOurRecord({ key: 'PROVISIONING_REPORT', value: 'result=success|agent=Cloud-Init/24.1' }), false);
  assert.equal(isOurRecord({ key: 'CLOUD_INIT|1|start|x', value: '' }), false);
  assert.equal(isOurRecord({ key: 'azure-init-1.0|vm|INFO|x|y', value: '' }), false);
  // A report an earlier version of ours left (e.g. in a captured image) is replaced, not kept beside ours.
  assert.equal(isOurRecord({ key: 'PROVISIONING_REPORT', value: 'result=success|agent=waagent-sea/2.9.0.0|pps_type=None' }), true);
  // Our agent text inside another writer's quoted reason is not our field.
  assert.equal(isOurRecord({ key: 'PROVISIONING_REPORT', value: "result=error|reason='x agent=waagent-sea/3.0.0.0'|agent=Cloud-Init/24.1" }), false);
});

test('pool type in cloud-init\'s order: marker, Savable, OS disk, Running (PreprovisionedVm or type), from ovf or IMDS', () => {
  const ovf = (pps?: string) => parseOvfEnv(ovfXml(pps ? { pps } : {}), { homeDir: '/home', source: 'test' });
  const imds = (ppsType: string) => ({ ppsType } as Parameters<typeof poolType>[2]);
  assert.equal(poolType(false, ovf(), null), 'None');
  assert.equal(poolType(false, ovf('None'), imds('None')), 'None');
  assert.equal(poolType(false, ovf('Running'), null), 'Running');
  assert.equal(poolType(false, ovf('Savable'), null), 'Savable');
  assert.equal(poolType(false, ovf('PreprovisionedOSDisk'), null), 'PreprovisionedOSDisk');
  assert.equal(poolType(false, ovf(), imds('Savable')), 'Savable');
  assert.equal(poolType(false, ovf('Running'), imds('Savable')), 'Savable', 'Savable first');
  assert.equal(poolType(false, null, imds('Running')), 'Running');
  assert.equal(poolType(true, ovf(), null), 'Unknown', 'a restart while waiting');
});

test('IMDS reprovisiondata: 404 until assigned, then the new ovf-env; Metadata and a fresh request id; ppsType parsed', async (t) => {
  const f = await startFabric({ scenario: 'test/fabric/scenarios/pps-pool.json', bind: 'loopback', quiet: true });
  t.after(() => f.close());
  const http = new HttpClient({ env: {} });
  t.after(() => http.close());
  const imds = new ImdsClient({ transport: http, baseUrl: f.urls.imds });
  assert.equal((await imds.instance()).ppsType, 'Running');
  assert.deepEqual(await imds.reprovisionData(), { status: 404 });
  await f.update({ ppsType: 'None', reprovisionData: true, vm: { hostname: 'assigned-vm' } });
  const r = await imds.reprovisionData();
  assert.equal(r.status, 200);
  assert.match(r.text!, /<HostName>assigned-vm<\/HostName>/);
  assert.match(r.text!, /<wa:PreprovisionedVm>false<\/wa:PreprovisionedVm>/);
  assert.equal((await imds.instance()).ppsType, 'None');
  const q = f.requests({ endpoint: 'imds', path: 'reprovisiondata' });
  assert.equal(q.length, 2);
  assert.notEqual(q[0]!.headers['x-ms-client-request-id'], q[1]!.headers['x-ms-client-request-id']);
  assert.equal(q[0]!.headers['metadata'], 'true');
});
