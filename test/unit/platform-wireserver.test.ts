import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { WireServerClient } from '../../src/platform/wireserver.ts';
import { NoRoleInstanceError } from '../../src/platform/goalstate.ts';
import { HttpError, ProtocolError } from '../../src/platform/errors.ts';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/platform/http.ts';
import type { Clock } from '../../src/platform/retry.ts';

const fx = (n: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'platform', n), 'utf8');
const GS = fx('goalstate.xml');
const NO_ROLE = GS.replace(/<RoleInstanceList>[\s\S]*<\/RoleInstanceList>/, '<RoleInstanceList/>');

class Fake implements HttpTransport {
  calls: HttpRequest[] = [];
  h: (r: HttpRequest, n: number) => HttpResponse;
  constructor(h: (r: HttpRequest, n: number) => HttpResponse) { this.h = h; }
  async send(r: HttpRequest) { this.calls.push(r); return this.h(r, this.calls.length); }
}
const ok = (body: string, status = 200): HttpResponse => ({ status, headers: {}, body: Buffer.from(body) });

function client(t: HttpTransport, sleeps: number[] = []): { c: WireServerClient; done: () => void } {
  const lib = mkdtempSync(join(tmpdir(), 'ws-unit-'));
  const clock: Clock = { now: () => 0, sleep: async (ms) => { sleeps.push(ms); }, random: () => 0 };
  return { c: new WireServerClient({ endpoint: '127.0.0.1:9', libDir: lib, transport: t, clock }), done: () => rmSync(lib, { recursive: true, force: true }) };
}

test('versions: no x-ms headers; refusal when 2012-11-30 is not offered', async () => {
  const t = new Fake(() => ok('<Versions><Preferred><Version>2012-11-30</Version></Preferred></Versions>'));
  const { c, done } = client(t);
  try {
    await c.checkVersions();
    assert.equal(t.calls[0]!.url, 'http://127.0.0.1:9/?comp=versions');
    assert.equal(t.calls[0]!.headers, undefined);
    t.h = () => ok('<Versions><Preferred><Version>2099-01-01</Version></Preferred></Versions>');
    await assert.rejects(c.checkVersions(), (e: unknown) => e instanceof ProtocolError && /2012-11-30/.test(e.message));
  } finally { done(); }
});

test('goal state: WS headers and URL; RoleInstance missing is re-fetched (0.5 s apart, at most 6 times)', async () => {
  const sleeps: number[] = [];
  const t = new Fake((_r, n) => ok(n <= 2 ? NO_ROLE : GS));
  const { c, done } = client(t, sleeps);
  try {
    const { goalState, changed } = await c.fetchGoalState();
    assert.equal(goalState.incarnation, '7');
    assert.equal(changed, true);
    assert.equal(t.calls.length, 3);
    assert.deepEqual(sleeps, [500, 500]);
    assert.equal(t.calls[0]!.url, 'http://127.0.0.1:9/machine/?comp=goalstate');
    assert.deepEqual(t.calls[0]!.headers, { 'x-ms-agent-name': 'WALinuxAgent', 'x-ms-version': '2012-11-30' });
    // Same text again: cached, not changed.
    const again = await c.fetchGoalState();
    assert.equal(again.changed, false);
    assert.equal(again.goalState, goalState, 'identical text is not parsed again');
    t.h = () => ok(NO_ROLE);
    const n = t.calls.length;
    await assert.rejects(c.fetchGoalState(), NoRoleInstanceError);
    assert.equal(t.calls.length - n, 6);
    // ContainerId can change without an incarnation change: the model follows, `changed` stays false.
    t.h = () => ok(GS.replace('c0ffee00-1111', 'c0ffee00-9999'));
    const moved = await c.fetchGoalState();
    assert.equal(moved.changed, false);
    assert.equal(moved.goalState.containerId, 'c0ffee00-9999-2222-3333-444455556666');
    assert.equal(c.current?.containerId, 'c0ffee00-9999-2222-3333-444455556666');
  } finally { done(); }
});

test('health, role properties and telemetry: URLs without the slash, XML content type, 202 rule', async () => {
  const t = new Fake((r) => (r.url.includes('roleProperties') ? ok('', 200) : ok(GS)));
  const { c, done } = client(t);
  try {
    await assert.rejects(c.reportHealth({ state: 'Ready' }), /no goal state fetched yet/);
    await c.fetchGoalState();
    await c.reportHealth({ state: 'NotReady', subStatus: 'Provisioning', description: 'Starting' });
    const h = t.calls.at(-1)!;
    assert.equal(h.method, 'POST');
    assert.equal(h.url, 'http://127.0.0.1:9/machine?comp=health');
    assert.equal(h.headers!['Content-Type'], 'text/xml;charset=utf-8');
    assert.match(String(h.body), /<GoalStateIncarnation>7<\/GoalStateIncarnation>.*<State>NotReady<\/State><Details><SubStatus>Provisioning<\/SubStatus><Description>Starting<\/Description><\/Details>/);
    await assert.rejects(c.reportRoleProperties('abc'), (e: unknown) => e instanceof HttpError && e.status === 200);
    assert.equal(t.calls.at(-1)!.url, 'http://127.0.0.1:9/machine?comp=roleProperties');
    const tel = await c.sendTelemetry([{ providerId: 'P1', eventId: 1, params: [{ name: 'a', value: 1 }] }, { providerId: 'P2', eventId: 7, params: [] }]);
    assert.deepEqual(tel, { sent: 2, dropped: 0, requests: 2, failed: 0 });
    assert.equal(t.calls.at(-1)!.url, 'http://127.0.0.1:9/machine?comp=telemetrydata');
  } finally { done(); }
});

test('certificates are not fetched again for the same incarnation; absent URL means none', async () => {
  const t = new Fake(() => ok(GS.replace(/<Certificates>.*<\/Certificates>/, '')));
  const { c, done } = client(t);
  try {
    const { goalState } = await c.fetchGoalState();
    assert.deepEqual(await c.fetchCertificates(goalState), []);
    assert.equal(t.calls.length, 1, 'no request without a Certificates URL');
  } finally { done(); }
});
