// The pure planner (docs/extensions.md §3.3–3.4, §3.9, §6.1–6.2) on hand-written goal-state fixtures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ExtensionHandler, ExtensionSettings, ManifestVersion } from '../../src/platform/types.ts';
import {
  decideVersion, dependencyMessages, disablesFor, enableSetup, extensionsDisabledStatus, failureStatus, invalidHandlerError, isDependedUpon,
  itemCommand, itemFullName, maxKey, orderItems, uninstallSteps, unsupportedFeatures, updateEnv, upgradeSteps,
} from '../../src/extensions/plan.ts';
import { ExtensionDownloadError, ExtensionError, ExtensionOperationError, ExtensionsGoalStateError, ExtensionUpdateError } from '../../src/extensions/errors.ts';

function s(name: string, over: Partial<ExtensionSettings> = {}): ExtensionSettings {
  return { name, sequenceNumber: 0, state: 'enabled', dependencyLevel: 0, dependsOn: [], publicSettings: null, protectedSettings: null, protectedSettingsCertThumbprint: null, ...over };
}
function h(name: string, over: Partial<ExtensionHandler> = {}): ExtensionHandler {
  return { name, version: '1.0', state: 'enabled', manifestUris: [], encodedSignature: '', isMultiConfig: false, settings: [s(name)], useExactVersion: true, autoUpgrade: false, ...over };
}
const pv = (version: string, isInternal = false): ManifestVersion => ({ version, uris: [`https://x/${version}.zip`], disallowMajorVersionUpgrade: false, isInternal });
const enabledAll = () => 'enabled' as const;

test('ordering: disable/uninstall first in reverse level order, then enables ascending; ties keep goal-state order', () => {
  const items = orderItems([
    h('A', { settings: [s('A', { dependencyLevel: 2 })] }),
    h('B', { settings: [s('B', { dependencyLevel: 1 })] }),
    h('C', { state: 'uninstall', settings: [s('C', { dependencyLevel: 1 })] }),
    h('D', { settings: [] }),
    h('E', { settings: [s('E', { dependencyLevel: 1 })] }),
    h('F', { state: 'uninstall', settings: [s('F', { dependencyLevel: 3 })] }),
    h('M', { isMultiConfig: true, settings: [s('m1', { dependencyLevel: 1 }), s('m2', { state: 'disabled', dependencyLevel: 0 })] }),
  ]);
  assert.deepEqual(items.map((i) => `${itemFullName(i)}:${i.key}`), ['F:-4', 'C:-2', 'M.m2:-1', 'D:0', 'B:1', 'E:1', 'M.m1:1', 'A:2']);
  const max = maxKey(items);
  assert.equal(max, 2);
  assert.deepEqual(items.filter((i) => isDependedUpon(i, max)).map(itemFullName), ['D', 'B', 'E', 'M.m1']);
  assert.equal(maxKey([]), 0);
  const flat = orderItems([h('X'), h('Y'), h('Z')]);
  assert.equal(flat.filter((i) => isDependedUpon(i, maxKey(flat))).length, 0, 'all level 0: nothing waits');
  assert.equal(dependencyMessages.failed('B'), 'Skipping processing of extensions since execution of dependent extension B failed');
  assert.equal(dependencyMessages.timedOut('B', 'warning'), 'Dependent Extension B did not reach a terminal state within the allowed timeout. Last status was warning');
});

test('version decision: highest prefix match including internal; unregistered versions for uninstall', () => {
  const versions = [pv('1.0.0'), pv('2.0.0'), pv('2.0.1', true), pv('2.1.0'), pv('4.0.0.1'), pv('4.1.0.0')];
  const d1 = decideVersion(h('A', { version: '2.0' }), versions, undefined);
  assert.ok(d1.ok && d1.version === '2.0.1' && d1.pkg?.isInternal === true);
  const d2 = decideVersion(h('A', { version: '4.1' }), versions, '4.0.0.1');
  assert.ok(d2.ok && d2.version === '4.1.0.0');
  const d3 = decideVersion(h('A', { version: '5.0' }), versions, undefined);
  assert.ok(!d3.ok && d3.error.message === 'Unable to find version 5.0 in manifest for extension A' && d3.error.code === -1);
  const u = decideVersion(h('A', { version: '2.0', state: 'uninstall' }), versions, '0.9.0');
  assert.ok(u.ok && u.version === '0.9.0' && u.pkg === undefined);
  const u2 = decideVersion(h('A', { version: '2.0.0', state: 'disabled' }), versions, undefined);
  assert.ok(u2.ok && u2.version === '2.0.0' && u2.pkg?.version === '2.0.0');
});

test('enable setup: fresh install, upgrade, downgrade, retry after FailedUpgrade, nothing when installed', () => {
  assert.deepEqual(enableSetup('NotInstalled', undefined, '1.0.0'), { download: true, kind: 'install' });
  assert.deepEqual(enableSetup('NotInstalled', '1.0.0', '1.1.0'), { download: true, kind: 'upgrade' });
  assert.deepEqual(enableSetup('FailedUpgrade', '1.0.0', '1.1.0'), { download: true, kind: 'upgrade' });
  assert.deepEqual(enableSetup('NotInstalled', '1.1.0', '1.0.0'), { download: true, kind: 'downgrade' });
  assert.deepEqual(enableSetup('Enabled', '1.1.0', '1.1.0'), { download: false, kind: 'none' });
  assert.deepEqual(enableSetup('Installed', '1.1.0', '1.1.0'), { download: false, kind: 'none' });
});

test('upgrade sequence: old disable -> copy -> new update -> old uninstall -> remove -> new install -> Installed', () => {
  const handler = h('A', { version: '1.1', settings: [s('A', { sequenceNumber: 2 })] });
  const steps = upgradeSteps({ kind: 'upgrade', oldVersion: '1.0.0', newVersion: '1.1.0', oldState: 'Enabled', handler, oldExtState: enabledAll, updateWithInstall: true });
  assert.deepEqual(steps.map((x) => x.kind), ['disableOld', 'copyStatus', 'update', 'uninstallOld', 'removeOld', 'install', 'setInstalled']);
  assert.deepEqual(steps[0], { kind: 'disableOld', commands: [{ who: 'old', op: 'disable', settings: handler.settings[0] }] });
  assert.deepEqual(steps[2], { kind: 'update', who: 'new', version: '1.1.0', fromVersion: '1.0.0' });
  // Old version never enabled: no disable. UpdateWithoutInstall: no install.
  const s2 = upgradeSteps({ kind: 'upgrade', oldVersion: '1.0.0', newVersion: '1.1.0', oldState: 'Installed', handler, oldExtState: enabledAll, updateWithInstall: false });
  assert.deepEqual(s2.map((x) => x.kind), ['copyStatus', 'update', 'uninstallOld', 'removeOld', 'setInstalled']);
  // Downgrade: the old (higher) handler's update runs, both versions name the target.
  const s3 = upgradeSteps({ kind: 'downgrade', oldVersion: '1.1.0', newVersion: '1.0.0', oldState: 'Enabled', handler, oldExtState: enabledAll, updateWithInstall: true });
  assert.deepEqual(s3[2], { kind: 'update', who: 'old', version: '1.0.0', fromVersion: '1.0.0' });
});

test('update environment: SC code or NOT_RUN; MC list for every settings item', () => {
  const sc = h('A');
  assert.deepEqual(updateEnv(sc, '1.1.0', '1.0.0', new Map([['A', '0']])), {
    VERSION: '1.1.0', AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: '1.0.0', AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE: '0' });
  assert.equal(updateEnv(sc, '1.1.0', '1.0.0', new Map())['AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE'], 'NOT_RUN');
  const mc = h('M', { isMultiConfig: true, settings: [s('a'), s('b'), s('c')] });
  assert.equal(updateEnv(mc, '2', '1', new Map([['a', '0'], ['c', '1011']]))['AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS'],
    '[{"extensionName": "a", "exitCode": "0"}, {"extensionName": "b", "exitCode": "NOT_RUN"}, {"extensionName": "c", "exitCode": "1011"}]');
});

test('disables and uninstall: by state, SC with/without settings, MC only locally enabled extensions', () => {
  assert.deepEqual(disablesFor('old', 'Installed', h('A'), enabledAll), []);
  assert.deepEqual(disablesFor('old', 'Enabled', h('A', { settings: [] }), enabledAll), [{ who: 'old', op: 'disable', settings: null }]);
  const mc = h('M', { isMultiConfig: true, settings: [s('a'), s('b', { state: 'disabled' })] });
  const st = (e: string) => (e === 'a' ? 'enabled' as const : 'disabled' as const);
  assert.deepEqual(disablesFor('new', 'Enabled', mc, st).map((c) => c.ext), ['a']);
  assert.deepEqual(uninstallSteps('NotInstalled', h('A'), enabledAll), { disables: [], uninstall: false });
  const u = uninstallSteps('Enabled', h('A', { state: 'uninstall' }), enabledAll);
  assert.equal(u.uninstall, true);
  assert.equal(u.disables.length, 1);
  assert.deepEqual(uninstallSteps('Installed', h('A', { state: 'uninstall' }), enabledAll).disables, []);
});

test('item command: enable, MC disabled => disable and remove unless already disabled', () => {
  const mc = h('M', { isMultiConfig: true, settings: [s('a'), s('b', { state: 'disabled' })] });
  const [a, b] = orderItems([mc]).sort((x, y) => (x.settings!.name < y.settings!.name ? -1 : 1));
  assert.deepEqual(itemCommand(a!, enabledAll), { action: 'enable', ext: 'a' });
  assert.deepEqual(itemCommand(b!, enabledAll), { action: 'disableAndRemove', ext: 'b' });
  assert.deepEqual(itemCommand(b!, () => 'disabled'), { action: 'none', ext: 'b' });
  assert.deepEqual(itemCommand(orderItems([h('N', { settings: [] })])[0]!, enabledAll), { action: 'enable' });
  assert.deepEqual(itemCommand(orderItems([h('S')])[0]!, enabledAll), { action: 'enable', ext: undefined });
});

test('failure mapping (3.9), invalid handlers, Extensions.Enabled=n, required features', () => {
  assert.deepEqual(failureStatus(new ExtensionsGoalStateError('bad config')), {
    message: 'Ran into config errors: [ExtensionsGoalStateError] bad config. \nPlease retry again as another operation with updated settings', code: -1, operation: 'InvalidExtensionConfig' });
  assert.deepEqual(failureStatus(new ExtensionUpdateError('upd')), { message: '[ExtensionUpdateError] upd', code: 1008, operation: 'Update' });
  assert.deepEqual(failureStatus(new ExtensionDownloadError('Failed to download A-1.0 from all URIs')),
    { message: 'Failed to download artifacts: [ExtensionDownloadError] Failed to download A-1.0 from all URIs', code: 1001, operation: 'Download' });
  assert.equal(failureStatus(new ExtensionOperationError('Non-zero exit code: 3, x', 1007, 3)).message, '[ExtensionOperationError] Non-zero exit code: 3, x');
  assert.equal(failureStatus(new ExtensionError('e', 1011)).code, 1011);
  assert.deepEqual(failureStatus(new Error('boom')), { message: 'boom', code: -1, operation: 'Enable' });
  assert.equal(invalidHandlerError(h('A')), null);
  assert.match(invalidHandlerError(h('A', { invalidReason: 'PluginSettings Version Mismatch' }))!.message, /Version Mismatch/);
  const item = orderItems([h('M', { isMultiConfig: true, settings: [s('x')] })])[0]!;
  assert.deepEqual(extensionsDisabledStatus(item), {
    message: "Extension 'M.x' will not be processed since extension processing is disabled. To enable extension processing, set Extensions.Enabled=y in '/etc/waagent.conf'", code: 1009 });
  assert.equal(extensionsDisabledStatus(orderItems([h('U', { state: 'uninstall' })])[0]!).code, 1010);
  assert.deepEqual(unsupportedFeatures([{ name: 'MultipleExtensionsPerHandler' }, { name: 'VersioningGovernance' }], ['MultipleExtensionsPerHandler']), ['VersioningGovernance']);
});
