// The provisioned marker and the VM id it records (docs/os.md §4.3), and the choice of provisioning agent
// (docs/os.md §4.1).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { RecordingRunner } from '../../src/util/exec.ts';
import { isUuid, readVmId, sameVmId, swapUuid } from '../../src/provision/vmid.ts';
import { changedIdCleanup, changedIdCleanupList, checkMarker, readMarker, writeMarker } from '../../src/provision/marker.ts';
import { AgentConfigError, cloudInitEnabled, selectAgent } from '../../src/provision/agent.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

test('vmId: the first three UUID groups are byte-reversed, the rest kept, case preserved', () => {
  assert.equal(swapUuid('544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8'), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
  assert.equal(swapUuid('544cdfd0-cb4e-4b4a-9954-5bdf3ed5c3b8'), 'd0df4c54-4ecb-4a4b-9954-5bdf3ed5c3b8');
  assert.equal(swapUuid(' 00112233-4455-6677-8899-AABBCCDDEEFF\n'), '33221100-5544-7766-8899-AABBCCDDEEFF');
  // Swapping twice is the identity.
  assert.equal(swapUuid(swapUuid('544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8')), '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8');
  assert.equal(swapUuid('not-a-uuid'), 'not-a-uuid');
  assert.equal(isUuid('544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8'), true);
  assert.equal(isUuid('544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B'), false);
});

test('vmId: equal case-insensitively, in either byte order', () => {
  const cur = 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8';
  assert.equal(sameVmId('d0df4c54-4ecb-4a4b-9954-5bdf3ed5c3b8', cur), true);
  assert.equal(sameVmId('544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8', cur), true, 'stored unswapped (Gen2 / older agent)');
  assert.equal(sameVmId('11111111-4ECB-4A4B-9954-5BDF3ED5C3B8', cur), false);
});

test('vmId: read from DMI in the root and swapped; no DMI (and not the host) gives ""', async () => {
  const r = makeRoot();
  try {
    const runner = new RecordingRunner();
    assert.equal(await readVmId(r.root, runner), '');
    assert.deepEqual(runner.calls, [], 'dmidecode is never run for another root');
    r.write('/sys/class/dmi/id/product_uuid', '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8\n');
    assert.equal(await readVmId(r.root, runner), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    r.write('/sys/class/dmi/id/product_uuid', 'Not Settable\n');
    assert.equal(await readVmId(r.root, runner), '');
  } finally {
    r.cleanup();
  }
});

test('marker: written without newline 0644, read back; states same/changed/empty/unknown/absent', () => {
  const r = makeRoot();
  try {
    const lib = '/var/lib/waagent';
    assert.equal(readMarker(r.root, lib), null);
    writeMarker(r.root, lib, 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    assert.equal(readFileSync(r.p(`${lib}/provisioned`), 'utf8'), 'D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8');
    assert.equal(statSync(r.p(`${lib}/provisioned`)).mode & 0o777, 0o644);
    const stored = readMarker(r.root, lib)!;
    assert.deepEqual(checkMarker(stored, 'd0df4c54-4ecb-4a4b-9954-5bdf3ed5c3b8'), { kind: 'same' });
    assert.deepEqual(checkMarker(stored, '544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8'), { kind: 'same' });
    assert.deepEqual(checkMarker(stored, 'AAAAAAAA-4ECB-4A4B-9954-5BDF3ED5C3B8'), { kind: 'changed', stored });
    assert.deepEqual(checkMarker('', 'AAAAAAAA-4ECB-4A4B-9954-5BDF3ED5C3B8'), { kind: 'empty' });
    assert.deepEqual(checkMarker(stored, ''), { kind: 'unknown', stored }, 'no current id: never cleaned up');
    assert.deepEqual(checkMarker(null, stored), { kind: 'absent' });
  } finally {
    r.cleanup();
  }
});

test('changed-id cleanup: per-VM state goes, packages, keys, the user and unrelated files stay', () => {
  const r = makeRoot();
  try {
    const lib = '/var/lib/waagent';
    const gone = [
      '/var/lib/dhclient/dhclient.eth0.leases', '/var/lib/dhcp/dhclient.leases', '/run/systemd/netif/leases/2',
      `${lib}/HostingEnvironmentConfig.xml`, `${lib}/SharedConfig.xml`, `${lib}/WireServerEndpoint`, `${lib}/Protocol`,
      `${lib}/published_hostname`, `${lib}/ExtensionsConfig.3.xml`, `${lib}/GoalState.3.xml`, `${lib}/Incarnation`,
      `${lib}/Microsoft.Azure.Extensions.CustomScript-2.1.10/status/0.status`,
      `${lib}/Microsoft.Azure.Extensions.CustomScript-2.1.10/config/0.settings`,
      `${lib}/Microsoft.Azure.Extensions.CustomScript-2.1.10/config/HandlerStatus`,
      `${lib}/Microsoft.Azure.Extensions.CustomScript-2.1.10/mrseq`,
      '/etc/systemd/system/waagent-network-setup.service',
    ];
    const kept = [
      `${lib}/provisioned`, `${lib}/ovf-env.xml`, `${lib}/ABCDEF.crt`, `${lib}/CustomData`,
      `${lib}/Microsoft.Azure.Extensions.CustomScript-2.1.10/bin/script.sh`,
      `${lib}/Microsoft.Azure.Extensions.CustomScript-2.1.10/HandlerManifest.json`,
      `${lib}/WALinuxAgent-2.15.0.1/status/0.status`,
      '/etc/systemd/system/sshd.service', '/home/azureuser/.ssh/authorized_keys',
    ];
    for (const f of [...gone, ...kept]) r.write(f, 'x');
    assert.deepEqual(new Set(changedIdCleanupList(r.root, lib)), new Set(gone));
    changedIdCleanup(r.root, lib);
    for (const f of gone) assert.equal(existsSync(r.p(f)), false, f);
    for (const f of kept) assert.equal(existsSync(r.p(f)), true, f);
    assert.ok(statSync(r.p('/var/lib/dhclient')).isDirectory(), 'lease directories stay, emptied');
    assert.deepEqual(changedIdCleanup(r.root, lib), [], 'a second run removes nothing more');
  } finally {
    r.cleanup();
  }
});

test('agent choice: disabled/cloud-init need no detection, auto follows it, waagent notes it; unknown values refused', async () => {
  let detections = 0;
  const yes = async () => { detections++; return true; };
  const no = async () => { detections++; return false; };
  assert.deepEqual(await selectAgent('disabled', yes), { agent: 'disabled', cloudInit: null });
  assert.deepEqual(await selectAgent('cloud-init', yes), { agent: 'cloud-init', cloudInit: null });
  assert.equal(detections, 0);
  assert.deepEqual(await selectAgent('auto', yes), { agent: 'cloud-init', cloudInit: true });
  assert.deepEqual(await selectAgent('auto', no), { agent: 'waagent', cloudInit: false });
  assert.deepEqual(await selectAgent(undefined, no), { agent: 'waagent', cloudInit: false });
  assert.deepEqual(await selectAgent('WAAgent', yes), { agent: 'waagent', cloudInit: true }, 'the built-in handler then refuses to run');
  await assert.rejects(selectAgent('wagent', no), AgentConfigError);
});

test('cloud-init detection: systemctl says "enabled", else `service cloud-init status` exits 0; anything else is no', async () => {
  const enabled = new RecordingRunner().answer('systemctl is-enabled', { code: 0, stdout: 'enabled\n' });
  assert.equal(await cloudInitEnabled(enabled), true);
  assert.deepEqual(enabled.calls.map((c) => c.argv.join(' ')), ['systemctl is-enabled cloud-init-local.service']);
  const viaService = new RecordingRunner().answer('systemctl', { code: 1, stdout: 'disabled\n' }).answer('service', { code: 0 });
  assert.equal(await cloudInitEnabled(viaService), true);
  const flatcar = new RecordingRunner().answer('systemctl', { code: 1, stderr: 'Failed to get unit file state' }).answer('service', { code: 127 });
  assert.equal(await cloudInitEnabled(flatcar), false);
  assert.deepEqual(flatcar.calls.map((c) => c.argv[0]), ['systemctl', 'service']);
  const masked = new RecordingRunner().answer('systemctl', { code: 0, stdout: 'masked\n' }).answer('service', { code: 3 });
  assert.equal(await cloudInitEnabled(masked), false);
});

test('marker: an unreadable marker (a directory) still counts as present', () => {
  const r = makeRoot();
  try {
    mkdirSync(r.p('/var/lib/waagent/provisioned'), { recursive: true });
    assert.equal(readMarker(r.root, '/var/lib/waagent'), '');
    writeFileSync(r.p('/var/lib/waagent/other'), '');
  } finally {
    r.cleanup();
  }
});
