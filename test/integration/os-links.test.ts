// Link events and the primary NIC (src/os/network/links.ts): the `ip -o monitor link` line format,
// carrier, the primary NIC from the route table or ifindex order, and the real watcher against a
// private network namespace held by an `unshare -n` process (veth pairs made and removed in it only;
// this machine's own interfaces are never touched). The namespace part needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { primaryInterface } from '../../src/os/hostname.ts';
import { hasCarrier, parseLinkLine, listLinks, watchLinks, type LinkEvent, type LinkWatcher } from '../../src/os/network/links.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

const skip = process.getuid?.() === 0 ? false : 'needs root (a private network namespace)';

test('ip -o monitor link lines: new, deleted, peer suffix, flags and state', () => {
  const a = parseLinkLine('3: eth0@eth0p: <NO-CARRIER,BROADCAST,MULTICAST,UP,M-DOWN> mtu 1500 qdisc noqueue state LOWERLAYERDOWN group default \\    link/ether 56:f7:70:89:7e:77 brd ff:ff:ff:ff:ff:ff')!;
  assert.deepEqual(a, { deleted: false, index: 3, name: 'eth0', flags: ['NO-CARRIER', 'BROADCAST', 'MULTICAST', 'UP', 'M-DOWN'], state: 'LOWERLAYERDOWN' });
  assert.equal(hasCarrier(a), false);
  const b = parseLinkLine('3: eth0@eth0p: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP group default')!;
  assert.equal(hasCarrier(b), true);
  const d = parseLinkLine('Deleted 3: eth0@NONE: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN group default')!;
  assert.equal(d.deleted, true);
  assert.equal(d.name, 'eth0');
  assert.equal(hasCarrier(d), false);
  assert.equal(parseLinkLine('2: enP1s1: <BROADCAST,MULTICAST,SLAVE,UP,LOWER_UP> mtu 1500 master eth0 state UP')!.name, 'enP1s1');
  for (const junk of ['', 'garbage', '3 eth0: <UP>', 'x'.repeat(5000)]) assert.equal(parseLinkLine(junk), null);
});

test('primary NIC: the default route\'s interface, else the lowest ifindex; lo never', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  assert.equal(primaryInterface(r.root, null), null);
  r.write('/sys/class/net/lo/ifindex', '1\n');
  r.write('/sys/class/net/eth1/ifindex', '3\n');
  r.write('/sys/class/net/eth0/ifindex', '2\n');
  assert.deepEqual(listLinks(r.root).map((l) => l.name), ['eth0', 'eth1']);
  assert.equal(primaryInterface(r.root, null), 'eth0');
  const routes = 'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\nlo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\neth1\t00000000\t0100A8C0\t0003\t0\t0\t0\t00000000\n';
  assert.equal(primaryInterface(r.root, routes), 'eth1');
  assert.equal(primaryInterface(r.root, routes.replace(/eth1\t00000000/, 'ethX\t00000000')), 'eth0', 'a route via an unknown interface is ignored');
});

async function nextMatching(w: LinkWatcher, pred: (e: LinkEvent) => boolean): Promise<LinkEvent> {
  const end = Date.now() + 10_000;
  while (Date.now() < end) {
    const e = await w.next(500);
    if (e && pred(e)) return e;
  }
  throw new Error('no matching link event within 10 s');
}

test('the real watcher sees a NIC added, its carrier lost and back, and removed (in a private netns)', { skip }, async (t) => {
  const holder = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 200));
  const ns = `--net=/proc/${holder.pid}/ns/net`;
  const ip = (...a: string[]) => execFileSync('nsenter', [ns, 'ip', ...a]);
  const w = watchLinks(['nsenter', ns, 'ip']);
  t.after(() => w.close());
  await new Promise((r) => setTimeout(r, 300));
  ip('link', 'add', 'tnic0p', 'type', 'veth', 'peer', 'name', 'tnic0');
  ip('link', 'set', 'tnic0', 'up');
  ip('link', 'set', 'tnic0p', 'up');
  await nextMatching(w, (e) => e.name === 'tnic0' && hasCarrier(e));
  ip('link', 'set', 'tnic0p', 'down');
  await nextMatching(w, (e) => e.name === 'tnic0' && !hasCarrier(e));
  ip('link', 'set', 'tnic0p', 'up');
  await nextMatching(w, (e) => e.name === 'tnic0' && hasCarrier(e));
  ip('link', 'del', 'tnic0');
  await nextMatching(w, (e) => e.name === 'tnic0' && e.deleted);
  w.close();
  assert.equal(w.ended, true);
  assert.equal(await w.next(10), null);
});

test('a watcher whose ip cannot start ends at once (the caller falls back to polling)', async () => {
  const w = watchLinks(['/nonexistent/ip']);
  assert.equal(await w.next(2000), null);
  assert.equal(w.ended, true);
});

test('without setpriv the monitor still runs; with it, the monitor dies with an agent killed by SIGKILL', { skip }, async (t) => {
  const holder = spawn('unshare', ['--net', 'sleep', '60'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 200));
  const ns = `--net=/proc/${holder.pid}/ns/net`;
  const w = watchLinks(['nsenter', ns, 'ip'], ['/nonexistent/setpriv', '--']);
  t.after(() => w.close());
  await new Promise((r) => setTimeout(r, 300));
  execFileSync('nsenter', [ns, 'ip', 'link', 'add', 'tnic1p', 'type', 'veth', 'peer', 'name', 'tnic1']);
  await nextMatching(w, (e) => e.name === 'tnic1');
  w.close();

  // An "agent" that starts the watcher and is then killed: its monitor must not outlive it.
  const script = `import { watchLinks } from ${JSON.stringify(new URL('../../src/os/network/links.ts', import.meta.url).href)};
    watchLinks(['nsenter', ${JSON.stringify(ns)}, 'ip']); console.log('started'); setInterval(() => {}, 1000);`;
  const agent = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((res) => agent.stdout!.once('data', () => res()));
  await new Promise((r) => setTimeout(r, 300));
  const monitors = () => { try { return execFileSync('pgrep', ['-P', String(agent.pid), '-f', 'monitor link'], { encoding: 'utf8' }).trim(); } catch { return ''; } };
  const pid = monitors();
  assert.ok(pid, 'the monitor runs as the agent\'s child');
  t.after(() => { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone, as it should be */ } });
  agent.kill('SIGKILL');
  const end = Date.now() + 5000;
  while (Date.now() < end && existsPid(Number(pid))) await new Promise((r) => setTimeout(r, 50));
  assert.equal(existsPid(Number(pid)), false, 'the monitor died with the agent');
});

function existsPid(pid: number): boolean {
  try { process.kill(pid, 0); return !isZombie(pid); } catch { return false; }
}

function isZombie(pid: number): boolean {
  try { return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8')); } catch { return true; }
}
