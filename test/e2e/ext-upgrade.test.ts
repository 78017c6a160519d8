// Upgrade edge cases end to end in the VM-in-a-box (root, namespaces), docs/extensions.md §3.4 and §9 items
// 8, 10: the new version's update fails (FailedUpgrade, NotReady 1008, enable not run, the old version
// kept), the next goal state retries the upgrade (the old one, already disabled, is not disabled
// again); an agent restart re-runs only enable; a downgrade runs the *old* (higher) handler's update
// with VERSION and AZURE_GUEST_AGENT_UPDATING_FROM_VERSION both set to the target.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtBox, LIB, notRun, ops, skip } from './ext-helpers.ts';

const P = 'Waagent.Test.Probe';
const probe = (version: string, seqNo: number, pub: Record<string, unknown>) => ({ name: P, version, versions: ['1.0.0', '1.1.0'], package: P, seqNo, publicSettings: pub });

test('upgrade failure, retry, restart, downgrade in the box (root, namespaces)', { skip, timeout: 300_000 }, async (t) => {
  const x = await ExtBox.start('ext-upgrade.json');
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    assert.deepEqual(ops(x.newCommands()), [`${P} 1.0.0 install`, `${P} 1.0.0 enable`]);

    // ---- the new version's update fails ----------------------------------------------------------------
    let id = await x.update({ extensions: [probe('1.1.0', 1, { message: 'v2', failOn: 'update', exitCode: '9' })] });
    await x.reported(id);
    let cmds = x.newCommands();
    assert.deepEqual(ops(cmds), [`${P} 1.0.0 disable`, `${P} 1.1.0 update`], 'no uninstall, install or enable after a failed update');
    assert.equal(x.box.readFile(`${LIB}/${P}-1.1.0/config/HandlerState`), 'FailedUpgrade');
    assert.equal(x.box.readFile(`${LIB}/${P}-1.0.0/config/HandlerState`), 'Installed', 'the old version is kept, disabled');
    let blob = await x.lastStatus();
    let h = x.handler(blob, P)!;
    assert.equal(h.handlerVersion, '1.1.0');
    assert.equal(h.status, 'NotReady');
    assert.equal(h.code, 1008, 'PluginUpdateProcessingFailed');
    assert.match(h.formattedMessage!.message, /^\[ExtensionOperationError\] Non-zero exit code: 9, \/var\/lib\/waagent\/Waagent\.Test\.Probe-1\.1\.0\/bin\/probe\.sh update/);

    // ---- the next goal state retries the whole upgrade ----------------------------------------------------
    id = await x.update({ extensions: [probe('1.1.0', 2, { message: 'v2 fixed' })] });
    await x.reported(id);
    cmds = x.newCommands();
    assert.deepEqual(ops(cmds), [`${P} 1.1.0 update`, `${P} 1.0.0 uninstall`, `${P} 1.1.0 install`, `${P} 1.1.0 enable`],
      'the old version is no longer enabled: no second disable');
    assert.equal(cmds[0]!.env['disableExit'], notRun(x));
    assert.equal(cmds[2]!.env['uninstallExit'], '0');
    assert.equal(x.box.exists(`${LIB}/${P}-1.0.0`), false);
    assert.equal(x.box.readFile(`${LIB}/${P}-1.1.0/config/HandlerState`), 'Enabled');
    blob = await x.lastStatus();
    h = x.handler(blob, P)!;
    assert.equal(h.status, 'Ready', JSON.stringify(h));
    assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, 'seq=2 protected=none message=v2 fixed');

    // ---- an agent restart processes the goal state again: enable only, same state ------------------------
    const before = (await x.sh(`cd ${LIB}/${P}-1.1.0 && find . -path ./status -prune -o -type f -print | sort | xargs sha256sum`));
    await x.restart();
    await x.reported(id);
    assert.deepEqual(ops(x.newCommands()), [`${P} 1.1.0 enable`], 'nothing is installed twice');
    const after = (await x.sh(`cd ${LIB}/${P}-1.1.0 && find . -path ./status -prune -o -type f -print | sort | xargs sha256sum`));
    assert.equal(after, before, 'the handler dir is unchanged by the second run');
    assert.equal(x.handler(await x.lastStatus(), P)!.status, 'Ready');

    // ---- downgrade 1.1.0 -> 1.0.0: the old (1.1.0) handler runs update ------------------------------------
    id = await x.update({ extensions: [probe('1.0.0', 3, { message: 'back to v1' })] });
    await x.reported(id);
    cmds = x.newCommands();
    assert.deepEqual(ops(cmds), [`${P} 1.1.0 disable`, `${P} 1.1.0 update`, `${P} 1.1.0 uninstall`, `${P} 1.0.0 install`, `${P} 1.0.0 enable`]);
    assert.equal(cmds[1]!.env['VERSION'], '1.0.0');
    assert.equal(cmds[1]!.env['fromVersion'], '1.0.0', 'the Python agent passes the target as the from-version on a downgrade');
    assert.equal(cmds[1]!.env['disableExit'], '0');
    assert.equal(x.box.exists(`${LIB}/${P}-1.1.0`), false, 'the higher version is removed');
    blob = await x.lastStatus();
    h = x.handler(blob, P)!;
    assert.equal(h.handlerVersion, '1.0.0');
    assert.equal(h.status, 'Ready');
    assert.deepEqual((await x.libEntries()).filter((n) => n.startsWith(P)), [`${P}-1.0.0`], 'exactly one version on disk, no zip');
  } finally {
    await x.close();
  }
});
