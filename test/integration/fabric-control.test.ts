// The control socket (how host-side tests drive a simulator inside the box), the record file, the
// CLI, and the refusal to bind the real Azure addresses outside the sandbox.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { startFabric, assertInBox } from '../fabric/server.ts';
import { FabricControl } from '../fabric/control.ts';
import { FABRIC_DIR, SCENARIOS, WS_HEADERS, WS_XML_HEADERS, baseScenario, http } from '../fabric/testing.ts';
import { needsRoot } from '../helpers/skip.ts';

test('control socket mirrors the Fabric API; record file keeps every request (0600)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-ctl-'));
  const sock = join(dir, 'control.sock');
  const record = join(dir, 'record.jsonl');
  const f = await startFabric({ scenario: baseScenario(), bind: 'loopback', quiet: true, controlSocket: sock, recordFile: record });
  try {
    assert.equal(statSync(sock).mode & 0o777, 0o600);
    const c = new FabricControl(sock);
    assert.deepEqual(await c.urls(), f.urls);
    await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS);
    await http('GET', `${f.urls.imds}/metadata/instance?api-version=2021-02-01`, { Metadata: 'true' });
    const reqs = await c.requests({ endpoint: 'wire' });
    assert.deepEqual(reqs.map((r) => [r.method, r.url, r.status]), [['GET', '/machine/?comp=goalstate', 200]]);
    assert.equal(reqs[0]!.headers['x-ms-version'], '2012-11-30');
    assert.equal((await c.requests()).length, 2);

    const s = f.scenario();
    await http('POST', `${f.urls.wire}/machine?comp=health`, WS_XML_HEADERS, `<?xml version="1.0" encoding="utf-8"?><Health><GoalStateIncarnation>1</GoalStateIncarnation><Container><ContainerId>${s.vm.containerId}</ContainerId><RoleInstanceList><Role><InstanceId>${s.vm.roleInstanceId}</InstanceId><Health><State>Ready</State></Health></Role></RoleInstanceList></Container></Health>`);
    assert.deepEqual((await c.health()).map((h) => h.state), ['Ready']);
    assert.deepEqual(await c.statusUploads(), []);
    assert.deepEqual(await c.violations(), []);

    const up = await c.update({ extensions: [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 9 }] });
    assert.equal(up.incarnation, 2);
    assert.equal(f.incarnation(), 2);
    assert.equal((await c.bumpIncarnation()).incarnation, 3);
    assert.equal((await c.state()).incarnation, 3);
    await assert.rejects(c.update({ vm: { vmId: 'x' } }), /vm\.vmId/);
    assert.equal(await c.ovfEnv(), f.ovfEnv());
    assert.equal(await c.customData(), 'echo hello');
    assert.equal((await c.sshKeys())[0]!.publicKey, f.sshKeys()[0]!.publicKey);
    assert.equal((await c.fabricCert()).thumbprint, f.fabricCert().thumbprint);
    assert.equal(await c.transportCertSeen(), undefined);
    const set = await c.setScenario(baseScenario({ incarnation: 10 }));
    assert.equal(set.incarnation, 10);

    const lines = readFileSync(record, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { url: string; body: string });
    assert.equal(lines.length, 3);
    assert.ok(lines[2]!.body.includes('<State>Ready</State>'), 'bodies are recorded');
    assert.equal(statSync(record).mode & 0o777, 0o600);
  } finally {
    await f.close();
  }
  assert.equal(existsSync(sock), false, 'socket removed on close');
  rmSync(dir, { recursive: true, force: true });
});

test('bind "box" is refused outside the sandbox (no WAAGENT_BOX, or interfaces other than lo)', async () => {
  const saved = process.env.WAAGENT_BOX;
  try {
    delete process.env.WAAGENT_BOX;
    await assert.rejects(startFabric({ scenario: baseScenario(), bind: 'box' }), /WAAGENT_BOX=1/);
    process.env.WAAGENT_BOX = '1';
    const ifs = Object.keys(networkInterfaces());
    if (ifs.some((n) => n !== 'lo')) {
      assert.throws(() => assertInBox(), /refused: interfaces \[.*\] — only "lo" is allowed/);
      await assert.rejects(startFabric({ scenario: baseScenario(), bind: 'box' }), /refused/);
    } else {
      // A host with only lo: the check passes, but 168.63.129.16 is not on lo, so listening fails.
      await assert.rejects(startFabric({ scenario: baseScenario(), bind: 'box' }), /EADDRNOTAVAIL|refused/);
    }
  } finally {
    if (saved === undefined) delete process.env.WAAGENT_BOX;
    else process.env.WAAGENT_BOX = saved;
  }
});

test('CLI: prints loopback URLs, serves, and prints the summary on SIGTERM', async () => {
  const node = process.execPath;
  const p = spawn(node, [join(FABRIC_DIR, 'cli.ts'), join(SCENARIOS, 'default.json')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  let err = '';
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  const deadline = Date.now() + 20_000;
  while (!out.includes('fabric: ready')) {
    if (Date.now() > deadline || p.exitCode !== null) throw new Error(`cli did not start: ${err}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const wire = /fabric: wire (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
  assert.equal((await http('GET', `${wire}/?comp=versions`)).status, 200);
  const code = await new Promise<number | null>((resolve) => { p.on('exit', (c) => resolve(c)); p.kill('SIGTERM'); });
  assert.equal(code, 0, err);
  assert.match(out, /fabric: wire: 1 requests \(200x1\)/);
  assert.ok(!out.includes('Fabric-Demo-Passw0rd'), 'no secrets in the summary');
});

test('bind "box" inside a private network namespace (needs root: unshare/nsenter): real addresses, reachable only in there', async (t) => {
  const noRoot = needsRoot('unshare, nsenter');
  if (noRoot) return t.skip(noRoot);
  const dir = mkdtempSync(join(tmpdir(), 'fabric-box-'));
  const sock = join(dir, 'control.sock');
  // A private net+mount namespace: only lo, with the two Azure addresses on it, and a sysfs of
  // that namespace so /sys/class/net shows only lo. Nothing here can reach the real network.
  const script = [
    'set -e',
    'mount --make-rprivate /',
    'mount -t sysfs sysfs /sys',
    'ip link set lo up',
    'ip addr add 168.63.129.16/32 dev lo',
    'ip addr add 169.254.169.254/32 dev lo',
    `WAAGENT_BOX=1 exec "$0" "$1" "$2" --box --control "$3"`,
  ].join('\n');
  const p = spawn('unshare', ['--net', '--mount', 'sh', '-c', script, process.execPath, join(FABRIC_DIR, 'cli.ts'), join(SCENARIOS, 'default.json'), sock],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
  try {
    const deadline = Date.now() + 20_000;
    while (!out.includes('fabric: ready')) {
      if (Date.now() > deadline || p.exitCode !== null) throw new Error(`box fabric did not start: ${err}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const c = new FabricControl(sock);
    assert.deepEqual(await c.urls(), { wire: 'http://168.63.129.16:80', hgap: 'http://168.63.129.16:32526', imds: 'http://169.254.169.254', blob: 'http://127.0.0.1:10000' });
    // Ask from inside the namespace (nsenter), never from the host's network.
    const curl = (url: string, ...h: string[]) => new Promise<string>((resolve, reject) => {
      const q = spawn('nsenter', [`--net=/proc/${p.pid}/ns/net`, 'curl', '-sS', '--max-time', '5', ...h.flatMap((x) => ['-H', x]), '-w', ' %{http_code}', url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let o = '';
      let e = '';
      q.stdout.on('data', (d: Buffer) => { o += d.toString(); });
      q.stderr.on('data', (d: Buffer) => { e += d.toString(); });
      q.on('exit', (code) => (code === 0 ? resolve(o) : reject(new Error(`curl ${code}: ${e}`))));
    });
    assert.match(await curl('http://168.63.129.16/?comp=versions'), /<Version>2012-11-30<\/Version>[\s\S]* 200$/);
    assert.match(await curl('http://168.63.129.16:32526/versions'), /2015-09-01.* 200$/);
    assert.match(await curl('http://169.254.169.254/metadata/instance/compute/vmId?api-version=2017-08-01&format=text', 'Metadata: true'), /^3f2a1c9e-8b7d-4e6f-a5c4-1d2e3f405162 200$/);
    const reqs = await c.requests();
    assert.deepEqual(reqs.map((r) => r.endpoint), ['wire', 'hgap', 'imds']);
  } finally {
    const code = await new Promise<number | null>((resolve) => {
      if (p.exitCode !== null) return resolve(p.exitCode);
      p.on('exit', (c) => resolve(c));
      p.kill('SIGTERM');
    });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(code, 0, err);
  }
  assert.match(out, /fabric: wire: 1 requests \(200x1\)/);
});
