// The system extension's names and files (os/sysext.ts), enabling a shipped unit (os/service.ts) and
// -register-service run from the extension's /usr/bin/waagent (agent/service.ts), all in temp roots with
// systemctl recorded (never run on this host).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RecordingRunner } from '../../src/util/exec.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { MemoryOutput } from '../../src/util/output.ts';
import { defaultConfig } from '../../src/config/config.ts';
import type { Invocation } from '../../src/util/invocation.ts';
import { AGENT_UNIT, FIREWALL_UNIT, ServiceError, agentUnit, defaultConf, enableShippedUnit, firewallUnit } from '../../src/os/service.ts';
import { SYSEXT_CONF, SYSEXT_RELEASE, extensionRelease, runsFromSysext, tmpfilesConf } from '../../src/os/sysext.ts';
import { runRegisterService } from '../../src/agent/service.ts';

function put(root: string, p: string, text: string): void {
  mkdirSync(dirname(join(root, p)), { recursive: true });
  writeFileSync(join(root, p), text);
}

/** A root with our extension's /usr merged (as scripts/package.mjs lays it out). */
function sysextRoot(): string {
  const d = mkdtempSync(join(tmpdir(), 'sysext-'));
  put(d, '/usr/bin/waagent', 'binary');
  put(d, SYSEXT_RELEASE, extensionRelease({ arch: 'x64' }));
  put(d, `/usr/lib/systemd/system/${AGENT_UNIT}`, agentUnit({ self: ['/usr/bin/waagent'], flatcar: true, shipped: true }));
  put(d, `/usr/lib/systemd/system/${FIREWALL_UNIT}`, firewallUnit({ self: ['/usr/bin/waagent'], endpoint: '168.63.129.16', flatcar: true }));
  put(d, SYSEXT_CONF, defaultConf({ flatcar: true, shipped: true }));
  return d;
}

/** Every file under dir with its content (to prove nothing changed). */
function tree(dir: string, base = dir): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) Object.assign(out, tree(p, base));
    else out[p.slice(base.length)] = readFileSync(p, 'utf8');
  }
  return out;
}

test('extension-release: Flatcar only, SYSEXT_LEVEL 1.0, systemd architecture names; tmpfiles copies the default only if absent', () => {
  assert.equal(extensionRelease({ arch: 'x64' }), 'ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\nEXTENSION_RELOAD_MANAGER=1\n');
  assert.match(extensionRelease({ arch: 'arm64' }), /^ARCHITECTURE=arm64$/m);
  assert.throws(() => extensionRelease({ arch: 'ia32' }), /no sysext architecture/);
  assert.throws(() => extensionRelease({ arch: 'constructor' }), /no sysext architecture/);
  assert.match(tmpfilesConf(), /^C \/etc\/waagent\.conf - - - - \/usr\/share\/waagent\/waagent-sea\.conf$/m);
  const shipped = agentUnit({ self: ['/usr/bin/waagent'], flatcar: true, shipped: true });
  assert.match(shipped, /^# Shipped in the waagent-sea system extension/);
  assert.match(shipped, /^ExecStart=\/usr\/bin\/waagent -daemon$/m);
  assert.match(defaultConf({ flatcar: true, shipped: true }), /^# Azure Linux Agent default configuration, shipped in the waagent-sea system extension/);
});

test('runsFromSysext: only /usr/bin/waagent, and only with the extension-release file present', () => {
  const d = sysextRoot();
  try {
    const root = new Sysroot(d);
    assert.equal(runsFromSysext(root, '/usr/bin/waagent'), true);
    assert.equal(runsFromSysext(root, '/opt/bin/waagent'), false);
    assert.equal(runsFromSysext(root, undefined), false);
    rmSync(join(d, SYSEXT_RELEASE));
    assert.equal(runsFromSysext(root, '/usr/bin/waagent'), false, 'a /usr/bin/waagent installed by other means');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('enableShippedUnit: enables without writing; an agent-written /etc unit is removed, a foreign one kept and reported', async () => {
  const d = sysextRoot();
  try {
    const root = new Sysroot(d);
    const usr = tree(join(d, 'usr'));
    const r = new RecordingRunner();
    assert.deepEqual(await enableShippedUnit(root, r, AGENT_UNIT, { systemd: true }), { removed: null, shadowedBy: null, enabled: true });
    assert.deepEqual(r.calls.map((c) => c.argv.join(' ')), ['systemctl enable waagent.service']);

    // An earlier /opt/bin install's unit (ours) and firewall unit would hide the shipped ones: removed.
    put(d, `/etc/systemd/system/${AGENT_UNIT}`, agentUnit({ self: ['/opt/bin/waagent'] }));
    put(d, `/etc/systemd/system/${FIREWALL_UNIT}`, firewallUnit({ self: ['/opt/bin/waagent'], endpoint: '168.63.129.16' }));
    const r2 = new RecordingRunner();
    assert.deepEqual(await enableShippedUnit(root, r2, AGENT_UNIT, { systemd: true }), { removed: '/etc/systemd/system/waagent.service', shadowedBy: null, enabled: true });
    assert.deepEqual(await enableShippedUnit(root, r2, FIREWALL_UNIT, { systemd: true }), { removed: '/etc/systemd/system/waagent-network-setup.service', shadowedBy: null, enabled: true });
    assert.deepEqual(r2.calls.map((c) => c.argv.join(' ')), ['systemctl daemon-reload', 'systemctl enable waagent.service', 'systemctl daemon-reload', 'systemctl enable waagent-network-setup.service']);
    assert.deepEqual(readdirSync(join(d, 'etc/systemd/system')), []);

    // Someone else's unit: kept, reported.
    put(d, `/etc/systemd/system/${AGENT_UNIT}`, '[Unit]\nDescription=site agent\n');
    const r3 = new RecordingRunner();
    assert.deepEqual(await enableShippedUnit(root, r3, AGENT_UNIT, { systemd: false }), { removed: null, shadowedBy: '/etc/systemd/system/waagent.service', enabled: null });
    assert.deepEqual(r3.calls, [], 'no systemd: nothing run');
    assert.equal(readFileSync(join(d, 'etc/systemd/system', AGENT_UNIT), 'utf8'), '[Unit]\nDescription=site agent\n');

    const failing = new RecordingRunner().answer('systemctl enable', { code: 1, stderr: 'Failed to enable' });
    await assert.rejects(enableShippedUnit(root, failing, FIREWALL_UNIT, { systemd: true }), /systemctl enable waagent-network-setup.service failed \(exit 1\): Failed to enable/);
    await assert.rejects(enableShippedUnit(root, r3, 'other.service', { systemd: true }), /\/usr\/lib\/systemd\/system\/other\.service is missing/);
    await assert.rejects(enableShippedUnit(root, r3, '../x.service'), ServiceError);
    assert.deepEqual(tree(join(d, 'usr')), usr, 'nothing under /usr changed');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

function invocation(root: Sysroot, self: string, io: MemoryOutput, configPath = '/etc/waagent.conf'): Invocation {
  return {
    command: 'register-service',
    args: { flags: { verbose: false, force: false, full: false, debug: false, dryRun: false } },
    config: defaultConfig(), configPath, root, runner: new RecordingRunner(), io, self: [self],
  };
}

test('-register-service from the extension: the shipped conf copied once (an existing one kept), no unit written, nothing under /usr', async () => {
  const d = sysextRoot();
  try {
    const root = new Sysroot(d);
    const usr = tree(join(d, 'usr'));
    const io = new MemoryOutput();
    assert.equal(await runRegisterService(invocation(root, '/usr/bin/waagent', io)), 0, io.stderr);
    assert.equal(readFileSync(join(d, 'etc/waagent.conf'), 'utf8'), readFileSync(join(d, SYSEXT_CONF), 'utf8'));
    assert.equal(statSync(join(d, 'etc/waagent.conf')).mode & 0o777, 0o644);
    assert.match(io.stdout, /Copied \/usr\/share\/waagent\/waagent-sea\.conf to \/etc\/waagent\.conf/);
    assert.match(io.stdout, /the shipped waagent\.service was not enabled/, 'a temp root is not a running systemd');
    assert.deepEqual(Object.keys(tree(join(d, 'etc'))), ['/waagent.conf'], 'no unit under /etc/systemd/system');

    writeFileSync(join(d, 'etc/waagent.conf'), 'Logs.Verbose=y\n');
    const io2 = new MemoryOutput();
    assert.equal(await runRegisterService(invocation(root, '/usr/bin/waagent', io2)), 0);
    assert.equal(readFileSync(join(d, 'etc/waagent.conf'), 'utf8'), 'Logs.Verbose=y\n', 'an existing conf is kept');
    assert.doesNotMatch(io2.stdout, /Copied/);
    assert.deepEqual(tree(join(d, 'usr')), usr, 'nothing under /usr changed');

    // The same binary elsewhere (or another -configuration-path): the unit is written as before.
    const io3 = new MemoryOutput();
    assert.equal(await runRegisterService(invocation(root, '/opt/bin/waagent', io3)), 0);
    assert.match(readFileSync(join(d, 'etc/systemd/system/waagent.service'), 'utf8'), /^ExecStart=\/opt\/bin\/waagent -daemon$/m);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
