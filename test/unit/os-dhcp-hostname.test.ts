// Hostname publishing on dhcpcd and busybox udhcpc (docs/os.md §4.6): the clients' real configuration files
// (fixtures/dhcp) on a temp root, the client found running through a fake /proc, and the command that makes
// it send a new request (recording runner: nothing runs on this machine).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { dhcpcdConfWithHostname, setDhcpcdHostname } from '../../src/os/dhcp/dhcpcd.ts';
import { interfacesWithHostname, setInterfacesHostname } from '../../src/os/dhcp/udhcpc.ts';
import { publishHostname } from '../../src/os/hostname.ts';
import { parseOsRelease, profileFor } from '../../src/os/distro.ts';
import { RecordingRunner } from '../../src/util/exec.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';
import { captureLog } from '../helpers/log.ts';

const FIX = join(import.meta.dirname, 'fixtures', 'dhcp');
const fixture = (n: string) => readFileSync(join(FIX, n), 'utf8');
const ROUTE = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
  'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n';
const alpine = profileFor(parseOsRelease('ID=alpine')).publishers;

test('dhcpcd.conf: a bare global `hostname` goes before the first interface block; pinned other names replaced; ours kept', () => {
  const out = dhcpcdConfWithHostname(fixture('dhcpcd.conf'), 'vm-1')!;
  const lines = out.split('\n');
  const host = lines.indexOf('hostname');
  assert.ok(host > 0 && host < lines.indexOf('interface eth1'), 'global, before the block');
  assert.match(out, /\tnohook resolv\.conf\n$/, 'the interface block is kept whole');
  assert.equal(dhcpcdConfWithHostname(out, 'vm-1'), null, 'twice = unchanged');
  const pinned = dhcpcdConfWithHostname(fixture('dhcpcd-pinned.conf'), 'vm-1')!;
  assert.doesNotMatch(pinned, /^hostname oldname$/m);
  assert.match(pinned, /^hostname$/m);
  assert.match(pinned, /^\thostname keep-this-one$/m, 'per-interface options are the admin\'s');
  assert.equal(dhcpcdConfWithHostname('hostname vm-1\n', 'vm-1'), null);
});

test('interfaces: `hostname <name>` in the iface <if> inet dhcp stanza (indent kept); no stanza said', () => {
  const r = interfacesWithHostname(fixture('interfaces-alpine'), 'eth0', 'vm-1');
  assert.equal(r.stanza, true);
  assert.match(r.text!, /iface eth0 inet dhcp\n\thostname vm-1\n\nauto eth1/);
  assert.doesNotMatch(r.text!, /old-vm/);
  assert.deepEqual(interfacesWithHostname(r.text!, 'eth0', 'vm-1'), { stanza: true, text: null });
  const e1 = interfacesWithHostname(fixture('interfaces-alpine'), 'eth1', 'vm-1');
  assert.match(e1.text!, /iface eth1 inet dhcp\n\thostname vm-1\n$/);
  assert.deepEqual(interfacesWithHostname(fixture('interfaces-alpine'), 'eth9', 'vm-1'), { stanza: false, text: null });
  assert.deepEqual(interfacesWithHostname(fixture('interfaces-alpine'), 'lo', 'vm-1'), { stanza: false, text: null }, 'a static stanza is not a DHCP one');
});

test('as root: publish with dhcpcd running: dhcpcd.conf edited (mode kept), `dhcpcd -n <if>`', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/proc/net/route', ROUTE);
  r.write('/sys/class/net/eth0/ifindex', '2\n');
  r.write('/proc/321/comm', 'dhcpcd\n');
  r.write('/etc/dhcpcd.conf', fixture('dhcpcd.conf'), 0o640);
  const rr = new RecordingRunner();
  const res = await publishHostname(rr, r.root, 'vm-1', { libDir: '/var/lib/waagent', publishers: alpine, live: true });
  assert.deepEqual(res, { dhcpFilesChanged: ['/etc/dhcpcd.conf'], iface: 'eth0', publisher: 'dhcpcd', ok: true });
  assert.deepEqual(rr.calls.map((c) => c.argv), [['dhcpcd', '-n', 'eth0']]);
  assert.equal(statSync(r.p('/etc/dhcpcd.conf')).mode & 0o777, 0o640);
  assert.match(readFileSync(r.p('/etc/dhcpcd.conf'), 'utf8'), /^hostname$/m);
  assert.deepEqual(setDhcpcdHostname(r.root, 'vm-1'), [], 'second time: nothing to change');
});

test('as root: publish with busybox udhcpc under ifupdown: stanza edited, ifdown/ifup; without a stanza said once, nothing run', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/proc/net/route', ROUTE);
  r.write('/sys/class/net/eth0/ifindex', '2\n');
  r.write('/proc/77/comm', 'udhcpc\n');
  r.write('/sbin/ifup', '', 0o755);
  r.write('/etc/network/interfaces', fixture('interfaces-alpine'));
  const rr = new RecordingRunner();
  const res = await publishHostname(rr, r.root, 'vm-1', { libDir: '/var/lib/waagent', publishers: alpine, live: true });
  assert.deepEqual(res, { dhcpFilesChanged: ['/etc/network/interfaces'], iface: 'eth0', publisher: 'udhcpc', ok: true });
  assert.deepEqual(rr.calls.map((c) => c.argv), [['ifdown', 'eth0'], ['ifup', 'eth0']]);
  assert.match(readFileSync(r.p('/etc/network/interfaces'), 'utf8'), /iface eth0 inet dhcp\n\thostname vm-1\n/);
  assert.deepEqual(setInterfacesHostname(r.root, 'eth0', 'vm-1'), { stanza: true, changed: false });

  // udhcpc started by hand (no stanza for eth0): it cannot be told the name; said once, no command.
  r.write('/etc/network/interfaces', 'auto lo\niface lo inet loopback\n');
  const mem = captureLog(t);
  const none = new RecordingRunner();
  const res2 = await publishHostname(none, r.root, 'vm-2', { libDir: '/var/lib/waagent', publishers: alpine, live: true });
  await publishHostname(none, r.root, 'vm-3', { libDir: '/var/lib/waagent', publishers: alpine, live: true });
  assert.deepEqual([res2.publisher, res2.ok, none.calls.length], ['udhcpc', false, 0]);
  assert.equal(mem.lines.filter((l) => /udhcpc runs without an "iface eth0 inet dhcp" stanza/.test(l)).length, 1, 'said once');
  assert.equal(readFileSync(r.p('/var/lib/waagent/published_hostname'), 'utf8'), 'vm-3');
});
