import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { Sysroot } from '../../src/util/sysroot.ts';
import { parseDhclientLeases, parseNetworkdLease, findWireServerInLeases, routeTableHasWireServer, readRouteTable } from '../../src/os/network/leases.ts';
import { discoverEndpoint, endpointHost, saveEndpoint, readSavedEndpoint, KNOWN_WIRESERVER_IP } from '../../src/platform/endpoint.ts';

const NOW = new Date('2026-01-01T00:00:00Z');

const dhclient = `
lease {
  interface "eth0";
  fixed-address 10.0.0.4;
  option unknown-245 a8:3f:81:10;
  option rfc3442-classless-static-routes 0,10,0,1,1,32,168,63,129,16,10,0,1,1;
  renew 3 2025/01/01 00:00:00;
  expire 3 2025/01/01 00:00:00;
}
lease {
  interface "eth0";
  fixed-address 10.0.0.4;
  option unknown-245 a:b:c:d;
  expire 0 2099/07/23 23:27:10;
}
lease {
  interface "eth0";
  option unknown-245 1:2:3:4;
  expire 4 2001/01/01 00:00:00;
}
`;

test('dhclient leases: last unexpired lease wins, short hex groups, expiry honoured', () => {
  assert.equal(parseDhclientLeases(dhclient, NOW), '10.11.12.13');
  assert.equal(parseDhclientLeases('lease {\n  option unknown-245 a8:3f:81:10;\n  expire 0 never;\n}\n', NOW), '168.63.129.16');
  assert.equal(parseDhclientLeases('lease {\n  option unknown-245 a8:3f:81:10;\n  expire 1 2020/01/01 00:00:00;\n}\n', NOW), null);
  // quoted form (all bytes printable): "ABCD" -> 65.66.67.68, with an octal escape
  assert.equal(parseDhclientLeases('lease {\n  option unknown-245 "AB\\103D";\n  expire 0 never;\n}\n', NOW), '65.66.67.68');
  assert.equal(parseDhclientLeases('lease {\n  option option-245 a8:3f:81:10;\n  expire 0 never;\n}\n', NOW), '168.63.129.16');
  assert.equal(parseDhclientLeases('lease {\n  option unknown-245 zz:3f:81:10;\n  expire 0 never;\n}\n', NOW), null);
  assert.equal(parseDhclientLeases('garbage', NOW), null);
});

test('networkd lease and route table', () => {
  assert.equal(parseNetworkdLease('ADDRESS=10.0.0.4\nOPTION_245=A83F8110\n'), '168.63.129.16');
  assert.equal(parseNetworkdLease('ADDRESS=10.0.0.4\n'), null);
  const route = 'Iface\tDestination\tGateway \tFlags\nnet0\t00000000\t0100000A\t0003\nnet0\t10813FA8\t0100000A\t0007\n';
  assert.equal(routeTableHasWireServer(route), true);
  assert.equal(routeTableHasWireServer('Iface\tDestination\nnet0\t00000000\n'), false);
});

test('lease files under a sysroot: networkd first, then dhclient and NetworkManager files', () => {
  const d = mkdtempSync(join(tmpdir(), 'leases-'));
  try {
    const root = new Sysroot(d);
    assert.equal(findWireServerInLeases(root, NOW), null);
    mkdirSync(join(d, 'var/lib/NetworkManager'), { recursive: true });
    writeFileSync(join(d, 'var/lib/NetworkManager/dhclient-abc-eth0.lease'), 'lease {\n  option unknown-245 a8:3f:81:11;\n  expire 0 never;\n}\n');
    assert.deepEqual(findWireServerInLeases(root, NOW), { endpoint: '168.63.129.17', file: '/var/lib/NetworkManager/dhclient-abc-eth0.lease' });
    mkdirSync(join(d, 'var/lib/dhcp'), { recursive: true });
    writeFileSync(join(d, 'var/lib/dhcp/dhclient.eth0.leases'), dhclient);
    assert.equal(findWireServerInLeases(root, NOW)?.endpoint, '168.63.129.17', 'last file with a valid lease wins');
    mkdirSync(join(d, 'run/systemd/netif/leases'), { recursive: true });
    writeFileSync(join(d, 'run/systemd/netif/leases/2'), 'OPTION_245=A83F8112\n');
    assert.deepEqual(findWireServerInLeases(root, NOW), { endpoint: '168.63.129.18', file: '/run/systemd/netif/leases/2' });
    assert.equal(readRouteTable(root), null);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('endpoint discovery order: saved (with Protocol), route, lease, default; saved for later starts', () => {
  const lib = mkdtempSync(join(tmpdir(), 'lib-'));
  try {
    const route = () => 'Iface\tDestination\nnet0\t10813FA8\n';
    const noRoute = () => 'Iface\tDestination\nnet0\t00000000\n';
    assert.deepEqual(discoverEndpoint({ libDir: lib, routeTable: noRoute, leaseEndpoint: () => null }), { endpoint: KNOWN_WIRESERVER_IP, source: 'default' });
    assert.deepEqual(discoverEndpoint({ libDir: lib, routeTable: route, leaseEndpoint: () => '10.9.9.9' }), { endpoint: KNOWN_WIRESERVER_IP, source: 'route' });
    assert.deepEqual(discoverEndpoint({ libDir: lib, routeTable: noRoute, leaseEndpoint: () => '10.9.9.9' }), { endpoint: '10.9.9.9', source: 'lease' });
    assert.deepEqual(discoverEndpoint({ libDir: lib, routeTable: noRoute, leaseEndpoint: () => 'not an ip; rm -rf' }).source, 'default');
    saveEndpoint(lib, '10.9.9.9');
    assert.equal(readFileSync(join(lib, 'WireServerEndpoint'), 'utf8'), '10.9.9.9');
    assert.equal(readFileSync(join(lib, 'Protocol'), 'utf8'), 'WireProtocol');
    assert.deepEqual(discoverEndpoint({ libDir: lib, routeTable: route }), { endpoint: '10.9.9.9', source: 'saved' });
    assert.deepEqual(discoverEndpoint({ libDir: lib, routeTable: route, skipSaved: true }).source, 'route');
    writeFileSync(join(lib, 'WireServerEndpoint'), 'garbage!!\n');
    assert.equal(readSavedEndpoint(lib), null);
    assert.equal(discoverEndpoint({ libDir: lib, routeTable: noRoute }).endpoint, KNOWN_WIRESERVER_IP);
    rmSync(join(lib, 'Protocol'));
    writeFileSync(join(lib, 'WireServerEndpoint'), '10.1.1.1');
    assert.deepEqual(discoverEndpoint({ libDir: lib, discovery: 'static' }), { endpoint: '10.1.1.1', source: 'saved' });
  } finally { rmSync(lib, { recursive: true, force: true }); }
});

test('endpointHost drops a trailing port only', () => {
  assert.equal(endpointHost('168.63.129.16'), '168.63.129.16');
  assert.equal(endpointHost('168.63.129.16:80'), '168.63.129.16');
  assert.equal(endpointHost('127.0.0.1:32526'), '127.0.0.1');
  assert.equal(endpointHost('wire.test'), 'wire.test');
});
