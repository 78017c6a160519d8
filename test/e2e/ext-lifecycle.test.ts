// VM extensions end to end in the VM-in-a-box (root, namespaces): the goal-state loop against the fabric
// simulator on 168.63.129.16 inside the box, probe extensions written in sh (test/fabric/extensions/
// Waagent.Test.Probe/probe.sh) that log every command with the environment they got. One box walks a
// handler's life in order: install+enable with public and protected settings, a settings change, an
// upgrade 1.0.0 -> 1.1.0 (UpdateWithInstall and UpdateWithoutInstall side by side), disable, uninstall.
// Each step checks the files on disk, the order of commands, and the status blob the simulator received.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtBox, LIB, ops, sha256, skip, type ProbeCommand } from './ext-helpers.ts';

const P = 'Waagent.Test.Probe';
const N = 'Waagent.Test.NoInstall';
const probe = (over: Record<string, unknown> = {}) => ({
  name: P, version: '1.0.0', versions: ['1.0.0', '1.1.0'], package: P, seqNo: 0,
  publicSettings: { message: 'first' }, protectedSettings: { secret: 'lifecycle-secret-1' }, ...over,
});
const noInstall = (over: Record<string, unknown> = {}) => ({
  name: N, version: '1.0.0', versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.ProbeNoInstall', seqNo: 0,
  publicSettings: { message: 'no-install' }, ...over,
});

function of(cmds: ProbeCommand[], handler: string): ProbeCommand[] {
  return cmds.filter((c) => c.handler === handler);
}

test('extensions in the box (root, namespaces): install+enable, settings change, upgrade both update modes (failed old disable handed over), disable, uninstall', { skip, timeout: 300_000 }, async (t) => {
  const x = await ExtBox.start('ext-lifecycle.json');
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    // ---- 1. install + enable, public and protected settings ----------------------------------------
    await x.reported('incarnation_1');
    let cmds = x.newCommands();
    assert.deepEqual(ops(cmds), [`${P} 1.0.0 install`, `${P} 1.0.0 enable`, `${N} 1.0.0 install`, `${N} 1.0.0 enable`]);
    for (const c of cmds) {
      assert.equal(c.env['seq'], '0');
      assert.equal(c.env['uninstallExit'], 'NOT_RUN', 'install/enable of a fresh install get NOT_RUN');
      assert.equal(c.env['wire'], '168.63.129.16'); // the address the agent gave the extension inside the sandbox
      assert.equal(c.env['path'], `${LIB}/${c.handler}-1.0.0`);
      assert.equal(c.env['cwdok'], 'yes', 'commands run in the handler dir');
      assert.equal(c.env['VERSION'], '<unset>');
    }
    const dir = `${LIB}/${P}-1.0.0`;
    const settings = JSON.parse(x.box.readFile(`${dir}/config/0.settings`)) as { runtimeSettings: Array<{ handlerSettings: Record<string, unknown> }> };
    const hs = settings.runtimeSettings[0]!.handlerSettings;
    assert.deepEqual(Object.keys(hs), ['publicSettings', 'protectedSettings', 'protectedSettingsCertThumbprint']);
    assert.deepEqual(hs['publicSettings'], { message: 'first' });
    assert.match(String(hs['protectedSettings']), /^[A-Za-z0-9+/=]+$/, 'protected settings stay encrypted on disk');
    assert.ok(!x.box.readFile(`${dir}/config/0.settings`).includes('lifecycle-secret-1'));
    const thumb = String(hs['protectedSettingsCertThumbprint']);
    assert.match(thumb, /^[0-9A-F]{40}$/);
    assert.ok(x.box.exists(`${LIB}/${thumb}.crt`) && x.box.exists(`${LIB}/${thumb}.prv`), 'tenant certificate in Lib.Dir');
    assert.equal(x.box.stat(`${LIB}/${thumb}.prv`).mode & 0o077, 0, 'the private key is readable by root only');
    const cmdLog = x.box.readFile(`/var/log/azure/${P}/CommandExecution.log`);
    assert.match(cmdLog, /Executing command: \/var\/lib\/waagent\/Waagent\.Test\.Probe-1\.0\.0\/bin\/probe\.sh install with environment variables: /);
    assert.match(cmdLog, /Command: bin\/probe\.sh enable/);
    // The plaintext of the protected settings is nowhere on disk: not in logs, not in agent state.
    const leak = await x.box.run(['sh', '-c', `ls -d /var/log/azure /var/log/probe ${LIB} /var/log/waagent.log 2>/dev/null | xargs grep -rl lifecycle-secret`]);
    assert.equal(leak.code, 123, `found in: ${leak.stdout} ${leak.stderr}`); // xargs: grep found nothing
    assert.ok(!x.log().includes('lifecycle-secret'), 'not in the agent log');
    assert.equal(x.box.readFile(`${dir}/config/HandlerState`), 'Enabled');
    assert.equal((x.box.stat(`${dir}/config`).mode & 0o777).toString(8), '700');
    assert.equal((x.box.stat(`${dir}/status`).mode & 0o777).toString(8), '700');
    const henv = JSON.parse(x.box.readFile(`${dir}/HandlerEnvironment.json`)) as Array<{ name: string; handlerEnvironment: Record<string, string> }>;
    assert.equal(henv[0]!.name, P);
    assert.equal(henv[0]!.handlerEnvironment['configFolder'], `${dir}/config`);
    assert.equal(henv[0]!.handlerEnvironment['logFolder'], `/var/log/azure/${P}`);
    assert.deepEqual((await x.libEntries()).filter((n) => n.endsWith('.zip')), [], 'packages deleted after extraction');

    let blob = await x.lastStatus();
    let h = x.handler(blob, P)!;
    assert.equal(h.status, 'Ready', JSON.stringify(h));
    assert.equal(h.handlerVersion, '1.0.0');
    assert.equal(h.formattedMessage?.message, 'Plugin enabled');
    assert.equal(h.runtimeSettingsStatus!.sequenceNumber, 0);
    assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.status, 'success');
    // The extension decrypted its protected settings with Lib.Dir/<thumb>.prv and proves it with a hash.
    const proof = `protectedSha256=${sha256(JSON.stringify({ secret: 'lifecycle-secret-1' }))}`;
    assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, `seq=0 ${proof} message=first`);
    assert.equal(x.handler(blob, N)!.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, 'seq=0 protected=none message=no-install');
    assert.equal(blob.aggregateStatus.vmArtifactsAggregateStatus?.goalStateAggregateStatus.inSvdSeqNo, '1');
    assert.equal(blob.aggregateStatus.vmArtifactsAggregateStatus?.goalStateAggregateStatus.status, 'Success');
    assert.ok(!JSON.stringify(blob).includes('lifecycle-secret-1'));

    // An unchanged goal state runs nothing, but status keeps being reported.
    await x.reported('incarnation_1', 30_000, 4);
    assert.deepEqual(x.newCommands(), [], 'no command runs without a new goal state');

    // ---- 2. settings change: new sequence number -> enable again --------------------------------------
    // NoInstall's new settings make its (1.0.0) disable fail with 5: used by the upgrade below.
    const failingDisable = { seqNo: 1, publicSettings: { message: 'no-install', failOn: 'disable', exitCode: '5' } };
    let id = await x.update({ extensions: [probe({ seqNo: 1, publicSettings: { message: 'second' }, protectedSettings: { secret: 'lifecycle-secret-2' } }), noInstall(failingDisable)] });
    await x.reported(id);
    cmds = x.newCommands();
    assert.deepEqual(ops(cmds), [`${P} 1.0.0 enable`, `${N} 1.0.0 enable`], 'enable again with the new settings');
    assert.equal(of(cmds, P)[0]!.env['seq'], '1');
    assert.equal(of(cmds, N)[0]!.env['seq'], '1');
    assert.ok(x.box.exists(`${dir}/config/1.settings`) && x.box.exists(`${dir}/config/0.settings`), 'old settings files are left to the extension');
    assert.equal(x.box.readFile(`${dir}/mrseq`).trim(), '1');
    blob = await x.lastStatus();
    h = x.handler(blob, P)!;
    assert.equal(h.runtimeSettingsStatus!.sequenceNumber, 1);
    assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message,
      `seq=1 protectedSha256=${sha256(JSON.stringify({ secret: 'lifecycle-secret-2' }))} message=second`);

    // ---- 3. upgrade 1.0.0 -> 1.1.0: UpdateWithInstall (Probe) and UpdateWithoutInstall (NoInstall, whose
    //         1.1.0 manifest says continueOnUpdateFailure: its old disable fails, the upgrade goes on) ----
    // (The new version's settings also make its uninstall fail, for step 5.)
    id = await x.update({ extensions: [probe({ version: '1.1.0', seqNo: 1, publicSettings: { message: 'second', failOn: 'uninstall', exitCode: '4' }, protectedSettings: { secret: 'lifecycle-secret-2' } }), noInstall({ version: '1.1.0', ...failingDisable })] });
    await x.reported(id);
    cmds = x.newCommands();
    t.diagnostic(ops(cmds).join('\n'));
    assert.deepEqual(ops(of(cmds, P)), [`${P} 1.0.0 disable`, `${P} 1.1.0 update`, `${P} 1.0.0 uninstall`, `${P} 1.1.0 install`, `${P} 1.1.0 enable`]);
    assert.deepEqual(ops(of(cmds, N)), [`${N} 1.0.0 disable`, `${N} 1.1.0 update`, `${N} 1.0.0 uninstall`, `${N} 1.1.0 enable`], 'UpdateWithoutInstall: no install');
    for (const name of [P, N]) {
      const [disable, update, uninstall, ...rest] = of(cmds, name);
      assert.equal(disable!.env['path'], `${LIB}/${name}-1.0.0`, 'old disable runs in the old dir');
      assert.equal(update!.env['path'], `${LIB}/${name}-1.1.0`);
      assert.equal(update!.env['VERSION'], '1.1.0');
      assert.equal(update!.env['fromVersion'], '1.0.0');
      assert.equal(update!.env['disableExit'], name === P ? '0' : '5', 'the old disable exit code goes to update');
      assert.equal(uninstall!.env['path'], `${LIB}/${name}-1.0.0`);
      for (const c of rest) assert.equal(c.env['uninstallExit'], '0', `${c.op} gets the old uninstall exit code`);
      assert.equal(x.box.exists(`${LIB}/${name}-1.0.0`), false, 'old version removed');
      assert.equal(x.box.readFile(`${LIB}/${name}-1.1.0/config/HandlerState`), 'Enabled');
    }
    // mrseq and status files were copied to the new version before update ran.
    assert.equal(x.box.exists(`${LIB}/${P}-1.1.0/status/0.status`), true, 'status/* copied from the old version');
    assert.equal(x.box.readFile(`${LIB}/${P}-1.1.0/mrseq`).trim(), '1');
    assert.deepEqual((await x.libEntries()).filter((n) => n.endsWith('.zip') || n.includes('-1.0.0')), [], 'no zip and no old handler dir left');
    blob = await x.lastStatus();
    for (const name of [P, N]) {
      h = x.handler(blob, name)!;
      assert.equal(h.handlerVersion, '1.1.0');
      assert.equal(h.status, 'Ready', JSON.stringify(h));
    }

    // ---- 4. disable ------------------------------------------------------------------------------------
    id = await x.update({ extensions: [probe({ version: '1.1.0', state: 'disabled', seqNo: 1, publicSettings: { message: 'second' }, protectedSettings: { secret: 'lifecycle-secret-2' } }), noInstall({ version: '1.1.0', ...failingDisable })] });
    await x.reported(id);
    cmds = x.newCommands();
    assert.deepEqual(ops(cmds), [`${P} 1.1.0 disable`, `${N} 1.1.0 enable`], 'disable work comes first (level -1), then enables');
    assert.equal(x.box.readFile(`${LIB}/${P}-1.1.0/config/HandlerState`), 'Installed');
    blob = await x.lastStatus();
    h = x.handler(blob, P)!;
    assert.equal(h.status, 'NotReady');
    assert.equal(h.formattedMessage?.message, 'Plugin disabled');

    // ---- 5. uninstall (its command fails: ignored, §3.3) ----------------------------------------------
    id = await x.update({ extensions: [probe({ version: '1.1.0', state: 'uninstall', seqNo: 1, publicSettings: { message: 'second' }, protectedSettings: { secret: 'lifecycle-secret-2' } }), noInstall({ version: '1.1.0', ...failingDisable })] });
    await x.reported(id);
    cmds = x.newCommands();
    assert.deepEqual(ops(cmds), [`${P} 1.1.0 uninstall`, `${N} 1.1.0 enable`], 'already disabled: uninstall only');
    assert.match(x.log(), /Non-zero exit code: 4, \/var\/lib\/waagent\/Waagent\.Test\.Probe-1\.1\.0\/bin\/probe\.sh uninstall/, 'the uninstall failed...');
    assert.equal(x.box.exists(`${LIB}/${P}-1.1.0`), false, '...and the handler dir is removed all the same');
    assert.equal(x.box.exists(`/var/log/azure/${P}`), true, 'the log folder stays');
    blob = await x.lastStatus();
    assert.equal(x.handler(blob, P), undefined, 'an uninstalled handler is no longer reported');
    assert.equal(x.handler(blob, N)?.status, 'Ready');
  } finally {
    await x.close();
  }
});

test('a handler without settings in the box (root, namespaces): empty 0.settings, seq 0, no extension status; disable then uninstall', { skip, timeout: 120_000 }, async (t) => {
  const bare = (state: string) => ({ name: 'Waagent.Test.Bare', version: '1.0.0', package: P, state });
  const x = await ExtBox.start({
    name: 'ext-bare', vm: { vmId: 'b17f3c8e-6a0d-4c7b-9e8f-0a1b2c3d4e56', containerId: '5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a', roleName: 'extvm', hostname: 'extvm' },
    user: { name: 'azureuser' }, vmSettings: false, extensions: [bare('enabled')],
  });
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    const cmds = x.newCommands();
    assert.deepEqual(ops(cmds), ['Waagent.Test.Bare 1.0.0 install', 'Waagent.Test.Bare 1.0.0 enable']);
    assert.ok(cmds.every((c) => c.env['seq'] === '0'));
    assert.equal(x.box.readFile(`${LIB}/Waagent.Test.Bare-1.0.0/config/0.settings`), '', 'an empty 0.settings');
    const h = x.handler(await x.lastStatus(), 'Waagent.Test.Bare')!;
    assert.equal(h.status, 'Ready');
    assert.equal(h.runtimeSettingsStatus, undefined, 'no settings: no extension status');
    await x.reported(await x.update({ extensions: [bare('uninstall')] }));
    assert.deepEqual(ops(x.newCommands()), ['Waagent.Test.Bare 1.0.0 disable', 'Waagent.Test.Bare 1.0.0 uninstall']);
    assert.equal(x.box.exists(`${LIB}/Waagent.Test.Bare-1.0.0`), false);
  } finally {
    await x.close();
  }
});
