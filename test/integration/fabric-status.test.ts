// The status blob store: direct BlockBlob/PageBlob PUTs and HostGAPlugin /status envelopes, with
// the checks real storage makes, and every upload kept for the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startFabric, type Fabric } from '../fabric/server.ts';
import { parseXml, textAt, path, child } from '../../src/util/xml.ts';
import { WS_HEADERS, baseScenario, hgapHeaders, http } from '../fabric/testing.ts';

let f: Fabric;
let sas: string;

const STATUS = JSON.stringify({ version: '1.1', timestampUTC: '2026-01-01T00:00:00Z', aggregateStatus: { guestAgentStatus: { version: '3.0.0.0', status: 'Ready' }, handlerAggregateStatus: [] } });

async function statusBlob(): Promise<{ url: string; type: string }> {
  const gs = parseXml((await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS)).text, 'gs');
  const url = textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'ExtensionsConfig')!;
  const blob = child(parseXml((await http('GET', url, WS_HEADERS)).text, 'ec'), 'StatusUploadBlob')!;
  return { url: blob.text.trim(), type: blob.attrs.statusBlobType! };
}

const blockHeaders = (n: number) => ({ 'x-ms-blob-type': 'BlockBlob', 'x-ms-date': '2026-01-01T00:00:00Z', 'x-ms-version': '2014-02-14', 'content-length': String(n) });

before(async () => {
  f = await startFabric({ scenario: baseScenario(), bind: 'loopback', quiet: true });
  sas = (await statusBlob()).url;
});
after(async () => { await f.close(); });

test('direct BlockBlob PUT is 201 and recorded; wrong sig 403; missing type 400', async () => {
  let r = await http('PUT', sas, blockHeaders(STATUS.length), STATUS);
  assert.equal(r.status, 201);
  const u = f.statusUploads().at(-1)!;
  assert.equal(u.channel, 'direct');
  assert.equal(u.blobType, 'BlockBlob');
  assert.equal(u.text, STATUS);
  assert.deepEqual(u.json, JSON.parse(STATUS));
  const n = f.statusUploads().length;
  r = await http('PUT', sas.replace(/sig=[^&]+/, 'sig=forged'), blockHeaders(STATUS.length), STATUS);
  assert.equal(r.status, 403);
  assert.match(r.text, /AuthenticationFailed/);
  r = await http('PUT', sas, { 'x-ms-date': 'x', 'x-ms-version': '2014-02-14' }, STATUS);
  assert.equal(r.status, 400);
  assert.equal(f.statusUploads().length, n, 'refused uploads are not recorded');
});

test('direct PageBlob: create, aligned page writes (NUL padding trimmed), misaligned and out-of-range refused', async () => {
  const size = Math.ceil(STATUS.length / 512) * 512;
  const base = { 'x-ms-date': '2026-01-01T00:00:00Z', 'x-ms-version': '2014-02-14' };
  let r = await http('PUT', sas, { ...base, 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': '1000', 'content-length': '0' });
  assert.equal(r.status, 400, 'blob size must be a multiple of 512');
  r = await http('PUT', sas, { ...base, 'x-ms-blob-type': 'PageBlob', 'x-ms-blob-content-length': String(size), 'content-length': '0' });
  assert.equal(r.status, 201);
  const page = Buffer.alloc(size);
  page.write(STATUS);
  const pageUrl = `${sas}&comp=page`;
  r = await http('PUT', pageUrl, { ...base, 'x-ms-page-write': 'update', 'x-ms-range': `bytes=1-${size}` }, page);
  assert.equal(r.status, 416);
  r = await http('PUT', pageUrl, { ...base, 'x-ms-page-write': 'update', 'x-ms-range': `bytes=${size}-${size + 511}` }, Buffer.alloc(512));
  assert.equal(r.status, 416);
  r = await http('PUT', pageUrl, { ...base, 'x-ms-range': `bytes=0-${size - 1}` }, page);
  assert.equal(r.status, 400, 'x-ms-page-write is required');
  const n = f.statusUploads().length;
  r = await http('PUT', pageUrl, { ...base, 'x-ms-page-write': 'update', 'x-ms-range': `bytes=0-${size - 1}` }, page);
  assert.equal(r.status, 201);
  assert.equal(f.statusUploads().length, n + 1);
  const u = f.statusUploads().at(-1)!;
  assert.equal(u.blobType, 'PageBlob');
  assert.equal(u.text, STATUS);
});

test('HostGAPlugin /status: BlockBlob envelope lands in the store as channel hgap; stale container is 400', async () => {
  const env = (content: string | undefined, headers: Array<[string, string]>, uri = sas) => JSON.stringify({
    ...(content !== undefined ? { content: Buffer.from(content).toString('base64') } : {}),
    headers: headers.map(([headerName, headerValue]) => ({ headerName, headerValue })),
    requestUri: uri,
  });
  const hdrs: Array<[string, string]> = [['Content-Length', String(STATUS.length)], ['x-ms-blob-type', 'BlockBlob'], ['x-ms-date', '2026-01-01T00:00:00Z'], ['x-ms-version', '2014-02-14']];
  let r = await http('PUT', `${f.urls.hgap}/status`, { ...hgapHeaders(f), 'content-type': 'application/json' }, env(STATUS, hdrs));
  assert.equal(r.status, 200);
  const u = f.statusUploads().at(-1)!;
  assert.equal(u.channel, 'hgap');
  assert.equal(u.text, STATUS);

  r = await http('PUT', `${f.urls.hgap}/status`, { ...hgapHeaders(f), 'x-ms-containerid': 'stale' }, env(STATUS, hdrs));
  assert.equal(r.status, 400);
  assert.match(r.text, /InvalidContainerConfiguration/);
  r = await http('PUT', `${f.urls.hgap}/status`, hgapHeaders(f), env(STATUS, hdrs, sas.replace(/sig=[^&]+/, 'sig=x')));
  assert.equal(r.status, 502, 'storage refusals come back as upstream failures');
  r = await http('PUT', `${f.urls.hgap}/status`, hgapHeaders(f), '{not json');
  assert.equal(r.status, 400);
});

test('HostGAPlugin /status PageBlob with space padding; NUL padding through HGAP is a violation', async () => {
  const size = 512;
  const env = (body: Buffer | undefined, headers: Array<[string, string]>, uri: string) => JSON.stringify({
    ...(body ? { content: body.toString('base64') } : {}),
    headers: headers.map(([headerName, headerValue]) => ({ headerName, headerValue })),
    requestUri: uri,
  });
  const d: Array<[string, string]> = [['x-ms-date', '2026-01-01T00:00:00Z'], ['x-ms-version', '2014-02-14']];
  let r = await http('PUT', `${f.urls.hgap}/status`, hgapHeaders(f), env(undefined, [['Content-Length', '0'], ['x-ms-blob-content-length', String(size)], ['x-ms-blob-type', 'PageBlob'], ...d], sas));
  assert.equal(r.status, 200);
  const padded = Buffer.from(STATUS.padEnd(size, ' '));
  const pageHdrs: Array<[string, string]> = [['Content-Length', String(size)], ...d, ['x-ms-range', `bytes=0-${size - 1}`], ['x-ms-page-write', 'update']];
  const nv = f.violations().length;
  r = await http('PUT', `${f.urls.hgap}/status`, hgapHeaders(f), env(padded, pageHdrs, `${sas}&comp=page`));
  assert.equal(r.status, 200);
  assert.equal(f.statusUploads().at(-1)!.text, STATUS);
  assert.equal(f.statusUploads().at(-1)!.channel, 'hgap');
  assert.equal(f.violations().length, nv);
  const zeroPadded = Buffer.alloc(size);
  zeroPadded.write(STATUS);
  r = await http('PUT', `${f.urls.hgap}/status`, hgapHeaders(f), env(zeroPadded, pageHdrs, `${sas}&comp=page`));
  assert.equal(r.status, 200);
  assert.ok(f.violations().slice(nv).some((v) => v.problem.includes('NULs')));
});

test('PageBlob status type when the scenario says so (ExtensionsConfig and vmSettings agree)', async () => {
  await f.update({ statusBlobType: 'PageBlob' });
  const b = await statusBlob();
  assert.equal(b.type, 'PageBlob');
  const vs = JSON.parse((await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f))).text) as { statusUploadBlob: { statusBlobType: string; value: string } };
  assert.deepEqual(vs.statusUploadBlob, { statusBlobType: 'PageBlob', value: b.url });
});

test('a status that strays from the spec is stored with its problems; missing storage headers are violations', async () => {
  const n = f.violations().length;
  let r = await http('PUT', sas, blockHeaders(STATUS.length), STATUS);
  assert.equal(r.status, 201);
  assert.deepEqual(f.statusUploads().at(-1)!.problems, [], 'a good status has no problems');
  assert.deepEqual(f.violations().slice(n), []);
  const bad = JSON.stringify({ version: '1.0', timestampUTC: 'now', aggregateStatus: { guestAgentStatus: { version: '2.2.0.0', status: 'Fine' } } }).replace('now', 'nöw');
  const buf = Buffer.from(bad);
  r = await http('PUT', sas, { 'x-ms-blob-type': 'BlockBlob', 'content-length': String(buf.length) }, buf);
  assert.equal(r.status, 201);
  const u = f.statusUploads().at(-1)!;
  assert.equal(u.text, bad);
  for (const want of ['version is "1.0"', 'timestampUTC', '"2.2.0.0" is not a four-part version >= 2.2.53',
    'guestAgentStatus.status is "Fine"', 'handlerAggregateStatus is not a list', 'not pure ASCII']) {
    assert.ok(u.problems.some((p) => p.includes(want)), `${want} in ${JSON.stringify(u.problems)}`);
  }
  const v = f.violations().slice(n).map((x) => x.problem);
  assert.deepEqual(v, ['direct: status blob PUT without x-ms-version', 'direct: status blob PUT without x-ms-date']);
  assert.ok(f.violations().slice(n).every((x) => !x.url.includes('sig=')), 'the SAS never lands in a violation');
  r = await http('PUT', sas, blockHeaders(5), 'hello');
  assert.deepEqual(f.statusUploads().at(-1)!.problems, ['status blob: not JSON']);
});
