// The hostname/hostnamectl/networkctl commands cannot run outside the box: RecordingRunner here;
// the files are real, on a temp root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { setHostname, publishHostname, setDhclientHostname, primaryInterface, readStaticHostname, currentHostname } from '../../src/os/hostname.ts';
import { parseOsRelease, profileFor } from '../../src/os/distro.ts';
import { RecordingRunner } from '../../src/util/exec.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

const ROUTE = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n' +
  'eth1\t00000000\t0100000A\t0003\t0\t0\t200\t00000000\t0\t0\t0\n' +
  'eth0\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0\n' +
  'eth0\t0000000A\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n';

test('as root: setHostname: file (0644, newline), then hostnamectl or hostname; temp root runs nothing by default', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const rr = new RecordingRunner();
  const deb = profileFor(parseOsRelease('ID=debian')).hostname;
  assert.deepEqual(await setHostname(rr, r.root, 'vm-1', deb), { fileChanged: true, command: null });
  assert.equal(readFileSync(r.p('/etc/hostname'), 'utf8'), 'vm-1\n');
  assert.equal(statSync(r.p('/etc/hostname')).mode & 0o777, 0o644);
  assert.equal(rr.calls.length, 0);
  assert.equal(readStaticHostname(r.root), 'vm-1');
  assert.deepEqual(await setHostname(rr, r.root, 'vm-1', deb, { live: true }), { fileChanged: false, command: 'hostname' });
  assert.deepEqual(rr.calls.map((c) => c.argv), [['hostname', 'vm-1']]);
  // Flatcar/RHEL: hostnamectl first; it fails in an early-boot system without hostnamed -> hostname.
  const fc = profileFor(parseOsRelease('ID=flatcar')).hostname;
  const failing = new RecordingRunner().answer('hostnamectl', { code: 1 });
  assert.equal((await setHostname(failing, r.root, 'vm-2', fc, { live: true })).command, 'hostname');
  assert.deepEqual(failing.calls.map((c) => c.argv), [['hostnamectl', 'set-hostname', 'vm-2'], ['hostname', 'vm-2']]);
  const ok = new RecordingRunner();
  assert.equal((await setHostname(ok, r.root, 'vm-2', fc, { live: true })).command, 'hostnamectl');
  assert.equal(ok.calls.length, 1);
  await assert.rejects(setHostname(ok, r.root, 'vm;reboot', fc, { live: true }), /invalid hostname/);
  assert.equal(ok.calls.length, 1);
  assert.equal(typeof currentHostname(), 'string');
});

test('as root: dhclient.conf: send host-name set once, kept when it already sends gethostname()', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/etc/dhcp/dhclient.conf', 'option rfc3442 code 121 = array of unsigned integer 8;\nsend host-name "old";\nrequest subnet-mask;\n');
  r.write('/etc/dhclient.conf', 'send host-name = gethostname();\n');
  assert.deepEqual(setDhclientHostname(r.root, 'vm-1'), ['/etc/dhcp/dhclient.conf']);
  assert.equal(readFileSync(r.p('/etc/dhcp/dhclient.conf'), 'utf8'), 'option rfc3442 code 121 = array of unsigned integer 8;\nrequest subnet-mask;\nsend host-name "vm-1";\n');
  assert.deepEqual(setDhclientHostname(r.root, 'vm-1'), []);
  assert.equal(readFileSync(r.p('/etc/dhclient.conf'), 'utf8'), 'send host-name = gethostname();\n');
});

test('primary interface: lowest-metric default route via a known NIC, else first non-lo NIC, else null', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  assert.equal(primaryInterface(r.root), null);
  mkdirSync(r.p('/sys/class/net/lo'), { recursive: true });
  mkdirSync(r.p('/sys/class/net/ens5'), { recursive: true });
  assert.equal(primaryInterface(r.root), 'ens5');
  r.write('/proc/net/route', ROUTE);
  assert.equal(primaryInterface(r.root), 'ens5', 'default routes via interfaces not in /sys/class/net are ignored');
  mkdirSync(r.p('/sys/class/net/eth1'), { recursive: true });
  assert.equal(primaryInterface(r.root), 'eth1');
  mkdirSync(r.p('/sys/class/net/eth0'), { recursive: true });
  assert.equal(primaryInterface(r.root), 'eth0', 'the lowest metric wins');
  r.write('/proc/net/route', ROUTE.replace(/^eth0\t00000000/m, 'lo\t00000000').replace(/^eth1\t00000000/m, 'lo\t00000000'));
  assert.equal(primaryInterface(r.root), 'ens5', 'lo is never primary');
});

test('as root: publish on systemd-networkd (Flatcar): published_hostname + networkctl reconfigure, renew as fallback, bounded retries', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/proc/net/route', ROUTE);
  mkdirSync(r.p('/sys/class/net/eth0'), { recursive: true });
  mkdirSync(r.p('/run/systemd/netif'), { recursive: true });
  const rr = new RecordingRunner();
  const opts = { libDir: '/var/lib/waagent', publishers: profileFor(parseOsRelease('ID=flatcar')).publishers, live: true, sleep: async () => {} };
  const res = await publishHostname(rr, r.root, 'vm-1', opts);
  assert.deepEqual(res, { dhcpFilesChanged: [], iface: 'eth0', publisher: 'networkd', ok: true });
  assert.equal(readFileSync(r.p('/var/lib/waagent/published_hostname'), 'utf8'), 'vm-1');
  assert.deepEqual(rr.calls.map((c) => c.argv), [['networkctl', 'reconfigure', 'eth0']]);
  const old = new RecordingRunner().answer('networkctl reconfigure', { code: 1 });
  assert.equal((await publishHostname(old, r.root, 'vm-1', opts)).ok, true);
  assert.deepEqual(old.calls.map((c) => c.argv[1]), ['reconfigure', 'renew']);
  let slept = 0;
  const dead = new RecordingRunner().answer('networkctl', { code: 1 });
  const bad = await publishHostname(dead, r.root, 'vm-1', { ...opts, tries: 3, sleep: async () => { slept++; } });
  assert.equal(bad.ok, false);
  assert.equal(dead.calls.length, 6);
  assert.equal(slept, 2);
});

test('as root: publish on ifupdown (Debian) and NetworkManager (RHEL, with ifcfg DHCP_HOSTNAME); nothing present -> no command', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/proc/net/route', ROUTE);
  mkdirSync(r.p('/sys/class/net/eth0'), { recursive: true });
  const debPub = profileFor(parseOsRelease('ID=debian')).publishers;
  const none = new RecordingRunner();
  const res0 = await publishHostname(none, r.root, 'vm-1', { libDir: '/var/lib/waagent', publishers: debPub, live: true });
  assert.deepEqual([res0.publisher, res0.ok, none.calls.length], [null, false, 0]);
  r.write('/sbin/ifup', '', 0o755);
  r.write('/etc/network/interfaces', 'auto eth0\n');
  const rr = new RecordingRunner();
  const res = await publishHostname(rr, r.root, 'vm-1', { libDir: '/var/lib/waagent', publishers: debPub, live: true });
  assert.equal(res.publisher, 'ifupdown');
  assert.deepEqual(rr.calls.map((c) => c.argv), [['ifdown', 'eth0'], ['ifup', 'eth0']]);
  const r2 = makeRoot();
  t.after(r2.cleanup);
  r2.write('/proc/net/route', ROUTE);
  mkdirSync(r2.p('/sys/class/net/eth0'), { recursive: true });
  mkdirSync(r2.p('/run/NetworkManager'), { recursive: true });
  r2.write('/etc/sysconfig/network-scripts/ifcfg-eth0', 'DEVICE=eth0\nDHCP_HOSTNAME=old\nONBOOT=yes\n');
  const nm = new RecordingRunner();
  const res2 = await publishHostname(nm, r2.root, 'vm-9', { libDir: '/var/lib/waagent', publishers: profileFor(parseOsRelease('ID=rhel')).publishers, live: true });
  assert.equal(res2.publisher, 'networkmanager');
  assert.deepEqual(nm.calls.map((c) => c.argv.join(' ')), ['systemctl restart NetworkManager', 'ip link set eth0 down', 'ip link set eth0 up']);
  assert.equal(readFileSync(r2.p('/etc/sysconfig/network-scripts/ifcfg-eth0'), 'utf8'), 'DEVICE=eth0\nONBOOT=yes\nDHCP_HOSTNAME=vm-9\n');
  // Not live (another root): files only.
  const quiet = new RecordingRunner();
  await publishHostname(quiet, r2.root, 'vm-9', { libDir: '/var/lib/waagent', publishers: ['networkmanager'] });
  assert.equal(quiet.calls.length, 0);
});

test('as root, in a private UTS namespace: the real hostname command sets the running name', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const { execFileSync } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const mod = fileURLToPath(new URL('../../src/os/hostname.ts', import.meta.url));
  const exec = fileURLToPath(new URL('../../src/util/exec.ts', import.meta.url));
  const sys = fileURLToPath(new URL('../../src/util/sysroot.ts', import.meta.url));
  const script = `
    const { setHostname, currentHostname } = await import(${JSON.stringify(mod)});
    const { realRunner } = await import(${JSON.stringify(exec)});
    const { Sysroot } = await import(${JSON.stringify(sys)});
    const res = await setHostname(realRunner, new Sysroot(${JSON.stringify(r.dir)}), 'box-vm-7', { useHostnamectl: false }, { live: true });
    console.log(JSON.stringify({ res, now: currentHostname() }));`;
  const out = execFileSync('unshare', ['--uts', '--', process.execPath, '--input-type=module', '-e', script]).toString();
  const { res, now } = JSON.parse(out);
  assert.deepEqual(res, { fileChanged: true, command: 'hostname' });
  assert.equal(now, 'box-vm-7');
  assert.equal(readFileSync(r.p('/etc/hostname'), 'utf8'), 'box-vm-7\n');
  assert.notEqual(currentHostname(), 'box-vm-7', 'the host keeps its name');
});
