// DHCP client restart (2.15 monitor_dhcp_client_restart): the clients found by a /proc scan of a temp root
// (no child process), the route table parsed, and the WireServer route put back through the gateway seen
// before when a restarted client dropped it (recording runner: the ip argv).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sysroot } from '../../src/util/sysroot.ts';
import { RecordingRunner } from '../../src/util/exec.ts';
import { pidsByName, pidRuns } from '../../src/os/process.ts';
import { dhcpClientPids } from '../../src/os/env/dhcp.ts';
import { hostRouteArgv, parseRoutes, routeTo } from '../../src/os/network/routes.ts';
import { dhcpChore } from '../../src/agent/chores.ts';
import { pidAlive } from '../../src/os/process.ts';
import { captureLog } from '../helpers/log.ts';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';
// default via 10.0.0.1 dev eth0; 10.0.0.0/24 dev eth0; 168.63.129.16 via 10.0.0.1 dev eth0
const DEFAULT = 'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n';
const SUBNET = 'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n';
const WIRE = 'eth0\t10813FA8\t0100000A\t0007\t0\t0\t100\tFFFFFFFF\t0\t0\t0\n';

function fakeRoot(): { dir: string; root: Sysroot; proc(pid: number, comm: string | null): void; routes(text: string): void } {
  const dir = mkdtempSync(join(tmpdir(), 'dhcp-'));
  const root = new Sysroot(dir);
  mkdirSync(join(dir, 'proc/net'), { recursive: true });
  return {
    dir, root,
    proc: (pid, comm) => {
      if (comm === null) { rmSync(join(dir, 'proc', String(pid)), { recursive: true, force: true }); return; }
      mkdirSync(join(dir, 'proc', String(pid)), { recursive: true });
      writeFileSync(join(dir, 'proc', String(pid), 'comm'), `${comm}\n`);
    },
    routes: (text) => writeFileSync(join(dir, 'proc/net/route'), HEADER + text),
  };
}

test('pidsByName: comm compared with the kernel 15-character cut; non-pid entries and vanished ones skipped', (t) => {
  const f = fakeRoot();
  t.after(() => rmSync(f.dir, { recursive: true, force: true }));
  f.proc(12, 'systemd-network');
  f.proc(30, 'dhcpcd');
  f.proc(31, 'udhcpc');
  f.proc(40, 'bash');
  mkdirSync(join(f.dir, 'proc/77')); // no comm: exited meanwhile
  mkdirSync(join(f.dir, 'proc/self'));
  assert.deepEqual(pidsByName(f.root, ['systemd-networkd']), [12]);
  assert.deepEqual(dhcpClientPids(f.root), [12, 30, 31]);
  assert.equal(pidRuns(f.root, 30, 'dhcpcd'), true);
  assert.equal(pidRuns(f.root, 40, 'dhcpcd'), false);
  assert.deepEqual(pidsByName(new Sysroot(join(f.dir, 'nowhere')), ['dhclient']), []);
});

test('parseRoutes/routeTo: longest prefix wins, then the lowest metric; down routes ignored', () => {
  const routes = parseRoutes(HEADER + DEFAULT + SUBNET + WIRE + 'eth1\t10813FA8\t0100000A\t0006\t0\t0\t1\tFFFFFFFF\t0\t0\t0\nbad line\n'
    // throw/unreachable routes have no device ("*"): never a way to the WireServer.
    + '*\t00000080\t00000000\t0001\t0\t0\t0\t00000080\t0\t0\t0\n');
  assert.equal(routes.length, 4);
  assert.deepEqual(routeTo(routes, '168.63.129.16'), { iface: 'eth0', destination: '168.63.129.16', gateway: '10.0.0.1', mask: '255.255.255.255', flags: 7, metric: 100 });
  assert.equal(routeTo(routes, '10.0.0.9')!.mask, '255.255.255.0');
  assert.equal(routeTo(routes, '8.8.8.8')!.destination, '0.0.0.0');
  assert.equal(routeTo(parseRoutes(HEADER + SUBNET), '168.63.129.16'), null);
  assert.deepEqual(hostRouteArgv('168.63.129.16', { gateway: '10.0.0.1', iface: 'eth0' }), ['ip', 'route', 'replace', '168.63.129.16/32', 'via', '10.0.0.1', 'dev', 'eth0']);
  assert.deepEqual(hostRouteArgv('168.63.129.16', { gateway: '0.0.0.0', iface: 'eth0' }), ['ip', 'route', 'replace', '168.63.129.16/32', 'dev', 'eth0']);
  assert.throws(() => hostRouteArgv('168.63.129.16', { gateway: '10.0.0.1', iface: 'eth0;reboot' }), /refusing/);
});

test('dhcpChore: a restart that dropped the WireServer route restores it through the gateway seen before; a live client costs nothing', async (t) => {
  const f = fakeRoot();
  t.after(() => rmSync(f.dir, { recursive: true, force: true }));
  const mem = captureLog(t);
  // A pid that is surely dead on this machine for the "old" client, a live one (ours) for the new.
  let dead = 999_999;
  while (pidAlive(dead)) dead--;
  f.proc(dead, 'dhclient');
  f.routes(DEFAULT + SUBNET);
  const runner = new RecordingRunner();
  const chore = dhcpChore(f.root, runner, '168.63.129.16');
  await chore(); // first: records the client and the route (via the default gateway)
  // The client restarts (new pid) and drops the default route.
  f.proc(dead, null);
  f.proc(process.pid, 'dhclient');
  f.routes(SUBNET);
  await chore();
  assert.deepEqual(runner.calls.map((c) => c.argv.join(' ')), ['ip route replace 168.63.129.16/32 via 10.0.0.1 dev eth0']);
  assert.match(mem.lines.join('\n'), /Detected dhcp client restart\. Restoring routing table\./);
  assert.match(mem.lines.join('\n'), /restored the route to the WireServer: 168\.63\.129\.16\/32 via 10\.0\.0\.1 dev eth0/);
  // Same client still alive: no scan, no command.
  await chore();
  assert.equal(runner.calls.length, 1);
});

test('dhcpChore: a restart that kept the route changes nothing; no route ever seen is said, not guessed', async (t) => {
  const f = fakeRoot();
  t.after(() => rmSync(f.dir, { recursive: true, force: true }));
  const mem = captureLog(t);
  let dead = 999_998;
  while (pidAlive(dead)) dead--;
  f.proc(dead, 'systemd-network');
  f.routes(SUBNET);
  const runner = new RecordingRunner();
  const chore = dhcpChore(f.root, runner, '168.63.129.16');
  await chore();
  f.proc(dead, null);
  f.proc(process.pid, 'systemd-network');
  await chore();
  assert.deepEqual(runner.calls, []);
  assert.match(mem.lines.join('\n'), /no route to the WireServer 168\.63\.129\.16 after the DHCP client restart, and none was seen before to restore/);
});
