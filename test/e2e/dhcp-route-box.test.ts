// DHCP client restart end to end (2.15 monitor_dhcp_client_restart): the BUILT dist/waagent -run-exthandlers in
// the VM-in-a-box (root, namespaces). A stand-in DHCP client (a copy of `sleep` named dhclient) runs; the box's
// main table routes the WireServer via a veth interface's gateway; the client "restarts" (new pid) and the
// route is gone: the agent puts it back with the real `ip` (the fabric stays reachable through the box's local
// address, which the local table prefers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Box, PROJECT } from '../sandbox/box.ts';
import { baseScenario, until } from '../fabric/testing.ts';

const DIST = join(PROJECT, 'dist', 'waagent');
const skip = process.getuid?.() !== 0 ? 'needs root (namespaces)' : !existsSync(DIST) ? 'dist/waagent is not built (npm test builds it)' : false;
// The WireServer address, used only inside the box's private network namespace (its own veth pair; nothing
// leaves it).
const WIRESERVER = '168.63.129.16'; // inside the sandbox netns only
const CONF = ['Extensions.GoalStatePeriod=1', 'OS.MonitorDhcpClientRestartPeriod=1', 'Logs.Collect=n', 'Logs.Console=n', ''].join('\n');

test('DHCP client restart in the box (root, namespaces): the dropped WireServer route is restored through the gateway seen before', { skip, timeout: 120_000 }, async () => {
  const box = await Box.start({ scenario: baseScenario({ vmSettings: false, extensions: [] }), files: { '/etc/waagent.conf': CONF } });
  try {
    const sh = async (cmd: string) => { const r = await box.run(['sh', '-c', cmd]); assert.equal(r.code, 0, `${cmd}: ${r.stderr}`); return r.stdout; };
    await sh(`ip link add dummy0 type veth peer name dummy1 && ip addr add 10.9.0.2/24 dev dummy0 && ip link set dummy1 up && ip link set dummy0 up && ip route replace ${WIRESERVER}/32 via 10.9.0.1 dev dummy0`);
    await sh('cp "$(command -v sleep)" /tmp/dhclient');
    const first = box.spawn(['/tmp/dhclient', '600']);
    const agent = box.spawn([DIST, '-run-exthandlers']);
    try {
      await until(() => box.agentLog(), (l) => /ProcessExtensionsGoalState completed/.test(l), 60_000);
      // Let the monitor record the client and the route (its first check runs at start).
      await new Promise((r) => setTimeout(r, 1500));
      first.kill('SIGKILL');
      await first.wait(10_000);
      // The restarted client dropped its routes: the WireServer one and the default (the box's throw routes,
      // which keep everything but loopback unroutable, stay: they have no device and are never "a route").
      await sh(`ip route del ${WIRESERVER}/32 via 10.9.0.1 dev dummy0 && ip route del default`);
      assert.equal((await sh(`ip route show table main ${WIRESERVER}`)).trim(), '');
      const second = box.spawn(['/tmp/dhclient', '600']);
      try {
        await until(() => box.agentLog(), (l) => /restored the route to the WireServer: 168\.63\.129\.16\/32 via 10\.9\.0\.1 dev dummy0/.test(l), 30_000);
        assert.match(box.agentLog(), /EnvMonitor: Detected dhcp client restart\. Restoring routing table\./);
        assert.match(await sh(`ip route show table main ${WIRESERVER}`), /^168\.63\.129\.16 via 10\.9\.0\.1 dev dummy0/);
      } finally {
        second.kill('SIGKILL');
      }
    } finally {
      agent.kill('SIGTERM');
      await agent.wait(30_000);
    }
  } finally {
    await box.close();
  }
});
