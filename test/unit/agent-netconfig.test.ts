// Monitor.NetworkConfigurationChanges (2.15 ReportNetworkConfigurationChanges) on a temp root: the route table
// and NIC state logged once when off; when on, logged at first and again only after a change.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { networkConfigurationTask, nicStates } from '../../src/agent/netconfig.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { captureLog } from '../helpers/log.ts';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';

test('network configuration: once when off; on change only when on; NICs from sysfs and the address list', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'net-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const w = (p: string, s: string) => { mkdirSync(join(dir, p, '..'), { recursive: true }); writeFileSync(join(dir, p), s); };
  w('proc/net/route', HEADER + 'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n');
  w('sys/class/net/eth0/operstate', 'up\n');
  w('sys/class/net/eth0/address', '00:0d:3a:00:00:01\n');
  w('sys/class/net/lo/operstate', 'unknown\n');
  const root = new Sysroot(dir);
  const addrs = { eth0: [{ address: '10.0.0.4', netmask: '255.255.255.0', family: 'IPv4' as const, mac: '', internal: false, cidr: '10.0.0.4/24' }] };
  assert.deepEqual(nicStates(root, addrs)[0], { name: 'eth0', link: 'up', mac: '00:0d:3a:00:00:01', ipv4: ['10.0.0.4/24'], ipv6: [] });
  const mem = captureLog(t);
  const off = networkConfigurationTask(root, false, () => nicStates(root, addrs));
  off(); off();
  assert.equal(mem.lines.filter((l) => l.includes('Monitor.NetworkConfigurationChanges is disabled.')).length, 1);
  assert.ok(mem.lines.some((l) => l.includes('Route table: [{"Iface":"eth0","Destination":"0.0.0.0","Gateway":"10.0.0.1"')));
  assert.ok(mem.lines.some((l) => l.includes('Network interfaces: [eth0: link up, mac 00:0d:3a:00:00:01, ipv4 [10.0.0.4/24]')));
  mem.lines.length = 0;
  const on = networkConfigurationTask(root, true, () => nicStates(root, addrs));
  on(); on();
  assert.equal(mem.lines.length, 2, 'route table and initial NIC state, then nothing while unchanged');
  assert.ok(mem.lines[1]!.includes('Initial NIC state: ['));
  w('sys/class/net/eth0/operstate', 'down\n');
  on();
  assert.ok(mem.lines[2]!.includes('Updated NIC state: [eth0: link down'));
  assert.equal(mem.lines.length, 3);
});
