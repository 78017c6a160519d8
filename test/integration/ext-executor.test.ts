// The executor end to end on a temp Lib.Dir with real shell extensions built by our zip writer:
// install/enable, re-enable on a new sequence number, upgrades both update modes (order and env vars),
// failing install, uninstall, dependencies, multi-config, download fallback, Extensions.Enabled=n,
// cleanup, unsupported required features. The network is a fake ArtifactSource (no HTTP at all).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createZip } from '../../src/util/zipwrite.ts';
import { ExtensionsExecutor, type ArtifactSource } from '../../src/extensions/executor.ts';
import { aggregateStatusJson } from '../../src/extensions/aggregate.ts';
import { HandlerLayout } from '../../src/extensions/layout.ts';
import { readHandlerState, readHandlerStatus } from '../../src/extensions/state.ts';
import type { ExtensionHandler, ExtensionSettings, ExtensionsGoalState, ManifestVersion } from '../../src/platform/types.ts';
import { emptyExtensionsGoalState } from '../../src/platform/types.ts';

const NAME = 'Test.Publisher.ShellExt';

interface PkgOpts { fail?: string[]; updateMode?: string; continueOnUpdateFailure?: boolean; mc?: boolean; status?: string; decrypt?: boolean }

// One script for every operation: logs "<version> <op> <env>" to $TEST_LOG; enable writes a status file.
function packageZip(version: string, o: PkgOpts = {}): Buffer {
  const hm: Record<string, unknown> = {
    installCommand: 'bin/cmd.sh install', uninstallCommand: 'bin/cmd.sh uninstall', updateCommand: 'bin/cmd.sh update',
    enableCommand: 'bin/cmd.sh enable', disableCommand: 'bin/cmd.sh disable',
  };
  if (o.updateMode) hm['updateMode'] = o.updateMode;
  if (o.continueOnUpdateFailure) hm['continueOnUpdateFailure'] = true;
  if (o.mc) hm['supportsMultipleExtensions'] = true;
  const script = `#!/bin/sh
op=$1
echo "${version} $op seq=$ConfigSequenceNumber ext=\${ConfigExtensionName:-} dis=\${AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE:-} unin=\${AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE:-} ver=\${VERSION:-} from=\${AZURE_GUEST_AGENT_UPDATING_FROM_VERSION:-}" >> "$TEST_LOG"
case " ${(o.fail ?? []).join(' ')} " in *" $op "*) echo "$op failed on purpose" >&2; exit 3;; esac
${o.decrypt ? `if [ "$op" = enable ]; then
  # What a real extension does: find the cert next to the handler dir, decrypt the CMS envelope.
  cfg=$(cat "config/$ConfigSequenceNumber.settings")
  thumb=$(printf '%s' "$cfg" | sed -n 's/.*"protectedSettingsCertThumbprint": "\\([0-9A-F]*\\)".*/\\1/p')
  printf '%s' "$cfg" | sed -n 's/.*"protectedSettings": "\\([^"]*\\)".*/\\1/p' | base64 -d > ps.der
  openssl cms -decrypt -inform DER -in ps.der -recip "../$thumb.crt" -inkey "../$thumb.prv" > decrypted.json || exit 9
  rm -f ps.der
fi
` : ''}if [ "$op" = enable ]; then
  f="status/$ConfigSequenceNumber.status"; [ -n "$ConfigExtensionName" ] && f="status/$ConfigExtensionName.$ConfigSequenceNumber.status"
  printf '[{"version":1.0,"timestampUTC":"2024-01-01T00:00:00Z","status":{"name":"x","operation":"Enable","status":"${o.status ?? 'success'}","code":0,"formattedMessage":{"lang":"en-US","message":"enabled ${version}"}}}]' > "$f.tmp" && mv "$f.tmp" "$f"
fi
exit 0
`;
  return createZip([
    { name: 'HandlerManifest.json', data: JSON.stringify([{ name: 'ShellExt', version: '1.0', handlerManifest: hm }]) },
    { name: 'bin/cmd.sh', data: script, mode: 0o644 },
  ]);
}

function s(name: string, seq: number, over: Partial<ExtensionSettings> = {}): ExtensionSettings {
  return { name, sequenceNumber: seq, state: 'enabled', dependencyLevel: 0, dependsOn: [], publicSettings: { k: seq }, protectedSettings: null, protectedSettingsCertThumbprint: null, ...over };
}
function h(over: Partial<ExtensionHandler> = {}): ExtensionHandler {
  const name = over.name ?? NAME;
  return { name, version: '1.0', state: 'enabled', manifestUris: ['https://manifest/x'], encodedSignature: '', isMultiConfig: false, settings: [s(name, 1)], useExactVersion: true, autoUpgrade: false, ...over };
}
function gs(handlers: ExtensionHandler[], n = 1): ExtensionsGoalState {
  return { ...emptyExtensionsGoalState(String(n)), handlers };
}

function setup() {
  const d = mkdtempSync(join(tmpdir(), 'ext-exec-'));
  const roots = { libDir: join(d, 'lib'), extLogDir: join(d, 'log') };
  mkdirSync(roots.libDir);
  const logFile = join(d, 'commands.log');
  writeFileSync(logFile, '');
  const blobs = new Map<string, Buffer>();
  const manifests = new Map<string, ManifestVersion[]>();
  const downloads: string[] = [];
  const artifacts: ArtifactSource = {
    async fetchManifest(handler) {
      const m = manifests.get(handler.name);
      if (!m) throw new Error(`manifest of ${handler.name} unavailable (503)`);
      return m;
    },
    async downloadPackage(uri, dest, _h, accept) {
      downloads.push(uri);
      const b = blobs.get(uri);
      if (!b) throw new Error(`GET ${uri}: 404`);
      writeFileSync(dest, b);
      return accept();
    },
  };
  const publish = (name: string, version: string, o: PkgOpts = {}, uris?: string[]) => {
    const uri = `https://blob/${name}__${version}.zip`;
    blobs.set(uri, packageZip(version, o));
    const list = manifests.get(name) ?? [];
    list.push({ version, uris: uris ?? [uri], disallowMajorVersionUpgrade: false, isInternal: false });
    manifests.set(name, list);
  };
  const ex = (extra: Partial<ConstructorParameters<typeof ExtensionsExecutor>[0]> = {}) => new ExtensionsExecutor({
    roots, wireServer: '127.0.0.1', artifacts, baseEnv: { PATH: '/usr/bin:/bin', TEST_LOG: logFile }, shuffle: (x) => x,
    statusRead: { retryDelayMs: 0 }, sleep: async () => {}, ...extra,
  });
  const commands = () => readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean);
  const clearLog = () => writeFileSync(logFile, '');
  const layout = (v: string, name = NAME) => new HandlerLayout(roots, name, v);
  return { d, roots, publish, ex, commands, clearLog, layout, downloads, blobs, manifests };
}

test('install + enable, status reported; new seq => enable again; unchanged handler re-enabled on every new goal state', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    const x = t.ex();
    const agg = await x.process(gs([h()]));
    assert.equal(agg.status, 'Success');
    assert.deepEqual(t.commands(), [
      '1.0.0 install seq=1 ext= dis= unin=NOT_RUN ver= from=',
      '1.0.0 enable seq=1 ext= dis= unin=NOT_RUN ver= from=',
    ]);
    const l = t.layout('1.0.0');
    assert.equal(readHandlerState(l), 'Enabled');
    assert.equal(readFileSync(l.settingsPath(1), 'utf8'), '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"k": 1}, "protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}');
    assert.equal(existsSync(l.zipPath), false);
    const reports = await x.report(gs([h()]));
    assert.equal(reports.length, 1);
    assert.equal(reports[0]!.handler.status, 'Ready');
    assert.equal(reports[0]!.handler.message, 'Plugin enabled');
    assert.equal(reports[0]!.extension!.status, 'success');
    assert.equal(reports[0]!.extension!.message, 'enabled 1.0.0');
    const blob = JSON.parse(aggregateStatusJson({ handlers: reports, goalState: agg, guestOS: { computerName: 'vm', osName: 'x', osVersion: '1' }, features: [] }));
    assert.equal(blob.aggregateStatus.handlerAggregateStatus[0].runtimeSettingsStatus.sequenceNumber, 1);
    assert.equal(blob.aggregateStatus.handlerAggregateStatus[0].handlerVersion, '1.0.0');

    t.clearLog();
    await x.process(gs([h({ settings: [s(NAME, 2)] })], 2));
    assert.deepEqual(t.commands(), ['1.0.0 enable seq=2 ext= dis= unin=NOT_RUN ver= from=']);
    t.clearLog();
    await x.process(gs([h({ settings: [s(NAME, 2)] })], 3));
    assert.deepEqual(t.commands(), ['1.0.0 enable seq=2 ext= dis= unin=NOT_RUN ver= from=']);
    assert.deepEqual(t.downloads, [`https://blob/${NAME}__1.0.0.zip`], 'downloaded once');
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('upgrade 1.0 -> 1.1 (UpdateWithInstall) and -> 1.2 (UpdateWithoutInstall): exact order and env; then uninstall', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    const x = t.ex();
    await x.process(gs([h()]));
    t.clearLog();
    t.publish(NAME, '1.1.0');
    await x.process(gs([h({ version: '1.1', settings: [s(NAME, 2)] })], 2));
    assert.deepEqual(t.commands(), [
      '1.0.0 disable seq=2 ext= dis= unin= ver= from=',
      '1.1.0 update seq=2 ext= dis=0 unin= ver=1.1.0 from=1.0.0',
      '1.0.0 uninstall seq=2 ext= dis= unin= ver= from=',
      '1.1.0 install seq=2 ext= dis= unin=0 ver= from=',
      '1.1.0 enable seq=2 ext= dis= unin=0 ver= from=',
    ]);
    assert.equal(existsSync(t.layout('1.0.0').dir), false, 'old version removed');
    assert.equal(readHandlerState(t.layout('1.1.0')), 'Enabled');

    t.clearLog();
    t.publish(NAME, '1.2.0', { updateMode: 'UpdateWithoutInstall' });
    await x.process(gs([h({ version: '1.2', settings: [s(NAME, 3)] })], 3));
    assert.deepEqual(t.commands(), [
      '1.1.0 disable seq=3 ext= dis= unin= ver= from=',
      '1.2.0 update seq=3 ext= dis=0 unin= ver=1.2.0 from=1.1.0',
      '1.1.0 uninstall seq=3 ext= dis= unin= ver= from=',
      '1.2.0 enable seq=3 ext= dis= unin=0 ver= from=',
    ]);
    const r = await x.report(gs([h({ version: '1.2', settings: [s(NAME, 3)] })], 3));
    assert.equal(r[0]!.handler.version, '1.2.0');

    t.clearLog();
    await x.process(gs([h({ version: '1.2', state: 'uninstall', settings: [s(NAME, 3)] })], 4));
    assert.deepEqual(t.commands(), ['1.2.0 disable seq=3 ext= dis= unin= ver= from=', '1.2.0 uninstall seq=3 ext= dis= unin= ver= from=']);
    assert.deepEqual(readdirSync(t.roots.libDir), []);
    assert.deepEqual(await x.report(gs([h({ version: '1.2', state: 'uninstall' })], 4)), []);
    assert.ok(existsSync(join(t.roots.extLogDir, NAME, 'events')), 'the log folder and events survive uninstall');
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('failing old disable without continueOnUpdateFailure => 1008 on the new version, retried on the next goal state', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0', { fail: ['disable'] });
    t.publish(NAME, '1.1.0');
    const x = t.ex();
    await x.process(gs([h({ version: '1.0' })]));
    t.clearLog();
    await x.process(gs([h({ version: '1.1' })], 2));
    assert.deepEqual(t.commands(), ['1.0.0 disable seq=1 ext= dis= unin= ver= from=']);
    const st = readHandlerStatus(t.layout('1.1.0'))!;
    assert.equal(st.status, 'NotReady');
    assert.equal(st.code, 1008);
    assert.match(st.message!, /^\[ExtensionUpdateError\] \[ExtensionOperationError\] Non-zero exit code: 3, .*; ContinueOnUpdate: False$/s);
    assert.equal(readHandlerState(t.layout('1.0.0')), 'Enabled');
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('failing new update => 1008 with the command\'s own error (not wrapped), FailedUpgrade, no enable', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    t.publish(NAME, '1.1.0', { fail: ['update'] });
    const x = t.ex();
    await x.process(gs([h({ version: '1.0' })]));
    t.clearLog();
    await x.process(gs([h({ version: '1.1' })], 2));
    assert.deepEqual(t.commands().map((c) => c.split(' ').slice(0, 2).join(' ')), ['1.0.0 disable', '1.1.0 update']);
    const st = readHandlerStatus(t.layout('1.1.0'))!;
    assert.equal(st.code, 1008);
    assert.match(st.message!, /^\[ExtensionOperationError\] Non-zero exit code: 3, .*bin\/cmd\.sh update\n/s);
    assert.equal(readHandlerState(t.layout('1.1.0')), 'FailedUpgrade');
    assert.equal(readHandlerState(t.layout('1.0.0')), 'Installed');
    assert.deepEqual(readHandlerStatus(t.layout('1.0.0')), { ...readHandlerStatus(t.layout('1.0.0'))!, status: 'NotReady', code: 0, message: 'Plugin disabled' },
      'the old version, disabled by the upgrade, says so');
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('continueOnUpdateFailure: the failing old disable code is handed to update', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0', { fail: ['disable', 'uninstall'] });
    t.publish(NAME, '1.1.0', { continueOnUpdateFailure: true });
    const x = t.ex();
    await x.process(gs([h({ version: '1.0' })]));
    t.clearLog();
    await x.process(gs([h({ version: '1.1' })], 2));
    assert.deepEqual(t.commands().map((c) => c.replace(/ seq=1 ext= /, ' ')), [
      '1.0.0 disable dis= unin= ver= from=',
      '1.1.0 update dis=3 unin= ver=1.1.0 from=1.0.0',
      '1.0.0 uninstall dis= unin= ver= from=',
      '1.1.0 install dis= unin=3 ver= from=',
      '1.1.0 enable dis= unin=3 ver= from=',
    ]);
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('failing install => NotReady 1007 with the output, no extension status reported; retried on the next goal state', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0', { fail: ['install'] });
    const x = t.ex();
    const agg = await x.process(gs([h()]));
    assert.equal(agg.status, 'Success');
    const r = await x.report(gs([h()]));
    assert.equal(r[0]!.handler.status, 'NotReady');
    assert.equal(r[0]!.handler.code, 1007);
    assert.match(r[0]!.handler.message!, /^\[ExtensionOperationError\] Non-zero exit code: 3, \/.*bin\/cmd\.sh install\n\[stdout\]\n\n\n\[stderr\]\ninstall failed on purpose\n$/);
    assert.equal(r[0]!.extension, null);
    t.clearLog();
    await x.process(gs([h()], 2));
    assert.deepEqual(t.commands().map((c) => c.split(' ')[1]), ['install']);
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('dependencies: a failing level-1 extension skips the level-2 one; a non-terminal status times out', async () => {
  const t = setup();
  try {
    t.publish('Dep.A', '1.0.0', { fail: ['enable'] });
    t.publish('Dep.B', '1.0.0');
    const x = t.ex();
    const a = h({ name: 'Dep.A', settings: [s('Dep.A', 1, { dependencyLevel: 1 })] });
    const b = h({ name: 'Dep.B', settings: [s('Dep.B', 1, { dependencyLevel: 2 })] });
    await x.process(gs([b, a]));
    assert.deepEqual(t.commands().map((c) => c.split(' ')[1]), ['install', 'enable'], 'only A ran');
    const rb = readHandlerStatus(t.layout('1.0', 'Dep.B'))!;
    assert.equal(rb.status, 'NotReady');
    assert.equal(rb.code, -1);
    assert.equal(rb.message, 'Skipping processing of extensions since execution of dependent extension Dep.A failed');

    const t2 = setup();
    try {
      t2.publish('Dep.A', '1.0.0', { status: 'transitioning' });
      t2.publish('Dep.B', '1.0.0');
      const x2 = t2.ex({ dependencyWaitMs: 0 });
      await x2.process(gs([b, a]));
      assert.equal(readHandlerStatus(t2.layout('1.0', 'Dep.B'))!.message, 'Dependent Extension Dep.A did not reach a terminal state within the allowed timeout. Last status was transitioning');
      const t3 = setup();
      try {
        t3.publish('Dep.A', '1.0.0');
        t3.publish('Dep.B', '1.0.0');
        await t3.ex().process(gs([b, a]));
        assert.equal(readHandlerState(t3.layout('1.0.0', 'Dep.B')), 'Enabled', 'success unblocks B');
      } finally { rmSync(t3.d, { recursive: true, force: true }); }
    } finally { rmSync(t2.d, { recursive: true, force: true }); }
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('multi-config: per-extension settings/status/env; a removed extension is disabled and disappears', async () => {
  const t = setup();
  try {
    const MC = 'Test.Publisher.RunCmd';
    t.publish(MC, '1.0.0', { mc: true });
    const x = t.ex();
    const mc = (bState: 'enabled' | 'disabled') => h({ name: MC, isMultiConfig: true, settings: [s('first', 1), s('second', 5, { state: bState })] });
    await x.process(gs([mc('enabled')]));
    assert.deepEqual(t.commands(), [
      '1.0.0 install seq=1 ext=first dis= unin=NOT_RUN ver= from=',
      '1.0.0 enable seq=1 ext=first dis= unin=NOT_RUN ver= from=',
      '1.0.0 enable seq=5 ext=second dis= unin=NOT_RUN ver= from=',
    ]);
    const l = t.layout('1.0.0', MC);
    assert.ok(existsSync(l.settingsPath(1, 'first')) && existsSync(l.settingsPath(5, 'second')));
    let r = await x.report(gs([mc('enabled')]));
    assert.deepEqual(r.map((e) => [e.extension!.name, e.extension!.status, e.isMultiConfig]), [['first', 'success', true], ['second', 'success', true]]);
    t.clearLog();
    await x.process(gs([mc('disabled')], 2));
    assert.deepEqual(t.commands(), ['1.0.0 disable seq=5 ext=second dis= unin= ver= from=', '1.0.0 enable seq=1 ext=first dis= unin=NOT_RUN ver= from=']);
    assert.equal(existsSync(l.settingsPath(5, 'second')), false);
    assert.equal(existsSync(l.statusPath(5, 'second')), false);
    r = await x.report(gs([mc('disabled')], 2));
    assert.deepEqual(r.map((e) => e.extension!.name), ['first']);
    const blob = aggregateStatusJson({ handlers: r, guestOS: { computerName: 'vm', osName: 'x', osVersion: '1' }, features: [] });
    assert.match(blob, /"sequenceNumber": 1, "extensionName": "first"/);
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('a multi-config goal state for a handler without supportsMultipleExtensions fails each extension', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    const x = t.ex();
    await x.process(gs([h({ isMultiConfig: true, settings: [s('e1', 0), s('e2', 0)] })]));
    assert.deepEqual(t.commands(), []);
    const st = readHandlerStatus(t.layout('1.0.0'))!;
    assert.equal(st.status, 'NotReady');
    assert.match(st.message!, /^Ran into config errors: \[ExtensionsGoalStateError\] Handler Test\.Publisher\.ShellExt does not support MultiConfig but CRP expects it/);
    const r = await x.report(gs([h({ isMultiConfig: true, settings: [s('e1', 0), s('e2', 0)] })]));
    assert.equal(r.length, 2);
    assert.ok(r.every((e) => e.extension!.status === 'error'));
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('downloads: a failing package URI falls back to the next; all failing => 1001; manifest failure reported', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0', {}, ['https://bad/one.zip', `https://blob/${NAME}__1.0.0.zip`]);
    const x = t.ex();
    await x.process(gs([h()]));
    assert.deepEqual(t.downloads, ['https://bad/one.zip', `https://blob/${NAME}__1.0.0.zip`]);
    assert.equal(readHandlerState(t.layout('1.0.0')), 'Enabled');

    const t2 = setup();
    try {
      t2.publish(NAME, '1.0.0', {}, ['https://bad/one.zip']);
      await t2.ex().process(gs([h()]));
      const st = readHandlerStatus(t2.layout('1.0.0'))!;
      assert.equal(st.code, 1001);
      assert.match(st.message!, /^Failed to download artifacts: \[ExtensionDownloadError\] Failed to download Test\.Publisher\.ShellExt-1\.0\.0 from all URIs\. Last error: GET https:\/\/bad\/one\.zip: 404$/);
      assert.equal(readHandlerState(t2.layout('1.0.0')), 'NotInstalled');
      // Hostile package: refused, nothing outside Lib.Dir.
      t2.blobs.set('https://bad/one.zip', createZip([{ name: 'HandlerManifest.json', data: '[]' }, { name: '../../escaped.txt', data: 'x' }]));
      await t2.ex().process(gs([h()], 2));
      assert.equal(existsSync(join(t2.d, 'escaped.txt')), false);
      assert.match(readHandlerStatus(t2.layout('1.0.0'))!.message!, /refused: "\.\." component/);
      const x3 = t2.ex();
      await x3.process(gs([h({ name: 'No.Manifest' })], 3));
      const nm = readHandlerStatus(t2.layout('1.0', 'No.Manifest'))!;
      assert.equal(nm.code, 1001);
      assert.match(nm.message!, /Failed to get ext handler pkgs: manifest of No\.Manifest unavailable/);
      const v = setup();
      try {
        v.publish(NAME, '1.0.0');
        await v.ex().process(gs([h({ version: '2.0' })]));
        assert.match(readHandlerStatus(v.layout('2.0'))!.message!, /Unable to find version 2\.0 in manifest for extension Test\.Publisher\.ShellExt/);
      } finally { rmSync(v.d, { recursive: true, force: true }); }
    } finally { rmSync(t2.d, { recursive: true, force: true }); }
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('Extensions.Enabled=n: nothing runs, NotReady 1009 with the exact message in handler and extension status', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    const x = t.ex({ extensionsEnabled: false });
    await x.process(gs([h()]));
    assert.deepEqual(t.commands(), []);
    const r = await x.report(gs([h()]));
    const msg = `Extension '${NAME}' will not be processed since extension processing is disabled. To enable extension processing, set Extensions.Enabled=y in '/etc/waagent.conf'`;
    assert.equal(r[0]!.handler.code, 1009);
    assert.equal(r[0]!.handler.message, msg);
    assert.equal(r[0]!.extension!.status, 'error');
    assert.equal(r[0]!.extension!.message, msg);
    assert.equal(r[0]!.extension!.operation, null, 'no command ran: no operation');
    // Not a failure for dependency sequencing: a dependant gets the same message, not a "Skipping..." one.
    const dep = gs([h(), h({ name: 'Other.Ext', settings: [s('Other.Ext', 0, { dependencyLevel: 1 })] })], 2);
    await x.process(dep);
    const r2 = await x.report(dep);
    assert.equal(r2[1]!.handler.message, msg.replace(NAME, 'Other.Ext'));
    assert.equal(r2[1]!.handler.code, 1009);
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('cleanup removes handlers dropped from the goal state (no commands); unsupported required features fail the goal state', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    t.publish('Other.Ext', '1.0.0');
    const x = t.ex();
    await x.process(gs([h(), h({ name: 'Other.Ext' })]));
    writeFileSync(join(t.roots.libDir, 'Orphan.Ext__2.0.zip'), 'stale');
    t.clearLog();
    await x.process(gs([h()], 2));
    assert.deepEqual(t.commands().map((c) => c.split(' ')[1]), ['enable']);
    assert.deepEqual(readdirSync(t.roots.libDir).sort(), [`${NAME}-1.0.0`]);

    t.clearLog();
    const bad = { ...gs([h({ name: 'Other.Ext' })], 3), requiredFeatures: [{ name: 'VersioningGovernance' }] };
    const agg = await x.process(bad);
    assert.deepEqual([agg.status, agg.code], ['Failed', 2001]);
    assert.equal(agg.message, 'Failing GS incarnation_3 as Unsupported features found: VersioningGovernance');
    assert.deepEqual(t.commands(), []);
    assert.ok(existsSync(t.layout('1.0.0').dir), 'no cleanup after an unsupported goal state');
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('protected settings: written encrypted, decrypted by the extension with openssl and the cert in Lib.Dir (real openssl)', async () => {
  const t = setup();
  try {
    const crt = join(t.d, 'c.crt');
    const prv = join(t.d, 'c.prv');
    execFileSync('openssl', ['req', '-x509', '-nodes', '-subj', '/CN=tenant', '-days', '2', '-newkey', 'rsa:2048', '-keyout', prv, '-out', crt], { stdio: 'ignore' });
    const thumb = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-fingerprint', '-sha1'], { encoding: 'utf8' }).split('=')[1]!.trim().replace(/:/g, '');
    writeFileSync(join(t.roots.libDir, `${thumb}.crt`), readFileSync(crt), { mode: 0o400 });
    writeFileSync(join(t.roots.libDir, `${thumb}.prv`), readFileSync(prv), { mode: 0o400 });
    const secret = '{"commandToExecute":"echo top-secret-42"}';
    const b64 = execFileSync('openssl', ['cms', '-encrypt', '-outform', 'DER', '-aes256', crt], { input: secret }).toString('base64');
    t.publish(NAME, '1.0.0', { decrypt: true });
    const x = t.ex();
    await x.process(gs([h({ settings: [s(NAME, 7, { protectedSettings: b64, protectedSettingsCertThumbprint: thumb })] })]));
    const l = t.layout('1.0.0');
    assert.equal(readHandlerState(l), 'Enabled', readHandlerStatus(l)?.message ?? '');
    assert.equal(readFileSync(join(l.dir, 'decrypted.json'), 'utf8'), secret);
    assert.ok(!readFileSync(l.settingsPath(7), 'utf8').includes('top-secret-42'));
    assert.ok(!readFileSync(l.commandLogPath(), 'utf8').includes('top-secret-42'));
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('downgrade 1.1 -> 1.0: the old (1.1) handler runs update with VERSION and FROM both the target', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    t.publish(NAME, '1.1.0');
    const x = t.ex();
    await x.process(gs([h({ version: '1.1' })]));
    t.clearLog();
    await x.process(gs([h({ version: '1.0' })], 2));
    assert.deepEqual(t.commands().map((c) => c.replace(/ seq=1 ext= /, ' ')), [
      '1.1.0 disable dis= unin= ver= from=',
      '1.1.0 update dis=0 unin= ver=1.0.0 from=1.0.0',
      '1.1.0 uninstall dis= unin= ver= from=',
      '1.0.0 install dis= unin=0 ver= from=',
      '1.0.0 enable dis= unin=0 ver= from=',
    ]);
    assert.deepEqual(readdirSync(t.roots.libDir), [`${NAME}-1.0.0`]);
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('resource limits: commands go through systemd-run with the handler slice; CGroups.Excluded handlers run plainly', async () => {
  const t = setup();
  try {
    const marker = join(t.d, 'systemd');
    mkdirSync(marker);
    const fake = join(t.d, 'systemd-run');
    writeFileSync(fake, `#!/bin/sh\nprintf '%s ' "$@" >> ${t.d}/sdrun.log; echo >> ${t.d}/sdrun.log\necho "Running scope as unit: x.scope" >&2\nwhile [ "\${1#--}" != "$1" ]; do shift; done\nexec "$@"\n`, { mode: 0o755 });
    t.publish(NAME, '1.0.0');
    t.publish('Excluded.Ext', '1.0.0');
    const x = t.ex({ limits: { enforce: true, excluded: ['excluded.ext'], systemdMarker: marker, systemdRun: fake } });
    await x.process(gs([h(), h({ name: 'Excluded.Ext' })]));
    assert.equal(t.commands().length, 4, 'all four commands ran');
    const calls = readFileSync(join(t.d, 'sdrun.log'), 'utf8').trim().split('\n');
    assert.equal(calls.length, 2, 'only the non-excluded handler used systemd-run');
    assert.ok(calls.every((c) => c.includes(`--slice=azure-vmextensions-${NAME}.slice`)));
    assert.match(calls[0]!, /--unit=install_/);
    assert.match(calls[1]!, /--unit=enable_/);
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('download failed on every URI: reported, then only the download is retried with backoff (1 min doubling), and install/enable follow as if it had worked; the item it held back too', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    t.publish('Dep.B', '1.0.0');
    const uri = `https://blob/${NAME}__1.0.0.zip`;
    const saved = t.blobs.get(uri)!;
    t.blobs.delete(uri);
    let now = 1_000_000;
    const x = t.ex({ now: () => now, downloadRetry: { random: () => 0.5 } });
    const a = h({ settings: [s(NAME, 1, { dependencyLevel: 1 })] });
    const b = h({ name: 'Dep.B', settings: [s('Dep.B', 1, { dependencyLevel: 2 })] });
    const g = gs([a, b]);
    await x.process(g);
    assert.deepEqual(t.commands(), []);
    const hs = readHandlerStatus(t.layout('1.0.0'))!;
    assert.equal(hs.status, 'NotReady');
    assert.match(hs.message ?? "", /Failed to download .* from all URIs/);
    assert.equal(await x.retryDownloads(g), false, 'not before the backoff');
    now += 59_000;
    assert.equal(await x.retryDownloads(g), false);
    now += 2_000;
    assert.equal(await x.retryDownloads(g), true, 'after 1 minute');
    assert.equal(t.downloads.filter((u) => u === uri).length, 2);
    now += 119_000;
    assert.equal(await x.retryDownloads(g), false, 'the second wait is 2 minutes');
    t.blobs.set(uri, saved);
    now += 2_000;
    assert.equal(await x.retryDownloads(g), true);
    assert.deepEqual(t.commands().map((c) => c.split(' ').slice(0, 3).join(' ')), [
      '1.0.0 install seq=1', '1.0.0 enable seq=1', '1.0.0 install seq=1', '1.0.0 enable seq=1',
    ]);
    assert.equal(readHandlerState(t.layout('1.0.0')), 'Enabled');
    assert.equal(readHandlerState(t.layout('1.0.0', 'Dep.B')), 'Enabled', 'the dependent handler ran after it');
    assert.equal(readHandlerStatus(t.layout('1.0.0'))!.status, 'Ready');
    now += 60 * 60_000;
    assert.equal(await x.retryDownloads(g), false, 'nothing pending any more');

    // A new goal state drops pending retries of the old one; a failure of a command is never retried.
    t.clearLog();
    t.blobs.delete(`https://blob/Dep.B__1.0.0.zip`);
    const other = h({ name: 'Other.Ext' });
    const g2 = gs([other], 2);
    await x.process(g2);
    now += 60 * 60_000;
    assert.equal(await x.retryDownloads(g2), true, 'Other.Ext has no manifest: its fetch is retried');
    await x.process(gs([h()], 3));
    now += 60 * 60_000;
    assert.equal(await x.retryDownloads(g2), false, 'another goal state was processed since');
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});

test('reports: the files only the agent writes are not stat-ed per poll, and whatever the executor writes is reported at once', async () => {
  const t = setup();
  try {
    t.publish(NAME, '1.0.0');
    // A clock 10 s ahead: the files just written count as settled, so the report cycle keeps what it read.
    const x = t.ex({ now: () => Date.now() + 10_000 });
    await x.process(gs([h()]));
    const first = await x.report(gs([h()]));
    assert.equal(first[0]!.handler.status, 'Ready');
    // Someone else rewrites HandlerStatus: not seen at once (no stat per poll for it), as documented.
    const l = t.layout('1.0.0');
    const outside = readFileSync(l.handlerStatusPath, 'utf8');
    writeFileSync(l.handlerStatusPath, outside.replace('Plugin enabled', 'changed by someone else'));
    assert.equal((await x.report(gs([h()])))[0]!.handler.message, 'Plugin enabled');
    writeFileSync(l.handlerStatusPath, outside);
    // The executor disables the handler: its own writes are reported on the next cycle.
    await x.process(gs([h({ state: 'disabled' })], 2));
    const after = await x.report(gs([h({ state: 'disabled' })], 2));
    assert.equal(readHandlerStatus(l)!.message, 'Plugin disabled');
    assert.equal(after[0]!.handler.message, 'Plugin disabled');
  } finally { rmSync(t.d, { recursive: true, force: true }); }
});
