// A multi-config handler end to end in the VM-in-a-box (root, namespaces), through ExtensionsConfig:
// two extensions of one handler (per-extension settings/status/state files, ConfigExtensionName, one
// blob entry each with extensionName), then one extension deleted (state disabled: disabled and its
// files removed, no longer reported), an upgrade 1.0.0 -> 1.1.0 (the MC exit-code list to update), then
// the handler uninstalled (enabled extensions disabled first).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtBox, LIB, notRun, sha256, skip } from './ext-helpers.ts';

const H = 'Waagent.Test.MC';
const DIR = `${LIB}/${H}-1.0.0`;

test('multi-config handler in the box (root, namespaces): two extensions, one deleted, upgrade, handler uninstalled', { skip, timeout: 300_000 }, async (t) => {
  const x = await ExtBox.start('ext-multiconfig.json');
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    let cmds = x.newCommands();
    assert.deepEqual(cmds.map((c) => `${c.op} ${c.env['ext']} seq=${c.env['seq']}`), ['install first seq=0', 'enable first seq=0', 'enable second seq=3'],
      'handler-level install once, then each extension enabled with its own name and seq');
    for (const f of ['config/first.0.settings', 'config/second.3.settings', 'status/first.0.status', 'status/second.3.status', 'first.mrseq', 'second.mrseq']) {
      assert.ok(x.box.exists(`${DIR}/${f}`), f);
    }
    assert.equal(x.box.readFile(`${DIR}/config/first.HandlerState`), 'enabled');
    assert.equal(x.box.readFile(`${DIR}/config/second.HandlerState`), 'enabled');
    assert.equal(x.box.readFile(`${DIR}/config/HandlerState`), 'Enabled');
    let blob = await x.lastStatus();
    const entries = blob.aggregateStatus.handlerAggregateStatus.filter((h) => h.handlerName === H);
    assert.deepEqual(entries.map((h) => [h.runtimeSettingsStatus?.extensionName, h.runtimeSettingsStatus?.sequenceNumber, h.status]), [['first', 0, 'Ready'], ['second', 3, 'Ready']]);
    assert.equal(x.handler(blob, H, 'first')!.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message,
      `seq=0 protectedSha256=${sha256(JSON.stringify({ secret: 'mc-secret' }))} message=one`);
    assert.equal(x.handler(blob, H, 'second')!.runtimeSettingsStatus!.settingsStatus.status.name, 'second', 'the goal-state name of the extension, not the one in the file');
    assert.ok(blob.supportedFeatures?.some((f) => f.Key === 'MultipleExtensionsPerHandler'));
    // CGroups.EnforceLimits=y (the default) without systemd: commands run plainly, and that is logged once.
    if (x.mode !== 'upstream') assert.equal(x.log().split('systemd is not running: extension commands run without resource limits').length - 1, 1, x.log().slice(-3000));

    // ---- delete "second" (state disabled), change "first" ---------------------------------------------
    const id = await x.update({ extensions: [{ name: H, version: '1.0.0', package: 'Waagent.Test.ProbeMC', multiConfig: [
      { name: 'first', seqNo: 1, publicSettings: { message: 'one again' }, protectedSettings: { secret: 'mc-secret' } },
      { name: 'second', state: 'disabled', seqNo: 3, publicSettings: { message: 'two' } },
    ] }] });
    await x.reported(id);
    cmds = x.newCommands();
    assert.deepEqual(cmds.map((c) => `${c.op} ${c.env['ext']} seq=${c.env['seq']}`), ['disable second seq=3', 'enable first seq=1'], 'disables first');
    for (const f of ['config/second.3.settings', 'status/second.3.status', 'config/second.HandlerState']) {
      assert.equal(x.box.exists(`${DIR}/${f}`), false, `${f} removed with the deleted extension`);
    }
    assert.equal(x.box.readFile(`${DIR}/config/HandlerState`), 'Enabled', 'the handler stays enabled while an extension is');
    blob = await x.lastStatus();
    assert.deepEqual(blob.aggregateStatus.handlerAggregateStatus.filter((h) => h.handlerName === H).map((h) => h.runtimeSettingsStatus?.extensionName), ['first']);
    assert.equal(x.handler(blob, H, 'first')!.runtimeSettingsStatus!.sequenceNumber, 1);

    // ---- upgrade to 1.1.0 with a new extension "third": the sequence runs once, on the first item --------
    const up = await x.update({ extensions: [{ name: H, version: '1.1.0', versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.ProbeMC', multiConfig: [
      { name: 'first', seqNo: 1, publicSettings: { message: 'one again' }, protectedSettings: { secret: 'mc-secret' } },
      { name: 'third', seqNo: 0, publicSettings: { message: 'three' } },
    ] }] });
    await x.reported(up);
    cmds = x.newCommands();
    assert.deepEqual(cmds.map((c) => `${c.version} ${c.op} ${c.env['ext']}`), [
      '1.0.0 disable first', '1.1.0 update first', '1.0.0 uninstall first', '1.1.0 install first', '1.1.0 enable first', '1.1.0 enable third',
    ]);
    // One entry per extension of the new goal state; "third" was never disabled.
    assert.equal(cmds[1]!.env['disableExits'], `[{"extensionName":"first","exitCode":"0"},{"extensionName":"third","exitCode":"${notRun(x)}"}]`);
    assert.equal(cmds[1]!.env['disableExit'], '<unset>', 'MC handlers get the list, not the single code');
    assert.equal(cmds[4]!.env['uninstallExit'], '0');
    const DIR2 = `${LIB}/${H}-1.1.0`;
    assert.equal(x.box.exists(DIR), false, 'old version removed');
    assert.ok(x.box.exists(`${DIR2}/first.mrseq`), 'mrseq files copied');
    blob = await x.lastStatus();
    assert.deepEqual(blob.aggregateStatus.handlerAggregateStatus.filter((h) => h.handlerName === H).map((h) => [h.handlerVersion, h.runtimeSettingsStatus?.extensionName, h.status]),
      [['1.1.0', 'first', 'Ready'], ['1.1.0', 'third', 'Ready']]);

    // ---- uninstall the handler: the enabled extensions are disabled, then uninstall ------------------
    const gone = await x.update({ extensions: [{ name: H, version: '1.1.0', versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.ProbeMC', state: 'uninstall', multiConfig: [
      { name: 'first', seqNo: 1, publicSettings: { message: 'one again' }, protectedSettings: { secret: 'mc-secret' } },
      { name: 'third', seqNo: 0, publicSettings: { message: 'three' } },
    ] }] });
    await x.reported(gone);
    assert.deepEqual(x.newCommands().map((c) => `${c.version} ${c.op} ${c.env['ext']}`), ['1.1.0 disable first', '1.1.0 disable third', '1.1.0 uninstall first']);
    assert.equal(x.box.exists(DIR2), false);
    blob = await x.lastStatus();
    assert.equal(x.handler(blob, H), undefined);
  } finally {
    await x.close();
  }
});
