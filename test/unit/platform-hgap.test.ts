import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HostPluginClient, statusEnvelopes, pageAlign, hgapBaseUrl } from '../../src/platform/hostplugin.ts';
import { uploadStatus } from '../../src/platform/statusblob.ts';
import { ImdsClient, parseImdsInstance } from '../../src/platform/imds.ts';
import { batchEvents, encodeEvent, quoteattr, agentEvent, MAX_EVENT_BUFFER_SIZE, type TelemetryEvent } from '../../src/platform/telemetry.ts';
import { GoalStateChangedError, ImdsUnavailableError, DocumentError, TransportError } from '../../src/platform/errors.ts';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/platform/http.ts';
import type { Clock } from '../../src/platform/retry.ts';

const fx = (n: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'platform', n), 'utf8');
const clock: Clock = { now: () => 0, sleep: async () => {}, random: () => 0 };

/** Routes requests to handlers by path; records them. */
class Fake implements HttpTransport {
  calls: HttpRequest[] = [];
  handler: (r: HttpRequest) => HttpResponse | 'reset';
  constructor(h: (r: HttpRequest) => HttpResponse | 'reset') { this.handler = h; }
  async send(r: HttpRequest): Promise<HttpResponse> {
    this.calls.push(r);
    const a = this.handler(r);
    if (a === 'reset') throw new TransportError(r.doc, 'reset', 'ECONNRESET');
    return a;
  }
}
const resp = (status: number, body = '', headers: Record<string, string> = {}): HttpResponse => ({ status, headers, body: Buffer.from(body) });
const ids = () => ({ containerId: 'cid-1', configName: 'cfg-1' });

test('vmSettings: headers, ETag caching with If-None-Match, 304, 404 unsupported for 6 h, 410 typed', async () => {
  let mode = 'ok';
  const t = new Fake((r) => {
    if (mode === 'ok') return resp(200, fx('vmsettings.json'), { etag: '"7"' });
    if (mode === '304') return resp(304);
    if (mode === '410') return resp(410);
    if (mode === 'noetag') return resp(200, fx('vmsettings.json'));
    if (mode === 'old') return resp(200, fx('vmsettings.json').replace('1.0.8.140', '1.0.8.116'), { etag: '"8"' });
    return resp(404);
  });
  let now = 0;
  const c = new HostPluginClient({ baseUrl: 'http://127.0.0.1:1', transport: t, ids, clock: { ...clock, now: () => now } });
  const a = await c.vmSettings();
  assert.equal(a.kind, 'new');
  assert.equal(c.supportsVmSettings, true);
  const h = t.calls[0]!.headers!;
  assert.equal(h['x-ms-version'], '2015-09-01');
  assert.equal(h['x-ms-containerid'], 'cid-1');
  assert.equal(h['x-ms-host-config-name'], 'cfg-1');
  assert.match(h['x-ms-client-correlationid']!, /^[0-9a-f-]{36}$/);
  assert.equal(h['if-none-match'], undefined);
  mode = '304';
  const b = await c.vmSettings();
  assert.equal(b.kind, 'unchanged');
  assert.equal(t.calls[1]!.headers!['if-none-match'], '"7"');
  assert.equal(b.kind === 'unchanged' && b.goalState?.id, 'etag_"7"');
  mode = '410';
  await assert.rejects(c.vmSettings(), GoalStateChangedError);
  mode = 'noetag';
  await assert.rejects(c.vmSettings(true), /vmSettings: response has no ETag/);
  mode = 'old';
  assert.equal((await c.vmSettings(true)).kind, 'unsupported');
  mode = '404';
  const n = t.calls.length;
  assert.equal((await c.vmSettings(true)).kind, 'unsupported');
  assert.equal(c.supportsVmSettings, false);
  assert.equal((await c.vmSettings()).kind, 'unsupported');
  assert.equal(t.calls.length, n + 1, 'not asked again within 6 h');
  now += 6 * 3600_000 + 1;
  mode = 'ok';
  assert.equal((await c.vmSettings()).kind, 'unchanged', 'same ETag as before: the same goal state');
  assert.equal(c.supportsVmSettings, true);
});

test('status envelopes: block blob one PUT; page blob create + pages padded with spaces to 512', () => {
  const status = Buffer.from('{"version":"1.1"}');
  const [blk] = statusEnvelopes('https://acct.blob.test/c/vm.status?sv=1&sig=S', 'BlockBlob', status, '2026-01-01T00:00:00Z');
  const b = JSON.parse(blk!);
  assert.deepEqual(Object.keys(b), ['content', 'headers', 'requestUri']);
  assert.equal(Buffer.from(b.content, 'base64').toString(), '{"version":"1.1"}');
  assert.deepEqual(b.headers, [{ headerName: 'Content-Length', headerValue: String(status.length) }, { headerName: 'x-ms-blob-type', headerValue: 'BlockBlob' }, { headerName: 'x-ms-date', headerValue: '2026-01-01T00:00:00Z' }, { headerName: 'x-ms-version', headerValue: '2014-02-14' }]);
  const big = Buffer.alloc(5 * 1024 * 1024 + 3, 0x61);
  const pages = statusEnvelopes('https://acct.blob.test/c/vm.status?sv=1', 'PageBlob', big, 'D').map((x) => JSON.parse(x));
  assert.equal(pages.length, 3);
  assert.equal(pages[0].content, undefined);
  assert.equal(pages[0].headers.find((h: any) => h.headerName === 'x-ms-blob-content-length').headerValue, String(pageAlign(big.length)));
  assert.equal(pages[1].requestUri, 'https://acct.blob.test/c/vm.status?sv=1&comp=page');
  assert.equal(pages[1].headers.find((h: any) => h.headerName === 'x-ms-range').headerValue, `bytes=0-${4 * 1024 * 1024 - 1}`);
  const last = Buffer.from(pages[2].content, 'base64');
  assert.equal(last.length % 512, 0);
  assert.equal(last.at(-1), 0x20, 'HGAP page blobs are padded with spaces');
  assert.equal(pages[2].headers.find((h: any) => h.headerName === 'x-ms-range').headerValue, `bytes=${4 * 1024 * 1024}-${pageAlign(big.length) - 1}`);
  assert.equal(hgapBaseUrl('168.63.129.16'), 'http://168.63.129.16:32526');
});

test('status upload: HGAP first; direct fallback (201 only, zero padding); 410 stops without direct', async () => {
  const blob = { url: 'https://acct.blob.test/c/vm.status?sv=1&sig=S', type: 'PageBlob' as const };
  let hgapStatus = 500;
  let directStatus = 201;
  const t = new Fake((r) => {
    if (r.url.endsWith('/versions')) return resp(200, '["2015-09-01","2012-11-30"]');
    if (r.url.endsWith('/status')) return resp(hgapStatus);
    return resp(directStatus);
  });
  const hgap = new HostPluginClient({ baseUrl: 'http://127.0.0.1:1', transport: t, ids, clock });
  hgapStatus = 200;
  let o = await uploadStatus({ blob, status: 'x'.repeat(600), hgap, transport: t, clock });
  assert.deepEqual([o.ok, o.channel], [true, 'HostGAPlugin']);
  assert.equal(t.calls.filter((c) => c.url.endsWith('/status')).length, 2, 'create + one page');
  t.calls.length = 0;
  hgapStatus = 400;
  o = await uploadStatus({ blob, status: 'x'.repeat(600), hgap, transport: t, clock });
  assert.deepEqual([o.ok, o.channel], [true, 'Direct']);
  const direct = t.calls.filter((c) => c.url.startsWith('https://acct'));
  assert.equal(direct.length, 2);
  assert.equal(direct[0]!.headers!['x-ms-blob-content-length'], '1024');
  assert.equal(direct[0]!.headers!['x-ms-blob-type'], 'PageBlob');
  assert.equal(direct[1]!.url, 'https://acct.blob.test/c/vm.status?sv=1&sig=S&comp=page');
  assert.equal(direct[1]!.headers!['x-ms-range'], 'bytes=0-1023');
  assert.equal(direct[1]!.headers!['x-ms-page-write'], 'update');
  assert.equal((direct[1]!.body as Buffer).at(-1), 0, 'direct page blobs are padded with zero bytes');
  assert.equal(direct.every((c) => c.useProxy === true), true, 'storage traffic may use the proxy');
  t.calls.length = 0;
  hgapStatus = 410;
  o = await uploadStatus({ blob, status: '{}', hgap, transport: t, clock });
  assert.deepEqual([o.ok, o.goalStateChanged], [false, true]);
  assert.equal(t.calls.filter((c) => c.url.startsWith('https://acct')).length, 0, 'no direct attempt after 410');
  hgapStatus = 500;
  directStatus = 200;
  o = await uploadStatus({ blob: { ...blob, type: 'BlockBlob' }, status: '{}', hgap, transport: t, clock });
  assert.equal(o.ok, false, 'direct success is 201 only');
  assert.equal(o.attempts.length, 2);
  assert.ok(o.attempts.every((a) => !a.detail.includes('sig=S')));
});

test('IMDS: Metadata header, extended=true, parse, fallback on 400, absent => ImdsUnavailableError', async () => {
  const doc = { compute: { vmId: 'vm-1', name: 'n', location: 'westus', osProfile: { adminUsername: 'azureuser', computerName: 'host1', disablePasswordAuthentication: 'true' }, publicKeys: [{ keyData: 'ssh-rsa AAA x', path: '/home/azureuser/.ssh/authorized_keys' }] }, network: { interface: [{ macAddress: '000D3A000001', ipv4: { ipAddress: [{ privateIpAddress: '10.0.0.4' }] } }] } };
  let first400 = true;
  const t = new Fake((r) => {
    if (r.url.includes('2021-08-01') && first400) return resp(400);
    return resp(200, JSON.stringify(doc));
  });
  const c = new ImdsClient({ transport: t, baseUrl: 'http://127.0.0.1:1', clock });
  const i = await c.instance();
  assert.equal(t.calls[0]!.headers!.Metadata, 'true');
  assert.match(t.calls[0]!.url, /\/metadata\/instance\?api-version=2021-08-01&extended=true$/);
  assert.match(t.calls[1]!.url, /api-version=2019-06-01$/);
  assert.equal(i.vmId, 'vm-1');
  assert.equal(i.osProfile.disablePasswordAuthentication, true);
  assert.deepEqual(i.publicKeys, [{ keyData: 'ssh-rsa AAA x', path: '/home/azureuser/.ssh/authorized_keys' }]);
  assert.deepEqual(i.interfaces, [{ macAddress: '000D3A000001', privateIpv4: ['10.0.0.4'] }]);
  const down = new ImdsClient({ transport: new Fake(() => 'reset'), baseUrl: 'http://127.0.0.1:1', clock });
  await assert.rejects(down.instance(), ImdsUnavailableError);
  const nf = new ImdsClient({ transport: new Fake(() => resp(404)), baseUrl: 'http://127.0.0.1:1', clock });
  await assert.rejects(nf.instance(), ImdsUnavailableError);
  const garbage = new ImdsClient({ transport: new Fake(() => resp(200, '{not json')), baseUrl: 'http://127.0.0.1:1', clock });
  await assert.rejects(garbage.instance(), DocumentError);
  assert.throws(() => parseImdsInstance({ compute: {} }), /IMDS: missing required field \(element compute\.vmId\)/);
  assert.throws(() => parseImdsInstance({ compute: { vmId: 'x', publicKeys: 'nope' } }), /compute\.publicKeys/);
});

test('telemetry: quoteattr, types, batches under 64512 bytes, oversized events dropped', () => {
  assert.equal(quoteattr('a&b<c>'), '"a&amp;b&lt;c&gt;"');
  assert.equal(quoteattr('say "hi"'), `'say "hi"'`);
  assert.equal(quoteattr(`both " and '`), `"both &quot; and '"`);
  assert.equal(quoteattr('l1\nl2\t'), '"l1&#10;l2&#9;"');
  const e: TelemetryEvent = { providerId: '69B669B9-4AF8-4C50-BDC4-6006FA76E975', eventId: 1, params: [
    { name: 'Name', value: 'WALinuxAgent' }, { name: 'OperationSuccess', value: true }, { name: 'Duration', value: 12 }, { name: 'Value', value: { float: 2 } },
  ] };
  assert.equal(encodeEvent(e), '<Event id="1"><![CDATA[<Param Name="Name" Value="WALinuxAgent" T="mt:wstr" /><Param Name="OperationSuccess" Value="True" T="mt:bool" /><Param Name="Duration" Value="12" T="mt:uint64" /><Param Name="Value" Value="2.0" T="mt:float64" />]]></Event>');
  const msg = (n: number): TelemetryEvent => ({ ...e, params: [{ name: 'Message', value: 'm'.repeat(n) }] });
  const events = [...Array.from({ length: 30 }, () => msg(5000)), msg(70000), { ...msg(10), providerId: 'FFF0196F-EE4C-4EAF-9AA5-776F622DEB4F', eventId: 7 }];
  const { batches, dropped } = batchEvents(events);
  assert.equal(dropped, 1);
  assert.equal(batches.reduce((a, b) => a + b.events, 0), 31);
  assert.ok(batches.every((b) => Buffer.byteLength(b.body) < MAX_EVENT_BUFFER_SIZE));
  assert.equal(new Set(batches.map((b) => b.providerId)).size, 2);
  assert.ok(batches[0]!.body.startsWith('<?xml version="1.0"?><TelemetryData version="1.0"><Provider id="69B669B9-4AF8-4C50-BDC4-6006FA76E975">'));
});

test('agent event 1: parameters in the spec order with placeholders for unknown values', () => {
  const ev = agentEvent({ name: 'WALinuxAgent', version: '3.0.0.0', operation: 'Provision', success: true, message: 'ok', durationMs: 12.4, time: new Date('2026-01-02T03:04:05.678Z') },
    { gaVersion: 'WALinuxAgent-3.0.0.0', containerId: 'cid', osVersion: 'Linux:flatcar-4000-:6.6', ramMb: 2048, processors: 2, cpuArchitecture: 'x86_64', vmId: 'vm' });
  assert.deepEqual(ev.params.map((p) => p.name), ['Name', 'Version', 'Operation', 'OperationSuccess', 'Message', 'Duration', 'GAVersion', 'ContainerId', 'OpcodeName', 'EventTid', 'EventPid', 'TaskName', 'ExtensionType', 'IsInternal', 'OSVersion', 'ExecutionMode', 'RAM', 'Processors', 'KeywordName', 'TenantName', 'RoleName', 'RoleInstanceName', 'Location', 'SubscriptionId', 'ResourceGroupName', 'VMId', 'ImageOrigin']);
  const enc = encodeEvent(ev);
  assert.match(enc, /<Param Name="OpcodeName" Value="2026-01-02T03:04:05\.678000Z" T="mt:wstr" \/>/);
  assert.match(enc, /<Param Name="Duration" Value="12" T="mt:uint64" \/>/);
  assert.match(enc, /<Param Name="KeywordName" Value='\{"CpuArchitecture": "x86_64"\}' T="mt:wstr" \/>/);
  assert.match(enc, /<Param Name="Location" Value="Location_UNINITIALIZED" T="mt:wstr" \/>/);
  assert.match(enc, /<Param Name="VMId" Value="vm" T="mt:wstr" \/>/);
});
