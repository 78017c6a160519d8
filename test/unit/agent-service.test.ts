// Units and service installation (docs/os.md §3.4, §6.6, §11) into a temp Sysroot: content, quoting, paths
// under /etc/systemd/system only, idempotence, systemctl calls recorded (never run on this host).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../../src/util/exec.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { AGENT_UNIT, FIREWALL_UNIT, ServiceError, agentUnit, defaultConf, firewallUnit, installUnit, quoteExecArg } from '../../src/os/service.ts';

test('agent unit: this binary at its real path, -daemon, restart policy, no python', () => {
  const u = agentUnit({ self: ['/opt/bin/waagent'] });
  assert.match(u, /^ExecStart=\/opt\/bin\/waagent -daemon$/m);
  assert.match(u, /^Restart=always$/m);
  assert.match(u, /^RestartSec=5$/m);
  assert.match(u, /^RestartPreventExitStatus=2$/m);
  assert.match(u, /^KillMode=mixed$/m);
  assert.match(u, /^ConditionFileIsExecutable=\/opt\/bin\/waagent$/m);
  assert.match(u, /^ConditionPathExists=\/etc\/waagent.conf$/m);
  assert.match(u, /^WantedBy=multi-user.target$/m);
  assert.doesNotMatch(u, /python/i);
  const c = agentUnit({ self: ['/opt/my agent/waagent'], configPath: '/etc/azure/w%1.conf', flatcar: true });
  assert.match(c, /^ExecStart="\/opt\/my agent\/waagent" -daemon -configuration-path:\/etc\/azure\/w%%1.conf$/m);
  assert.match(c, /^After=network-online.target sshd-keygen.service systemd-sysext.service$/m);
  assert.equal(quoteExecArg('a"b\\c'), '"a\\"b\\\\c"');
  assert.equal(quoteExecArg('$HOME'), '$$HOME');
  assert.throws(() => quoteExecArg('a\nb'), ServiceError);
});

test('firewall unit: -setup-firewall=<ip> with this binary, before the network, after sysext', () => {
  const u = firewallUnit({ self: ['/usr/bin/waagent'], endpoint: '168.63.129.16' });
  assert.match(u, /^# This unit file \(Version=2\.0\) was created by the Azure VM Agent\.$/m);
  assert.match(u, /^ExecStart=\/usr\/bin\/waagent -setup-firewall=168\.63\.129\.16$/m);
  assert.match(u, /^Type=oneshot$/m);
  assert.match(u, /^RemainAfterExit=yes$/m);
  assert.match(u, /^Before=network-pre.target$/m);
  assert.match(u, /^After=local-fs.target systemd-sysext.service$/m);
  assert.match(u, /^DefaultDependencies=no$/m);
  assert.match(u, /^WantedBy=network.target$/m);
});

test('installUnit: written 0644 under /etc/systemd/system, enabled; a second run writes nothing; a failed enable removes a new unit', async () => {
  const d = mkdtempSync(join(tmpdir(), 'units-'));
  try {
    const root = new Sysroot(d);
    const r = new RecordingRunner();
    const text = agentUnit({ self: ['/opt/bin/waagent'] });
    const a = await installUnit(root, r, AGENT_UNIT, text, { systemd: true });
    assert.deepEqual(a, { path: '/etc/systemd/system/waagent.service', written: true, enabled: true });
    const host = join(d, 'etc/systemd/system/waagent.service');
    assert.equal(readFileSync(host, 'utf8'), text);
    assert.equal(statSync(host).mode & 0o777, 0o644);
    assert.deepEqual(r.calls.map((c) => c.argv.join(' ')), ['systemctl daemon-reload', 'systemctl enable waagent.service']);
    const b = await installUnit(root, r, AGENT_UNIT, text, { systemd: true });
    assert.equal(b.written, false);
    assert.deepEqual(r.calls.slice(2).map((c) => c.argv.join(' ')), ['systemctl enable waagent.service'], 'no daemon-reload without a change');
    assert.equal(existsSync(join(d, 'lib')), false, 'nothing under /lib');
    assert.equal(existsSync(join(d, 'usr')), false, 'nothing under /usr');

    const failing = new RecordingRunner().answer('systemctl enable', { code: 1, stderr: 'Failed to enable' });
    await assert.rejects(installUnit(root, failing, FIREWALL_UNIT, firewallUnit({ self: ['/x'], endpoint: '168.63.129.16' }), { systemd: true }), /systemctl enable waagent-network-setup.service failed/);
    assert.equal(existsSync(join(d, 'etc/systemd/system', FIREWALL_UNIT)), false);
    const nosd = new RecordingRunner();
    const c = await installUnit(root, nosd, FIREWALL_UNIT, 'x\n', { systemd: false });
    assert.equal(c.enabled, null);
    assert.equal(nosd.calls.length, 0, 'no systemctl where systemd does not run');
    await assert.rejects(installUnit(root, nosd, '../evil.service', 'x'), ServiceError);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('default waagent.conf: firewall on, no self-update, Flatcar layout on Flatcar', () => {
  const g = defaultConf({ flatcar: false });
  assert.match(g, /^OS.EnableFirewall=y$/m);
  assert.match(g, /^AutoUpdate.Enabled=n$/m);
  assert.doesNotMatch(g, /^OS.HomeDir/m);
  assert.match(defaultConf({ flatcar: true }), /^OS.HomeDir=\/home$/m);
});
