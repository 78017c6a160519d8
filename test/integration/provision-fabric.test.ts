// provision() with the real platform client (WirePlatform over HttpClient) against the fabric
// simulator on 127.0.0.1, on a temp root with the real tools: the exact requests, the health reports
// as the fabric parsed them, certificates only when a thumbprint key needs them, and the platform's
// bad days (503 on the health report, 410 = refresh the goal state, IMDS down, JSON endpoint absent).
// Needs root (useradd --root).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFabric, type Fabric, type RecordedRequest } from '../fabric/server.ts';
import { SCENARIOS } from '../fabric/testing.ts';
import { HttpClient } from '../../src/platform/http.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { realRunner } from '../../src/util/exec.ts';
import { provision, type ProvisionOutcome } from '../../src/provision/provision.ts';
import { WirePlatform } from '../../src/provision/platform.ts';
import { imageRoot, settings } from '../helpers/provision-fixtures.ts';
import { quickClock } from '../helpers/clock.ts';
import { needsRoot } from '../helpers/skip.ts';

const skip = needsRoot('useradd --root');
/** Retries sleep for real but briefly (the policies' delays are unit-tested with a fake clock). */
const clock = quickClock({ capMs: 5, random: Math.random });

function label(q: RecordedRequest): string {
  if (q.endpoint === 'imds') return `imds ${q.status}`;
  const u = q.url;
  const what = u.includes('comp=goalstate') ? 'goalstate' : u.includes('comp=health') ? 'health' : u.startsWith('/provisioning/health') ? 'health-json'
    : u.includes('comp=certificates') ? 'certificates' : u.includes('comp=roleProperties') ? 'roleProperties' : `${q.endpoint} ${u}`;
  return `${what} ${q.status}`;
}

async function run(scenario: string, extra: Record<string, unknown>, body: (f: Fabric, out: ProvisionOutcome, lib: string, seen: string[]) => void | Promise<void>): Promise<void> {
  const base = JSON.parse(readFileSync(join(SCENARIOS, `${scenario}.json`), 'utf8')) as Record<string, unknown>;
  const f = await startFabric({ scenario: { ...base, ...extra }, bind: 'loopback', quiet: true });
  const r = imageRoot();
  const http = new HttpClient({ env: {} });
  try {
    const lib = r.p('/var/lib/waagent');
    const platform = new WirePlatform({ endpoint: f.urls.wire, imdsUrl: f.urls.imds, libDir: lib, transport: http, clock: clock, openssl: new OpenSsl('openssl') });
    const ovf = f.ovfEnv();
    const out = await provision({
      settings: settings(), root: r.root, runner: realRunner, platform, clock: clock,
      readMedia: async () => ({ device: '/dev/sr0', text: ovf, via: 'udf', mountedByUs: false }),
      releaseMedia: async () => undefined,
    });
    await body(f, out, lib, f.requests().map(label));
    assert.deepEqual(f.violations(), [], 'no protocol violations');
  } finally {
    await http.close();
    await f.close();
    r.cleanup();
  }
}

test('as root: inline keys: goal state + IMDS + Starting + Ready (XML and JSON) — no versions, no certificates, no other documents', { skip }, () =>
  run('provision-password', {}, (f, out, _lib, seen) => {
    assert.equal(out.status, 'provisioned', out.reason);
    assert.equal(out.reported, true);
    assert.deepEqual(seen.filter((l) => !l.startsWith('imds')), ['goalstate 200', 'health 200', 'health 200', 'health-json 200']);
    assert.deepEqual(seen.filter((l) => l.startsWith('imds')), ['imds 200']);
    const h = f.health();
    assert.deepEqual(h.map((x) => [x.channel, x.state, x.subStatus ?? '']), [['xml', 'NotReady', 'Provisioning'], ['xml', 'Ready', ''], ['json', 'Ready', '']]);
    const s = f.scenario();
    for (const x of h.filter((y) => y.channel === 'xml')) {
      assert.equal(x.containerId, s.vm.containerId);
      assert.equal(x.incarnation, String(f.incarnation()));
      assert.equal(x.instanceId, s.vm.roleInstanceId);
    }
  }));

test('as root: a thumbprint key: certificates fetched once with the transport certificate; JSON endpoint absent (404, not retried)', { skip }, () =>
  run('provision-thumbprint', {}, (f, out, lib, seen) => {
    assert.equal(out.status, 'provisioned', out.reason);
    assert.deepEqual(seen.filter((l) => !l.startsWith('imds')), ['goalstate 200', 'health 200', 'certificates 200', 'health 200', 'health-json 404']);
    const key = f.sshKeys().find((k) => k.id === 'prov-thumbprint')!;
    assert.equal(readFileSync(join(lib, `${key.thumbprint}.crt`), 'utf8').trim(), key.certPem.trim());
    assert.ok(f.transportCertSeen());
  }));

test('as root: 503 on the Ready report is retried; 410 makes the agent refresh the goal state and report again', { skip }, () =>
  run('provision-password', {
    faults: [
      { endpoint: 'wire', path: 'comp=health', method: 'POST', action: 'status', status: 503, count: 1, skip: 1 },
      { endpoint: 'wire', path: 'comp=health', method: 'POST', action: 'gone', count: 1, skip: 2 },
    ],
  }, (f, out, _lib, seen) => {
    assert.equal(out.status, 'provisioned', out.reason);
    assert.equal(out.reported, true);
    assert.deepEqual(seen.filter((l) => !l.startsWith('imds')), ['goalstate 200', 'health 200', 'health 503', 'health 410', 'goalstate 200', 'health 200', 'health-json 200']);
    assert.deepEqual(f.health().filter((x) => x.channel === 'xml').map((x) => x.state), ['NotReady', 'Ready']);
  }));

test('as root: IMDS down (500 on every try): bounded retries, then the ovf-env keys alone; provisioning succeeds', { skip }, () =>
  run('provision-password', { faults: [{ endpoint: 'imds', path: '', action: 'status', status: 500, count: 0 }] }, (_f, out, lib, seen) => {
    assert.equal(out.status, 'provisioned', out.reason);
    const imds = seen.filter((l) => l.startsWith('imds'));
    assert.ok(imds.length >= 2 && imds.length <= 5, imds.join(' '));
    assert.ok(imds.every((l) => l === 'imds 500'));
    assert.equal(readFileSync(join(lib, 'provisioned'), 'utf8'), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8', 'the DMI id, IMDS not needed');
  }));

test('as root: the goal state never answers: failed, nothing reported, nothing written', { skip }, () =>
  run('provision-password', { faults: [{ endpoint: 'wire', path: 'comp=goalstate', action: 'status', status: 500, count: 0 }] }, (f, out, lib, seen) => {
    assert.equal(out.status, 'failed');
    assert.equal(out.reported, false);
    assert.match(out.reason!, /GoalState/);
    assert.ok(seen.every((l) => l.startsWith('goalstate') || l.startsWith('imds')), seen.join(' '));
    assert.deepEqual(f.health(), []);
    assert.throws(() => readFileSync(join(lib, 'provisioned')));
  }));
