// Scripted misbehaviour happens exactly as written (counts, skip, per endpoint/path/method), and
// goal-state changes (timeline, update, incarnation bump) move the incarnation and ETag as specified.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFabric, type Fabric } from '../fabric/server.ts';
import { parseXml, textAt } from '../../src/util/xml.ts';
import { WS_HEADERS, baseScenario, hgapHeaders, http, until } from '../fabric/testing.ts';

const GS = '/machine/?comp=goalstate';

async function withFabric(extra: Record<string, unknown>, fn: (f: Fabric) => Promise<void>): Promise<void> {
  const f = await startFabric({ scenario: baseScenario(extra), bind: 'loopback', quiet: true });
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

test('status fault: the first N matching requests fail, then normal answers; other paths untouched', () => withFabric({
  faults: [{ endpoint: 'wire', path: 'comp=goalstate', action: 'status', status: 503, count: 2 }],
}, async (f) => {
  const codes: number[] = [];
  for (let i = 0; i < 4; i++) codes.push((await http('GET', `${f.urls.wire}${GS}`, WS_HEADERS)).status);
  assert.deepEqual(codes, [503, 503, 200, 200]);
  assert.equal((await http('GET', `${f.urls.wire}/?comp=versions`)).status, 200);
  assert.deepEqual(f.requests({ path: 'goalstate' }).map((r) => r.fault ?? ''), ['status 503', 'status 503', '', '']);
  assert.match(f.summary()[0]!, /wire: 5 requests \(200x3 503x2\), 2 faults injected/);
}));

test('skip lets requests through before the fault; method filter; gone answers 410 once', () => withFabric({
  faults: [
    { endpoint: 'hgap', path: '/vmSettings', action: 'gone', skip: 1 },
    { endpoint: 'wire', path: 'comp=health', method: 'POST', action: 'status', status: 500, count: 0 },
  ],
}, async (f) => {
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f))).status);
  assert.deepEqual(codes, [200, 410, 200]);
  for (let i = 0; i < 3; i++) assert.equal((await http('POST', `${f.urls.wire}/machine?comp=health`, WS_HEADERS, '<x/>')).status, 500, 'count 0 = always');
  assert.equal(f.health().length, 0);
}));

test('reset drops the connection; truncate sends half the promised body; garble keeps the length but breaks the XML', () => withFabric({
  faults: [
    { endpoint: 'wire', path: 'comp=versions', action: 'reset' },
    { endpoint: 'wire', path: 'comp=goalstate', action: 'truncate' },
    { endpoint: 'imds', path: '/metadata/instance', action: 'garble' },
  ],
}, async (f) => {
  await assert.rejects(http('GET', `${f.urls.wire}/?comp=versions`), /ECONNRESET|socket hang up|aborted/);
  assert.equal((await http('GET', `${f.urls.wire}/?comp=versions`)).status, 200, 'only once');

  await assert.rejects(http('GET', `${f.urls.wire}${GS}`, WS_HEADERS), /aborted|ECONNRESET|terminated|socket hang up/);
  const full = await http('GET', `${f.urls.wire}${GS}`, WS_HEADERS);
  assert.equal(parseXml(full.text, 'gs').local, 'GoalState');

  const normal = JSON.stringify((await import('../fabric/documents.ts')).imdsInstance(f.scenario(), new Map(f.sshKeys().map((k) => [k.id, k.publicKey]))));
  const g = await http('GET', `${f.urls.imds}/metadata/instance?api-version=2021-02-01`, { Metadata: 'true' });
  assert.equal(g.status, 200);
  assert.equal(g.body.length, Buffer.byteLength(normal));
  assert.notEqual(g.text, normal);
  assert.throws(() => JSON.parse(g.text));
  const ok = await http('GET', `${f.urls.imds}/metadata/instance?api-version=2021-02-01`, { Metadata: 'true' });
  assert.equal(ok.text, normal);
}));

test('delay answers normally after the pause (recorded as a delay fault)', () => withFabric({
  faults: [{ endpoint: 'blob', path: '_manifest.xml', action: 'delay', delayMs: 50 }],
}, async (f) => {
  const r = await http('GET', `${f.urls.blob}/extensions/Waagent.Test.ShellExt_manifest.xml`);
  assert.equal(r.status, 200);
  assert.equal(f.requests({ endpoint: 'blob' })[0]!.fault, 'delay 50ms');
}));

test('timeline atRequest: the 3rd goal-state request triggers a new incarnation with the patched settings', () => withFabric({
  timeline: [{ atRequest: { count: 3, endpoint: 'wire', path: 'comp=goalstate' }, patch: { extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 4, publicSettings: { message: 'second' } }] } }],
}, async (f) => {
  const inc = async () => textAt(parseXml((await http('GET', `${f.urls.wire}${GS}`, WS_HEADERS)).text, 'gs'), 'Incarnation');
  const etag1 = f.etag();
  assert.deepEqual([await inc(), await inc(), await inc()], ['1', '1', '1']);
  await until(() => f.incarnation(), (n) => n === 2);
  assert.equal(await inc(), '2');
  assert.notEqual(f.etag(), etag1, 'changed extensions => new vmSettings ETag');
  const vs = JSON.parse((await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f))).text) as { inSvdSeqNo: number; extensionGoalStates: Array<{ settings: Array<{ seqNo: number; protectedSettings?: string }> }> };
  assert.equal(vs.inSvdSeqNo, 2);
  assert.equal(vs.extensionGoalStates[0]!.settings[0]!.seqNo, 4);
  assert.equal(vs.extensionGoalStates[0]!.settings[0]!.protectedSettings, undefined);
  // Fired once only.
  await inc();
  assert.equal(f.incarnation(), 2);
}));

test('timeline afterSeconds bumps the incarnation without a request', () => withFabric({
  timeline: [{ afterSeconds: 0.05, patch: {} }],
}, async (f) => {
  const etag = f.etag();
  await until(() => f.incarnation(), (n) => n === 2);
  assert.equal(f.etag(), etag, 'an empty patch changes no extension, so the ETag stays');
}));

test('update() and bumpIncarnation(): incarnation always moves, ETag only with extension changes; 304 until then', () => withFabric({}, async (f) => {
  const first = await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f));
  const etag = first.headers.etag as string;
  assert.deepEqual(f.bumpIncarnation(), { incarnation: 2, etag });
  assert.equal((await http('GET', `${f.urls.hgap}/vmSettings`, { ...hgapHeaders(f), 'if-none-match': etag })).status, 304);
  const u = await f.update({ user: { name: 'other', password: 'x' } });
  assert.deepEqual(u, { incarnation: 3, etag });
  const u2 = await f.update({ extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', state: 'disabled', seqNo: 3 }] });
  assert.equal(u2.incarnation, 4);
  assert.notEqual(u2.etag, etag);
  const r = await http('GET', `${f.urls.hgap}/vmSettings`, { ...hgapHeaders(f), 'if-none-match': etag });
  assert.equal(r.status, 200);
  assert.equal(r.headers.etag, u2.etag);
  assert.equal((JSON.parse(r.text) as { extensionGoalStates: Array<{ state: string }> }).extensionGoalStates[0]!.state, 'disabled');
  await assert.rejects(f.update({ vm: { vmId: 'not-a-guid' } }), /update: vm\.vmId/);
  assert.equal(f.incarnation(), 4, 'a refused patch changes nothing');
}));

test('vmSettings off answers 404 like older hosts', () => withFabric({ vmSettings: false }, async (f) => {
  assert.equal((await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f))).status, 404);
  await f.update({ vmSettings: { enabled: true } });
  assert.equal((await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f))).status, 200);
}));

test('noRoleInstance: the first goal states come without RoleInstanceList, then whole', () => withFabric({
  faults: [{ endpoint: 'wire', path: 'comp=goalstate', action: 'noRoleInstance', count: 2 }],
}, async (f) => {
  const has: boolean[] = [];
  for (let i = 0; i < 3; i++) {
    const gs = parseXml((await http('GET', `${f.urls.wire}${GS}`, WS_HEADERS)).text, 'gs');
    assert.equal(textAt(gs, 'Container', 'ContainerId'), f.scenario().vm.containerId);
    has.push(textAt(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'InstanceId') !== undefined);
  }
  assert.deepEqual(has, [false, false, true]);
}));

test('onHold: ExtensionsConfig names an artifacts profile saying so, vmSettings agrees; off again removes it', () => withFabric({ onHold: true }, async (f) => {
  const ecOf = async () => {
    const gs = parseXml((await http('GET', `${f.urls.wire}${GS}`, WS_HEADERS)).text, 'gs');
    const url = textAt(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration', 'ExtensionsConfig')!;
    return parseXml((await http('GET', url, WS_HEADERS)).text, 'ec');
  };
  const profile = textAt(await ecOf(), 'InVMArtifactsProfileBlob')!;
  assert.ok(profile.startsWith(`${f.urls.blob}/`));
  assert.deepEqual(JSON.parse((await http('GET', profile)).text), { onHold: true });
  const vs = JSON.parse((await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f))).text) as { onHold: boolean };
  assert.equal(vs.onHold, true);
  await f.update({ onHold: false });
  assert.equal(textAt(await ecOf(), 'InVMArtifactsProfileBlob'), undefined);
  assert.equal((await http('GET', profile)).status, 404);
}));
