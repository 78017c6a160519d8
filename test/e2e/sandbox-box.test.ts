// The VM-in-a-box itself: commands run inside, isolation from the host, no route out, teardown
// without leftovers, and the fabric simulator answering on the Azure addresses inside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { Box, PINNED_NODE, runInBox } from '../sandbox/box.ts';

function hostMounts(): string { return readFileSync('/proc/mounts', 'utf8'); }
function losetupList(): string { return spawnSync('losetup', ['-a'], { encoding: 'utf8' }).stdout; }

// pgrep on the host sees the processes of every box, including those of test files running at the
// same time (extension tests run `sleep 1000` too): this file's sleepers carry a duration of their own.
const NAP = `1000.${process.pid}`;
function sleepersLeft(): string {
  return spawnSync('pgrep', ['-f', `^sleep ${NAP.replace('.', '\\.')}$`], { encoding: 'utf8' }).stdout.trim();
}

const CONNECT = `
const net = require('node:net');
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
s.on('connect', () => { console.log('CONNECTED'); s.destroy(); });
s.on('error', (e) => console.log(e.code));
`;

test('box (root, namespaces): a trivial command runs as root in a fresh PID namespace', async () => {
  const box = await Box.start();
  try {
    const r = await box.run(['bash', '-c', 'id -u; echo $$; cat /proc/1/cmdline | tr "\\0" " "']);
    assert.equal(r.code, 0, r.stderr);
    const [uid, pid, init] = r.stdout.trim().split('\n');
    assert.equal(uid, '0');
    assert.ok(Number(pid) < 1000, `pid ${pid} should be small inside a fresh PID namespace`);
    assert.match(init!, /init\.sh/);
    const code = await box.run(['sh', '-c', 'exit 7']);
    assert.equal(code.code, 7);
    const input = await box.run(['cat'], { input: 'through stdin' });
    assert.equal(input.stdout, 'through stdin');
  } finally {
    await box.close();
  }
});

test('box (root, namespaces): no route out — other addresses fail at once with ENETUNREACH', async () => {
  const box = await Box.start();
  try {
    const net = await box.run(['ls', '/sys/class/net']);
    assert.equal(net.stdout.trim(), 'lo', 'only lo exists in the box');
    for (const [host, port] of [['192.0.2.1', '80'], ['8.8.8.8', '53'], ['10.0.0.1', '80'], ['2001:db8::1', '80']] as const) {
      const r = await box.run([PINNED_NODE, '-e', CONNECT, host, port], { timeoutMs: 20_000 });
      // ENETUNREACH comes from the routing decision itself: no packet was queued anywhere.
      assert.equal(r.stdout.trim(), 'ENETUNREACH', `${host}: ${r.stdout} ${r.stderr}`);
    }
    const routes = await box.run(['ip', '-4', 'route', 'show']);
    assert.match(routes.stdout, /^default via \S+ dev lo onlink/m, 'a default route with a gateway on lo');
    assert.match(routes.stdout, /^throw 0\.0\.0\.0\/1/m);
    assert.match(routes.stdout, /^throw 128\.0\.0\.0\/1/m);
    const addrs = await box.run(['ip', '-4', '-o', 'addr', 'show', 'dev', 'lo']);
    assert.match(addrs.stdout, /168\.63\.129\.16\/32/);
    assert.match(addrs.stdout, /169\.254\.169\.254\/32/);
    const procRoute = (await box.run(['cat', '/proc/net/route'])).stdout;
    assert.match(procRoute, /^lo\s+10813FA8\s/m, 'a route to the wireserver is visible in /proc/net/route');
  } finally {
    await box.close();
  }
});

test('box (root, namespaces): hostname, useradd and /etc edits stay inside; the project is read-only', async () => {
  const before = hostname();
  const box = await Box.start({ hostname: 'isolated-box', files: { '/etc/waagent.conf': { content: 'Provisioning.Agent=waagent\n', mode: 0o600 } } });
  try {
    const r = await box.run(['bash', '-c', [
      'set -e', 'hostname', 'hostname renamed-in-box', 'hostname', 'cat /etc/hostname',
      'useradd --create-home boxisouser', 'echo inside > /etc/box-isolation-test', 'stat -c %a /etc/waagent.conf',
    ].join('\n')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['isolated-box', 'renamed-in-box', 'isolated-box', '600']);
    const touch = await box.run(['touch', `${process.cwd()}/box-write-test`]);
    assert.notEqual(touch.code, 0, 'the project is mounted read-only in the box');
    assert.match(touch.stderr, /Read-only/);

    assert.equal(hostname(), before, 'host name unchanged');
    assert.equal(spawnSync('getent', ['passwd', 'boxisouser']).status, 2, 'user not on the host');
    assert.equal(existsSync('/etc/box-isolation-test'), false);
    assert.equal(existsSync('/home/boxisouser'), false);
    assert.equal(box.readFile('/etc/box-isolation-test'), 'inside\n');
    assert.match(box.readFile('/etc/passwd'), /^boxisouser:/m);
    assert.equal(box.stat('/home/boxisouser').isDirectory(), true);

    const changed = box.changedFiles();
    for (const p of ['/etc/box-isolation-test', '/etc/passwd', '/etc/shadow', '/home/boxisouser']) assert.ok(changed.includes(p), `${p} in ${changed.join(' ')}`);
    assert.ok(!changed.includes('/etc/waagent.conf'), 'files the box wrote at start are not changes');
    assert.ok(!changed.includes('/etc/hostname'));
    assert.ok(!changed.some((p) => p.startsWith('/tmp/') || p.startsWith('/run/')));
    const passwd = box.changes().find((c) => c.path === '/etc/passwd');
    assert.equal(passwd?.kind, 'modified');
    assert.equal(box.changes().find((c) => c.path === '/etc/box-isolation-test')?.kind, 'added');
  } finally {
    await box.close();
  }
});

test('box (root, namespaces): the box starts like a fresh image whatever agent the host has installed', async () => {
  // On a host with an agent package (scripts/with-host-waagent.sh makes this host look like one), its
  // state, configuration and units are hidden in the box; files the test gives still appear; a path
  // hidden at start and created again by a command is reported as added.
  const box = await Box.start({ files: { '/etc/waagent.conf': { content: 'Logs.Verbose=y\n', mode: 0o644 } } });
  try {
    for (const p of ['/var/lib/waagent', '/var/log/waagent.log', '/var/log/azure', '/etc/sudoers.d/waagent',
      '/lib/systemd/system/walinuxagent.service', '/etc/systemd/system/multi-user.target.wants/walinuxagent.service',
      '/etc/systemd/system/waagent.service', '/etc/systemd/system/waagent-network-setup.service']) {
      assert.equal(box.exists(p), false, `${p} is visible in the box`);
    }
    assert.equal(box.readFile('/etc/waagent.conf'), 'Logs.Verbose=y\n');
    const r = await box.run(['bash', '-c', 'mkdir -m 0700 /var/lib/waagent && echo x > /var/lib/waagent/provisioned']);
    assert.equal(r.code, 0, r.stderr);
    const changed = box.changes().filter((c) => c.path.startsWith('/var/lib/waagent'));
    assert.deepEqual(changed.map((c) => [c.path, c.kind]), [['/var/lib/waagent', 'added'], ['/var/lib/waagent/provisioned', 'added']]);
  } finally {
    await box.close();
  }
});

test('box (root, namespaces): close() kills every process and leaves no mount, loop device or state dir', async () => {
  const box = await Box.start({ resourceDisk: { sizeMiB: 32, kind: 'scsi-gen2', content: 'blank' } });
  const state = box.stateDir;
  const init = box.initPid;
  const sleeper = box.spawn(['sleep', NAP]);
  let inner: number | undefined;
  try {
    const orphan = await box.run(['bash', '-c', `setsid sleep ${NAP} >/dev/null 2>&1 < /dev/null & echo $!`]);
    assert.equal(orphan.code, 0);
    let ps = '';
    for (let i = 0; i < 100; i++) {
      inner = sleeper.innerPid();
      ps = (await box.run(['ps', '-e', '-o', 'comm='])).stdout;
      if (inner !== undefined && ps.split('\n').filter((l) => l.trim() === 'sleep').length >= 2) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(inner && existsSync(`/proc/${inner}`));
    assert.ok(ps.split('\n').filter((l) => l.trim() === 'sleep').length >= 2, ps);
    assert.ok(losetupList().includes(state), 'the resource disk is a loop device while the box runs');
  } finally {
    await box.close();
  }
  await box.close(); // twice is fine
  assert.equal(existsSync(`/proc/${inner}`), false, 'spawned process gone');
  assert.equal(existsSync(`/proc/${init}`), false, 'box init gone');
  assert.equal(sleeper.exited, true);
  assert.equal(existsSync(state), false, 'state dir removed');
  assert.ok(!hostMounts().includes(state), 'no mount left');
  assert.ok(!losetupList().includes(state), 'no loop device left');
  const left = sleepersLeft();
  assert.equal(left, '', `no sleeper left: ${left}`);
});

test('box (root, namespaces, swap): close() turns off swap the box left on its resource disk, so the loop device is freed', async () => {
  // An odd size, so this swap area is told apart from any other in the host's /proc/swaps (which
  // names it as the box does, /dev/sdb).
  const box = await Box.start({ resourceDisk: { sizeMiB: 37, kind: 'scsi-gen2', content: 'blank' } });
  const state = box.stateDir;
  const loop = box.resourceDisk!.loop.name;
  const ours = /^\/dev\/sdb\s+partition\s+37884\s/m;
  try {
    const r = await box.run(['bash', '-c', 'set -e; mkswap /dev/sdb >/dev/null; swapon /dev/sdb; tail -n +2 /proc/swaps']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, ours, 'swap is on in the box');
    assert.match(readFileSync('/proc/swaps', 'utf8'), ours, 'and, swap being global, on the host');
  } finally {
    await box.close();
  }
  assert.doesNotMatch(readFileSync('/proc/swaps', 'utf8'), ours, 'swap off after close()');
  let back = '';
  try { back = readFileSync(`/sys/block/${loop}/loop/backing_file`, 'utf8'); } catch { /* freed */ }
  assert.ok(!back.includes(state), `loop device freed: ${back}`);
});

test('box (root, namespaces): a timed-out command is killed and reported', async () => {
  const box = await Box.start();
  try {
    const r = await box.run(['sleep', '60'], { timeoutMs: 300 });
    assert.equal(r.timedOut, true);
    // The whole process group got the signal; the command may still be dying when run() returns.
    let ps = '';
    for (let i = 0; i < 50; i++) {
      ps = (await box.run(['ps', '-e', '-o', 'stat=,comm='])).stdout;
      if (!/^[^Z]\S*\s+sleep$/m.test(ps)) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.doesNotMatch(ps, /^[^Z]\S*\s+sleep$/m, 'no live sleep left');
  } finally {
    await box.close();
  }
});

/** Loop devices whose backing file lies in a box state dir (under `base`) that no longer exists: leaks. */
function leakedLoops(base = '/dev/shm'): string[] {
  const re = new RegExp(`\\((${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/waagent-box-[^/]+)/`);
  return losetupList().split('\n').filter((l) => {
    const m = re.exec(l);
    return m !== null && !existsSync(m[1]!);
  });
}

test('box (root, namespaces): a failed start leaves nothing behind', async () => {
  // State dirs in a base of this test's own: boxes of test files running at the same time (whose
  // teardown may be half way) are neither counted nor swept here.
  const base = mkdtempSync('/dev/shm/waagent-failstart-');
  const before = process.env.WAAGENT_BOX_STATE_DIR;
  process.env.WAAGENT_BOX_STATE_DIR = base;
  try {
    await assert.rejects(Box.start({ resourceDisk: { sizeMiB: 1, kind: 'scsi-gen1' } }), /sizeMiB/);
    await assert.rejects(Box.start({ resourceDisk: { sizeMiB: 32, kind: 'ide' as never } }), /kind/);
    await assert.rejects(Box.start({ hostname: 'bad;name' }), /hostname/);
    // Fails after the disks are attached and PID 1 runs: a file path that is not absolute.
    await assert.rejects(Box.start({ resourceDisk: { sizeMiB: 32, kind: 'scsi-gen2' }, media: { kind: 'iso9660', ovfEnv: '<x/>' }, files: { 'etc/relative': 'x' } }), /absolute/);
    assert.deepEqual(readdirSync(base), [], 'no state dir left');
    for (let i = 0; i < 50 && leakedLoops(base).length; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(leakedLoops(base), []);
    assert.ok(!hostMounts().includes(base), 'no mount left');
  } finally {
    if (before === undefined) delete process.env.WAAGENT_BOX_STATE_DIR; else process.env.WAAGENT_BOX_STATE_DIR = before;
    rmSync(base, { recursive: true, force: true });
  }
});

test('box (root, namespaces): a killed test process leaves no process, mount or loop device behind', async () => {
  const script = `
    import { Box } from ${JSON.stringify(new URL('../sandbox/box.ts', import.meta.url).href)};
    const box = await Box.start({ resourceDisk: { sizeMiB: 32, kind: 'scsi-gen2' }, media: { kind: 'udf', ovfEnv: '<x/>' } });
    box.spawn(['sleep', ${JSON.stringify(NAP)}]);
    console.log(JSON.stringify({ state: box.stateDir, init: box.initPid, loops: [box.resourceDisk.loop.name, box.media.loop.name] }));
    setInterval(() => {}, 1000);
  `;
  const child = spawn(PINNED_NODE, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((r) => child.once('exit', r));
  let info: { state: string; init: number; loops: string[] } | undefined;
  try {
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b; });
    let timer: NodeJS.Timeout | undefined;
    info = await new Promise<{ state: string; init: number; loops: string[] }>((resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`child box not up in 60 s: ${err}`)), 60_000);
      child.stdout.on('data', (b: Buffer) => {
        out += b;
        if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!));
      });
      child.once('exit', () => reject(new Error(`child died: ${err}`)));
    }).finally(() => clearTimeout(timer));
    child.kill('SIGKILL');
    await exited;
    const { init, loops, state } = info;
    const gone = () => !existsSync(`/proc/${init}`) && loops.every((l) => !existsSync(`/sys/block/${l}/loop`) ||
      !readFileSync(`/sys/block/${l}/loop/backing_file`, 'utf8').includes(state));
    for (let i = 0; i < 250 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(existsSync(`/proc/${init}`), false, 'the box died with its test process');
    assert.ok(gone(), `loop devices freed: ${losetupList()}`);
    assert.equal(sleepersLeft(), '', 'the box\'s sleeper died with it');
    assert.ok(!hostMounts().includes(state));
    // Only the state dir is left; the next box (here, or one started meanwhile by another test
    // process) sweeps it.
    const next = await Box.start();
    await next.close();
    assert.equal(existsSync(state), false, 'swept by the next start');
  } finally {
    // Whatever the outcome, nothing the child started outlives this test: the child itself, and
    // the box's PID 1 (whose death takes the box's processes, mounts and loop devices with it).
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited; }
    if (info && existsSync(`/proc/${info.init}`)) { try { process.kill(info.init, 'SIGKILL'); } catch { /* gone */ } }
    if (info) rmSync(info.state, { recursive: true, force: true });
  }
});

test('box (root, namespaces): a box and a spawned process a test forgot do not keep the test process alive', async () => {
  const script = `
    import { Box } from ${JSON.stringify(new URL('../sandbox/box.ts', import.meta.url).href)};
    const box = await Box.start();
    box.spawn(['sleep', ${JSON.stringify(NAP)}]);
    const r = await box.spawn(['sh', '-c', 'echo waited']).wait();
    console.log(r.stdout.trim());
  `;
  const r = spawnSync(PINNED_NODE, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
  assert.equal(r.error, undefined, 'the child ended by itself (not killed at the 60 s bound)');
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'waited', 'wait() still holds the process while it waits');
  for (let i = 0; i < 250 && sleepersLeft(); i++) await new Promise((res) => setTimeout(res, 20));
  assert.equal(sleepersLeft(), '', 'the forgotten sleeper died with its box');
});

test('box (root, namespaces): with a scenario the simulator answers on 168.63.129.16 inside', async () => {
  const box = await Box.start({ scenario: 'test/fabric/scenarios/default.json' });
  try {
    const get = `fetch('http://168.63.129.16/?comp=versions').then(async (r) => console.log(r.status, await r.text()), (e) => console.log('ERR', e.cause?.code ?? e.message))`;
    const r = await box.run([PINNED_NODE, '-e', get], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^200 /);
    assert.match(r.stdout, /<Versions>/);
    assert.match(r.stdout, /2012-11-30/);
    const imds = await box.run([PINNED_NODE, '-e', `fetch('http://169.254.169.254/metadata/instance?api-version=2021-02-01', { headers: { Metadata: 'true' } }).then(async (r) => console.log(r.status))`]);
    assert.equal(imds.stdout.trim(), '200');
    const recorded = box.requests();
    assert.ok(recorded.some((q) => q.method === 'GET' && q.url === '/?comp=versions'), JSON.stringify(recorded.map((q) => q.url)));
    const viaControl = await box.fabric!.requests({ endpoint: 'wire' });
    assert.ok(viaControl.length >= 1);
    // The simulator is not a process of the box: the agent cannot see or kill it.
    const ps = await box.run(['ps', '-e', '-o', 'args=']);
    assert.ok(!ps.stdout.includes('fabric/cli.ts'), ps.stdout);
  } finally {
    await box.close();
  }
  assert.match(box.fabricOutput, /fabric: wire: \d+ requests/, 'the simulator printed its summary on stop');
});

test('runInBox (root, namespaces): one shot returns code, output, log, requests and changed files', async () => {
  const r = await runInBox({
    command: ['bash', '-c', 'mkdir -p /var/log && echo "agent says hi" >> /var/log/waagent.log && echo out && echo err >&2 && exit 3'],
  });
  assert.equal(r.code, 3);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(r.agentLog, 'agent says hi\n');
  assert.deepEqual(r.requests, []);
  assert.ok(r.changedFiles.includes('/var/log/waagent.log'));
});
