// VM extensions that go wrong, end to end in the VM-in-a-box (root, namespaces), against the fabric
// simulator: a failing install, status files that are not JSON or too large, a package with `../` entries (refused, nothing written outside), a
// manifest URI the storage refuses (HostGAPlugin /extensionArtifact fallback); then, in the same box,
// dependsOn: the first fails, the second is skipped with the spec's message; once the first succeeds,
// the second runs after it. In a second box: an enable that hangs past its timeout (its grandchild
// must die too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtBox, LIB, ops, skip } from './ext-helpers.ts';

const HANG_TIMEOUT_SEC = 3;

async function alive(x: ExtBox, pid: string): Promise<boolean> {
  // Inside the box's PID namespace; a zombie (state Z) waiting for the box's init to reap it is dead.
  const r = await x.box.run(['sh', '-c', `s=$(cut -d')' -f2 /proc/${pid}/stat 2>/dev/null | cut -d' ' -f2); [ -n "$s" ] && [ "$s" != Z ]`]);
  return r.code === 0;
}

test('extension failures in the box (root, namespaces): failing install, bad and huge status, ../ package refused, manifest via HostGAPlugin, heartbeats; dependsOn', { skip, timeout: 300_000 }, async (t) => {
  const x = await ExtBox.start('ext-failures.json');
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    // (Three reports: a missing heartbeat shows in the Python agent's reports from the second on.)
    await x.reported('incarnation_1', 90_000, 3);
    const cmds = x.newCommands();
    t.diagnostic(ops(cmds).join('\n'));
    // The Python agent (peer mode) extracts a `../` entry inside the handler dir (zipfile strips the
    // `..`) and runs the package; we refuse the package (deliberately: docs/extensions.md §4.4).
    const upstream = x.mode === 'upstream';
    assert.deepEqual(ops(cmds), [
      'Waagent.Test.FailInstall 1.0.0 install',
      ...(upstream ? ['Waagent.Test.Evil 1.0.0 install', 'Waagent.Test.Evil 1.0.0 enable'] : []),
      'Waagent.Test.BadStatus 1.0.0 install', 'Waagent.Test.BadStatus 1.0.0 enable',
      'Waagent.Test.HugeStatus 1.0.0 install', 'Waagent.Test.HugeStatus 1.0.0 enable',
      'Waagent.Test.Fallback 1.0.0 install', 'Waagent.Test.Fallback 1.0.0 enable',
      'Waagent.Test.Beat 1.0.0 install', 'Waagent.Test.Beat 1.0.0 enable',
      'Waagent.Test.NoBeat 1.0.0 install', 'Waagent.Test.NoBeat 1.0.0 enable',
    ], 'install failed => no enable; the evil package never ran anything');
    const blob = await x.lastStatus();

    // ---- failing install: error code and message (with the command's output) in the status ----------
    const fail = x.handler(blob, 'Waagent.Test.FailInstall')!;
    assert.equal(fail.status, 'NotReady');
    assert.equal(fail.code, 1007, 'PluginInstallProcessingFailed');
    assert.match(fail.formattedMessage!.message, /^\[ExtensionOperationError\] Non-zero exit code: 7, \/var\/lib\/waagent\/Waagent\.Test\.FailInstall-1\.0\.0\/bin\/probe\.sh install/);
    assert.match(fail.formattedMessage!.message, /\[stdout\]\nprobe: stdout of the failing install\n\n\n\[stderr\]\nprobe: failing install on purpose/);
    assert.equal(fail.runtimeSettingsStatus, undefined, 'a failed fresh install reports no extension status');
    assert.equal(x.box.readFile(`${LIB}/Waagent.Test.FailInstall-1.0.0/config/HandlerState`), 'NotInstalled');

    // ---- status files the agent cannot take as they are ------------------------------------------------
    const bad = x.handler(blob, 'Waagent.Test.BadStatus')!;
    assert.equal(bad.status, 'Ready', 'the handler itself is fine');
    const badSt = bad.runtimeSettingsStatus!.settingsStatus.status;
    assert.equal(badSt.status, 'error');
    assert.equal(badSt.code, 1012);
    assert.match(badSt.formattedMessage!.message, /^The status reported by the extension Waagent\.Test\.BadStatus-1\.0\.0\(Sequence number 0\), was in an incorrect format and the agent could not parse it correctly\. Failed due to /);
    const huge = x.handler(blob, 'Waagent.Test.HugeStatus')!.runtimeSettingsStatus!.settingsStatus.status;
    assert.equal(huge.status, 'success');
    assert.equal(huge.formattedMessage!.message, `seq=0 ${'x'.repeat(1024 - 'seq=0 '.length)} ... [TRUNCATED]`, 'cut to 1024 characters');
    const up = (await x.box.fabric!.statusUploads()).at(-1)!;
    assert.ok(up.text.length < 64 * 1024, `the status blob stays small (${up.text.length} bytes)`);

    // ---- ../ entries: refused, nothing written anywhere ------------------------------------------------
    const evil = x.handler(blob, 'Waagent.Test.Evil')!;
    if (!upstream) {
      assert.equal(evil.status, 'NotReady');
      assert.equal(evil.code, 1001);
      assert.match(evil.formattedMessage!.message, /^Failed to download artifacts: .*Failed to download Waagent\.Test\.Evil-1\.0\.0 from all URIs\. Last error: .*refused: "\.\." component/s);
    }
    for (const p of [`${LIB}/escaped-one-up.txt`, '/var/lib/escaped-two-up.txt', `${LIB}/Waagent.Test.Evil__1.0.0.zip`, ...(upstream ? [] : [`${LIB}/Waagent.Test.Evil-1.0.0/bin`])]) {
      assert.equal(x.box.exists(p), false, `${p} must not exist`);
    }
    assert.deepEqual(x.box.changedFiles().filter((p) => p.includes('escaped') && !p.startsWith(`${LIB}/Waagent.Test.Evil-1.0.0/`)), [], 'no escaped file anywhere in the box');
    assert.deepEqual((await x.libEntries()).filter((n) => n.startsWith('.') || n.endsWith('.zip')), [], 'no temp extraction dir or zip left');

    // ---- manifest URI failing: the HostGAPlugin /extensionArtifact fallback ---------------------------
    const fb = x.handler(blob, 'Waagent.Test.Fallback')!;
    assert.equal(fb.status, 'Ready', JSON.stringify(fb));
    assert.equal(fb.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, 'seq=0 protected=none message=manifest through the HostGAPlugin');
    const direct = await x.box.fabric!.requests({ endpoint: 'blob', path: '/extensions/Waagent.Test.Fallback_manifest.xml' });
    assert.ok(direct.length >= 1 && direct.every((r) => r.status === 404), 'the manifest URI failed');
    const viaPlugin = (await x.box.fabric!.requests({ endpoint: 'hgap', path: '/extensionArtifact' }))
      .filter((r) => String(r.headers['x-ms-artifact-location'] ?? '').endsWith('/extensions/Waagent.Test.Fallback_manifest.xml'));
    assert.ok(viaPlugin.some((r) => r.status === 200), 'the manifest came through the HostGAPlugin');
    assert.ok(viaPlugin.every((r) => r.headers['x-ms-verify-from-artifacts-blob'] === undefined), 'no verify header for a Fabric goal state');
    assert.equal(blob.aggregateStatus.vmArtifactsAggregateStatus?.goalStateAggregateStatus.status, 'Success');

    // ---- reportHeartbeat: the heartbeat's status and message replace the handler's in the report only;
    //      a missing heartbeat file makes the handler NotReady (and that is persisted) -----------------------
    const beat = x.handler(blob, 'Waagent.Test.Beat')!;
    assert.equal(beat.status, 'ready', 'the heartbeat status, verbatim');
    assert.equal(beat.formattedMessage?.message, 'alive at seq 0');
    assert.match(x.box.readFile(`${LIB}/Waagent.Test.Beat-1.0.0/config/HandlerStatus`), /"status": "Ready", "code": 0, "message": "Plugin enabled"/);
    const noBeat = x.handler(blob, 'Waagent.Test.NoBeat')!;
    assert.deepEqual([noBeat.status, noBeat.code, noBeat.formattedMessage?.message], ['NotReady', -1, '[ExtensionError] Failed to get heart beat file']);
    assert.equal(noBeat.runtimeSettingsStatus!.settingsStatus.status.status, 'success', 'the extension status is its own');

    // ---- dependsOn: the first fails => the second is skipped ------------------------------------------
    const first = (over: Record<string, unknown>) => ({ name: 'Waagent.Test.First', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, ...over });
    const second = { name: 'Waagent.Test.Second', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { message: 'after first' },
      dependsOn: { dependencyLevel: 1, on: [{ handler: 'Waagent.Test.First' }] } };
    let id = await x.update({ extensions: [second, first({ publicSettings: { failOn: 'enable' } })], faults: [] });
    await x.reported(id);
    assert.deepEqual(ops(x.newCommands()), ['Waagent.Test.First 1.0.0 install', 'Waagent.Test.First 1.0.0 enable'],
      'the dependant never runs; handlers dropped from the goal state are removed without commands');
    let b = await x.lastStatus();
    assert.equal(x.handler(b, 'Waagent.Test.First')!.code, 1009);
    const skipped = x.handler(b, 'Waagent.Test.Second')!;
    assert.equal(skipped.status, 'NotReady');
    assert.equal(skipped.code, -1);
    assert.equal(skipped.formattedMessage?.message, 'Skipping processing of extensions since execution of dependent extension Waagent.Test.First failed');
    for (const gone of ['FailInstall', 'BadStatus', 'HugeStatus', 'Fallback', 'Beat', 'NoBeat']) {
      assert.equal(x.box.exists(`${LIB}/Waagent.Test.${gone}-1.0.0`), false, `${gone} removed by cleanup`);
      assert.equal(x.handler(b, `Waagent.Test.${gone}`), undefined);
    }

    // ---- ...and once the first succeeds, the second runs after it: the agent waits for the first's status to
    //      turn from transitioning to success (written 2 s after its enable returned) ---------------------
    id = await x.update({ extensions: [second, first({ seqNo: 1, publicSettings: { message: 'fixed', statusLater: 'success' } })] });
    await x.reported(id);
    assert.deepEqual(ops(x.newCommands()), ['Waagent.Test.First 1.0.0 enable', 'Waagent.Test.First 1.0.0 status-success', 'Waagent.Test.Second 1.0.0 install', 'Waagent.Test.Second 1.0.0 enable']);
    b = await x.lastStatus();
    assert.equal(x.handler(b, 'Waagent.Test.First')!.status, 'Ready');
    assert.equal(x.handler(b, 'Waagent.Test.Second')!.status, 'Ready');
    assert.equal(x.handler(b, 'Waagent.Test.Second')!.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, 'seq=0 protected=none message=after first');
  } finally {
    await x.close();
  }
});

// The agent's real timeouts are 300 s (enable) to 900 s, and 90 min for a dependency: the driver (the same
// loop from source) shortens them, which the binary has no setting for.
test('extension timeouts in the box (root, namespaces): the whole process group is killed, grandchild included (1011); dependency deadline', { skip, timeout: 120_000 }, async (t) => {
  const x = await ExtBox.start('ext-timeout.json', { operationTimeoutsSec: { enable: HANG_TIMEOUT_SEC }, dependencyWaitMs: 3000 }, 'driver');
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    // ---- timeout: 1011, the whole process group killed (child and orphaned grandchild) --------------
    assert.deepEqual(ops(x.newCommands()), ['Waagent.Test.Hang 1.0.0 install', 'Waagent.Test.Hang 1.0.0 enable']);
    const blob = await x.lastStatus();
    const hang = x.handler(blob, 'Waagent.Test.Hang')!;
    assert.equal(hang.status, 'NotReady');
    assert.equal(hang.code, 1011, 'PluginHandlerScriptTimedout');
    assert.match(hang.formattedMessage!.message, new RegExp(`Timeout\\(${HANG_TIMEOUT_SEC}\\): /var/lib/waagent/Waagent\\.Test\\.Hang-1\\.0\\.0/bin/probe\\.sh enable`));
    assert.match(hang.formattedMessage!.message, /probe: hanging in enable/);
    const pids = await x.sh('cat /var/log/probe/main.pid /var/log/probe/child.pid /var/log/probe/grandchild.pid');
    const [main, child, grandchild] = pids.split('\n');
    assert.ok(main && child && grandchild, pids);
    for (const [what, pid] of [['main', main], ['child', child], ['grandchild', grandchild]] as const) {
      assert.equal(await alive(x, pid), false, `${what} (pid ${pid}) was killed with the group`);
    }
    const ps = await x.sh('ps -e -o pid=,ppid=,pgid=,stat=,args=');
    assert.equal(ps.split('\n').filter((l) => /\bsleep 1000\b/.test(l) && !/ Z/.test(l)).length, 0, `no sleeper left in the box:\n${ps}`);
    // The enable's status file was never written: the agent reports transitioning for it.
    assert.equal(hang.runtimeSettingsStatus?.settingsStatus.status.status, 'transitioning');
    assert.deepEqual((await x.sh(`ls -A ${LIB}/Waagent.Test.Hang-1.0.0`)).split('\n').filter((n) => n.startsWith('.cmd-output')), [], 'no output files left');

    // ---- a dependency that never reaches a terminal state: the dependant gives up at the deadline -----
    const id = await x.update({ extensions: [
      { name: 'Waagent.Test.Slow', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { statusLater: 'never' } },
      { name: 'Waagent.Test.Later', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, dependsOn: { dependencyLevel: 1, on: [{ handler: 'Waagent.Test.Slow' }] } },
    ] });
    await x.reported(id);
    assert.deepEqual(ops(x.newCommands()), ['Waagent.Test.Slow 1.0.0 install', 'Waagent.Test.Slow 1.0.0 enable']);
    const later = x.handler(await x.lastStatus(), 'Waagent.Test.Later')!;
    assert.equal(later.status, 'NotReady');
    assert.equal(later.formattedMessage?.message, 'Dependent Extension Waagent.Test.Slow did not reach a terminal state within the allowed timeout. Last status was transitioning');
  } finally {
    await x.close();
  }
});
