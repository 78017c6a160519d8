import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGoalState, parseHostingEnvironment, parseVersions, NoRoleInstanceError, checkSharedConfig } from '../../src/platform/goalstate.ts';
import { parseExtensionsConfig, redactExtensionsConfig, parseArtifactsProfile } from '../../src/platform/extconfig.ts';
import { parseVmSettings, redactVmSettings, versionAtLeast, VmSettingsParseError } from '../../src/platform/vmsettings.ts';
import { parseManifest } from '../../src/platform/manifest.ts';
import { compareTicks, ticksToIso, normTicks } from '../../src/platform/ticks.ts';
import { selectExtensionsGoalState } from '../../src/platform/selection.ts';
import { healthXml, healthJson, rolePropertiesXml, MAX_HEALTH_DESCRIPTION } from '../../src/platform/reports.ts';
import { DocumentError } from '../../src/platform/errors.ts';
import { parseXml, textAt, path } from '../../src/util/xml.ts';
import type { ExtensionsGoalState } from '../../src/platform/types.ts';
import { emptyExtensionsGoalState } from '../../src/platform/types.ts';

const fx = (n: string) => readFileSync(join(import.meta.dirname, 'fixtures', 'platform', n), 'utf8');

test('versions: 2012-11-30 preferred or supported', () => {
  assert.equal(parseVersions('<Versions><Preferred><Version>2012-11-30</Version></Preferred><Supported><Version>2010-12-15</Version></Supported></Versions>').ok, true);
  const v = parseVersions('<Versions><Preferred><Version>2015-04-05</Version></Preferred><Supported><Version>2015-04-05</Version><Version>2012-11-30</Version></Supported></Versions>');
  assert.equal(v.ok, true);
  assert.deepEqual(v.supported, ['2015-04-05', '2012-11-30']);
  assert.equal(parseVersions('<Versions><Preferred><Version>2015-04-05</Version></Preferred><Supported><Version>2011-12-31</Version></Supported></Versions>').ok, false);
  assert.throws(() => parseVersions('<Other/>'), /Versions: root element is <Other>/);
});

test('goal state: ids, config name, deployment id, trimmed and decoded URLs', () => {
  const gs = parseGoalState(fx('goalstate.xml'));
  assert.equal(gs.incarnation, '7');
  assert.equal(gs.containerId, 'c0ffee00-1111-2222-3333-444455556666');
  assert.equal(gs.instanceId, 'b7e1a9c2.vm-under-test');
  assert.equal(gs.configName, 'b7e1a9c2.0.b7e1a9c2.0.vm-under-test.1.xml');
  assert.equal(gs.deploymentId, 'b7e1a9c2');
  assert.equal(gs.expectedState, 'Started');
  assert.equal(gs.roleInstanceState, 'Started');
  assert.equal(gs.urls.extensionsConfig, 'http://wire.test/machine/c0ffee/b7e1a9c2.vm?comp=config&type=extensionsConfig&incarnation=7');
  assert.equal(gs.urls.certificates, 'http://wire.test/machine/c0ffee/b7e1a9c2.vm?comp=certificates&incarnation=7');
  assert.equal(gs.urls.remoteAccessInfo, 'http://wire.test/machine/c0ffee?comp=remoteaccess&incarnation=7');
  assert.ok(gs.urls.fullConfig);
});

test('goal state: bad input gives typed errors naming the document and element', () => {
  const base = fx('goalstate.xml');
  assert.throws(() => parseGoalState(base.replace(/<RoleInstanceList>[\s\S]*<\/RoleInstanceList>/, '<RoleInstanceList/>')), NoRoleInstanceError);
  assert.throws(() => parseGoalState(base.replace('<Incarnation>7</Incarnation>', '')), (e: unknown) => e instanceof DocumentError && e.doc === 'GoalState' && e.element === 'Incarnation');
  assert.throws(() => parseGoalState(base.replace(/<ContainerId>.*<\/ContainerId>/, '<ContainerId> </ContainerId>')), /GoalState: missing required element \(element ContainerId\)/);
  assert.throws(() => parseGoalState(base.slice(0, 400)), (e: unknown) => e instanceof DocumentError && /GoalState: malformed XML/.test(e.message));
  assert.throws(() => parseGoalState('<GoalState><Incarnation>1</Incarnation><Container><ContainerId>x</ContainerId><RoleInstance><InstanceId>i</InstanceId></RoleInstance><ExtensionsConfig>file:///etc/shadow</ExtensionsConfig></Container></GoalState>'), /not an http\(s\) URL \(element extensionsConfig\)/);
  assert.throws(() => parseGoalState('x'.repeat(2 << 20)), /over the limit/);
  assert.throws(() => parseGoalState('<!DOCTYPE x [<!ENTITY a "b">]><GoalState/>'), /DOCTYPE/);
});

test('HostingEnvironmentConfig and SharedConfig', () => {
  const h = parseHostingEnvironment('<HostingEnvironmentConfig version="1.0.0.0" goalStateIncarnation="1"><Deployment name="dep-1" guid="{g}"><Service name="svc"/></Deployment><Incarnation number="1" instance="vm-under-test" guid="{i}"/><Role guid="{r}" name="role-a" hostingEnvironmentVersion="1"/></HostingEnvironmentConfig>');
  assert.deepEqual(h, { vmName: 'vm-under-test', roleName: 'role-a', deploymentName: 'dep-1' });
  assert.throws(() => parseHostingEnvironment('<HostingEnvironmentConfig><Deployment name="d"/><Role name="r"/></HostingEnvironmentConfig>'), /HostingEnvironmentConfig: missing attribute instance \(element Incarnation\)/);
  checkSharedConfig('<SharedConfig version="1.0.0.0"><Deployment/></SharedConfig>');
  assert.throws(() => checkSharedConfig('<Nope/>'), /SharedConfig/);
});

test('ExtensionsConfig: handlers, settings, multi-config, dependsOn, blob, metadata', () => {
  const e = parseExtensionsConfig(fx('extconfig.xml'), '7');
  assert.equal(e.id, 'incarnation_7');
  assert.equal(e.inSvdSeqNo, '7', 'reported inSvdSeqNo is the incarnation, not the attribute');
  assert.equal(e.createdOnTicks, '638000000000000000');
  assert.equal(e.createdOn, ticksToIso('638000000000000000'));
  assert.equal(e.activityId, 'aaaaaaaa-0000-0000-0000-000000000001');
  assert.deepEqual(e.statusUploadBlob, { url: 'https://acct.blob.test/$system/vm.status?sv=2020&sr=b&sig=SECRETSIG', type: 'PageBlob' });
  assert.deepEqual(e.requiredFeatures, [{ name: 'MultipleExtensionsPerHandler', value: '1.0' }]);
  assert.deepEqual(e.gaFamilies, [{ name: 'Prod', version: '9.1.2.3', isVersionFromRSM: true, isVMEnabledForRSMUpgrades: false, uris: ['https://store.test/ga/Prod_manifest.xml', 'https://store2.test/ga/Prod_manifest.xml'] }]);
  assert.equal(e.artifactsProfileUrl, 'https://acct.blob.test/$system/vm.vmSettings?sv=2020&sig=PROFILESIG');
  const by = new Map(e.handlers.map((h) => [h.name, h]));
  const s = by.get('Test.Publisher.Script')!;
  assert.equal(s.invalidReason, undefined);
  assert.deepEqual(s.manifestUris, ['https://store.test/script/manifest.xml', 'https://store2.test/script/manifest.xml', 'https://store3.test/script/manifest.xml']);
  assert.equal(s.encodedSignature, 'MIIsig');
  assert.equal(s.useExactVersion, true);
  assert.deepEqual(s.settings, [{
    name: 'Test.Publisher.Script', sequenceNumber: 4, state: 'enabled', dependencyLevel: 2,
    dependsOn: [{ handler: 'Test.Publisher.Multi', extension: 'first' }],
    publicSettings: { commandToExecute: 'echo hi', n: 1 }, protectedSettings: 'MIIBprotected==',
    protectedSettingsCertThumbprint: 'AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34',
  }]);
  const m = by.get('Test.Publisher.Multi')!;
  assert.equal(m.isMultiConfig, true);
  assert.deepEqual(m.settings.map((x) => [x.name, x.sequenceNumber, x.state, x.dependencyLevel]), [['first', 2, 'enabled', 1], ['second', 5, 'disabled', 0], ['third', 0, 'enabled', 0]]);
  assert.deepEqual(m.settings[0]!.publicSettings, { a: 1 });
  assert.deepEqual(by.get('Test.Publisher.NoSettings')!.settings, []);
  assert.equal(by.get('Test.Publisher.NoSettings')!.state, 'uninstall');
  assert.match(by.get('Test.Publisher.Mismatch')!.invalidReason!, /PluginSettings Version Mismatch/);
  assert.match(by.get('Test.Publisher.Both')!.invalidReason!, /both RuntimeSettings and ExtensionRuntimeSettings/);
  assert.match(by.get('Test.Publisher.NoState')!.invalidReason!, /empty state/);
  const bj = by.get('Test.Publisher.BadJson')!;
  assert.equal(bj.state, 'disabled');
  assert.equal(bj.settings[0]!.sequenceNumber, 9);
  assert.equal(bj.settings[0]!.protectedSettings, null);
  assert.match(bj.settings[0]!.settingsError!, /not valid JSON/);
  assert.doesNotMatch(bj.settings[0]!.settingsError!, /MIIleak/);
});

test('ExtensionsConfig: empty document defaults; duplicate settings; missing seqNo; redaction; malformed', () => {
  const e = parseExtensionsConfig('<Extensions><Plugins/></Extensions>', '1');
  assert.equal(e.statusUploadBlob, null);
  assert.equal(e.createdOnTicks, '0');
  assert.equal(e.activityId, '00000000-0000-0000-0000-000000000000');
  const dup = parseExtensionsConfig('<Extensions><StatusUploadBlob statusBlobType="weird">https://x/y</StatusUploadBlob><Plugins><Plugin name="A" version="1" state="enabled"/></Plugins><PluginSettings><Plugin name="A" version="1"><RuntimeSettings seqNo="1">{}</RuntimeSettings></Plugin><Plugin name="a" version="1"><RuntimeSettings seqNo="2">{}</RuntimeSettings></Plugin></PluginSettings></Extensions>', '1');
  assert.equal(dup.statusUploadBlob?.type, 'BlockBlob');
  assert.match(dup.handlers[0]!.invalidReason!, /more than one PluginSettings/);
  const noseq = parseExtensionsConfig('<Extensions><Plugins><Plugin name="A" version="1" state="enabled"/></Plugins><PluginSettings><Plugin name="A" version="1"><RuntimeSettings>{}</RuntimeSettings></Plugin></PluginSettings></Extensions>', '1');
  assert.match(noseq.handlers[0]!.invalidReason!, /seqNo/);
  const twoDeps = parseExtensionsConfig('<Extensions><Plugins><Plugin name="A" version="1" state="enabled"/></Plugins><PluginSettings><Plugin name="A" version="1"><DependsOn dependencyLevel="1"/><DependsOn dependencyLevel="2"/><RuntimeSettings seqNo="0">{}</RuntimeSettings></Plugin></PluginSettings></Extensions>', '1');
  assert.match(twoDeps.handlers[0]!.invalidReason!, /more than one DependsOn/);
  assert.throws(() => parseExtensionsConfig('<Extensions><Plugins><Plugin version="1"/></Plugins></Extensions>', '1'), /ExtensionsConfig: Plugin #1 has no name/);
  assert.throws(() => parseExtensionsConfig('<Extensions><Plugins>', '1'), /ExtensionsConfig: malformed XML/);
  const red = redactExtensionsConfig(fx('extconfig.xml'));
  assert.doesNotMatch(red, /SECRETSIG|PROFILESIG|MIIBprotected/);
  assert.match(red, /vm\.status\?\*\*\*REDACTED\*\*\*/);
});

test('artifacts profile: bool or string true, anything else not on hold', () => {
  assert.equal(parseArtifactsProfile('{"onHold": true}').onHold, true);
  assert.equal(parseArtifactsProfile('{"onHold": "True"}').onHold, true);
  assert.equal(parseArtifactsProfile('{"onHold": "maybe"}').onHold, false);
  assert.equal(parseArtifactsProfile('not json').onHold, false);
});

test('vmSettings: case-insensitive keys, JSON-string publicSettings, multi-config, dependsOn', () => {
  const { goalState: v, declaredSource } = parseVmSettings(fx('vmsettings.json'), '"e1"');
  assert.equal(declaredSource, 'FastTrack');
  assert.equal(v.id, 'etag_"e1"');
  assert.equal(v.source, 'FastTrack');
  assert.equal(v.channel, 'HostGAPlugin');
  assert.equal(v.inSvdSeqNo, '12');
  assert.equal(v.activityId, 'cccccccc-0000-0000-0000-000000000003');
  assert.equal(v.hostGAPluginVersion, '1.0.8.140');
  assert.deepEqual(v.statusUploadBlob, { url: 'https://acct.blob.test/$system/vm.status?sv=2020&sig=VMSIG', type: 'BlockBlob' });
  assert.deepEqual(v.gaFamilies[0]!.uris, ['https://store.test/ga/Prod_manifest.xml']);
  const [s, m, g] = v.handlers;
  assert.deepEqual(s!.manifestUris, ['https://store.test/script/manifest.xml', 'https://store2.test/script/manifest.xml', 'https://store3.test/script/manifest.xml']);
  assert.deepEqual(s!.settings[0], {
    name: 'Test.Publisher.Script', sequenceNumber: 6, state: 'enabled', dependencyLevel: 1, dependsOn: [{ handler: 'Test.Publisher.Multi' }],
    publicSettings: { commandToExecute: 'echo fast' }, protectedSettings: 'MIIBfast==', protectedSettingsCertThumbprint: 'AB12CD34AB12CD34AB12CD34AB12CD34AB12CD34',
  });
  assert.equal(m!.isMultiConfig, true);
  assert.deepEqual(m!.settings.map((x) => [x.name, x.sequenceNumber, x.state, x.dependencyLevel]), [['first', 3, 'enabled', 0], ['second', 1, 'disabled', 3]]);
  assert.deepEqual(m!.settings[0]!.publicSettings, { a: 2 });
  assert.equal(g!.state, 'uninstall');
  assert.deepEqual(g!.manifestUris, []);
  // The ticks exceed 2^53 and must not lose precision.
  assert.equal(v.createdOnTicks, '638000000000000001');
});

test('vmSettings: every violation is a VmSettingsParseError naming the field', () => {
  const base = JSON.parse(fx('vmsettings.json'));
  const bad = (mut: (j: any) => void, re: RegExp) => {
    const j = structuredClone(base);
    mut(j);
    assert.throws(() => parseVmSettings(JSON.stringify(j), 'x'), (e: unknown) => e instanceof VmSettingsParseError && re.test(e.message));
  };
  bad((j) => { j.extensionGoalStates[0].state = 'running'; }, /unknown state 'running' \(element extensionGoalStates\[0\]\.state\)/);
  bad((j) => { delete j.extensionGoalStates[0].settings[0].protectedSettingsCertThumbprint; }, /without protectedSettingsCertThumbprint/);
  bad((j) => { j.extensionGoalStates[0].settings.push({}); }, /more than one settings item/);
  bad((j) => { j.extensionGoalStates[0].settings[0].publicSettings = '{nope'; }, /publicSettings is not valid JSON/);
  bad((j) => { j.extensionGoalStates = {}; }, /expected an array \(element extensionGoalStates\)/);
  bad((j) => { j.StatusUploadBlob = { statusBlobType: 'PageBlob' }; }, /statusUploadBlob\.value/);
  bad((j) => { j.extensionGoalStates[1].settings[0].extensionName = undefined; }, /extensionName/);
  assert.throws(() => parseVmSettings('{"a":', 'x'), /vmSettings: malformed JSON/);
  // V8 quotes the text around a JSON error: it must not reach the message (it may be a protected setting).
  assert.throws(() => parseVmSettings('{"protectedSettings": SECRETVALUE}', 'x'), (e: unknown) => e instanceof VmSettingsParseError && !/SECRET/.test(e.message));
  assert.throws(() => parseVmSettings('[]', 'x'), /not a JSON object/);
  const fab = parseVmSettings(JSON.stringify({ ...base, extensionGoalStatesSource: 'Fabric' }), 'f');
  assert.equal(fab.goalState.source, 'Fabric');
  const red = redactVmSettings(fx('vmsettings.json'));
  assert.doesNotMatch(red, /VMSIG|MIIBfast/);
  assert.ok(versionAtLeast('1.0.8.133', '1.0.8.133'));
  assert.ok(versionAtLeast('1.0.10.1', '1.0.8.133'));
  assert.ok(!versionAtLeast('1.0.8.116', '1.0.8.133'));
});

test('manifest: versions, internal plugins, URIs trimmed, missing Uris tolerated', () => {
  const m = parseManifest(fx('manifest.xml'));
  assert.deepEqual(m.versions.map((v) => [v.version, v.uris.length, v.disallowMajorVersionUpgrade, v.isInternal]), [['1.1.0', 1, false, false], ['1.2.0', 2, true, false], ['1.3.0', 0, false, false], ['1.2.5', 1, false, true]]);
  assert.equal(m.versions[1]!.uris[0], 'https://store.test/pkg/Test.Publisher.Script__1.2.0');
  assert.throws(() => parseManifest('<PluginVersionManifest><Plugins><Plugin><Uris/></Plugin></Plugins></PluginVersionManifest>'), /ExtensionManifest: a Plugin has no Version/);
  assert.throws(() => parseManifest('<html/>'), /root element is <html>/);
});

test('ticks: big values compare exactly, convert to ISO, bad values are 0', () => {
  assert.equal(compareTicks('638000000000000001', '638000000000000000'), 1);
  assert.equal(compareTicks('5', '5'), 0);
  assert.equal(normTicks('abc'), '0');
  assert.equal(normTicks(-1), '0');
  assert.equal(ticksToIso('0'), '0001-01-01T00:00:00.000Z');
  assert.equal(ticksToIso('621355968000000000'), '1970-01-01T00:00:00.000Z');
});

test('selection: newer of the two when both changed; never older than current', () => {
  const gs = (id: string, ticks: string, src: 'Fabric' | 'FastTrack'): ExtensionsGoalState => ({ ...emptyExtensionsGoalState('1'), id, createdOnTicks: ticks, source: src });
  const ws = gs('incarnation_2', '100', 'Fabric');
  const vs = gs('etag_a', '200', 'FastTrack');
  assert.equal(selectExtensionsGoalState(null, ws, vs), vs);
  assert.equal(selectExtensionsGoalState(null, gs('incarnation_3', '300', 'Fabric'), vs)?.id, 'incarnation_3');
  assert.equal(selectExtensionsGoalState(vs, ws, null), null, 'an older Fabric goal state does not replace a newer Fast Track one');
  assert.equal(selectExtensionsGoalState(ws, null, vs), vs);
  assert.equal(selectExtensionsGoalState(vs, null, vs), null);
  assert.equal(selectExtensionsGoalState(null, null, null), null);
});

test('health XML: Ready without details, NotReady with escaped, truncated description', () => {
  const ids = { incarnation: '7', containerId: 'cid', instanceId: 'iid' };
  const ready = parseXml(healthXml(ids, { state: 'Ready' }), 'h');
  assert.equal(textAt(ready, 'GoalStateIncarnation'), '7');
  assert.equal(textAt(ready, 'Container', 'ContainerId'), 'cid');
  assert.equal(textAt(ready, 'Container', 'RoleInstanceList', 'Role', 'InstanceId'), 'iid');
  assert.equal(textAt(ready, 'Container', 'RoleInstanceList', 'Role', 'Health', 'State'), 'Ready');
  assert.equal(path(ready, 'Container', 'RoleInstanceList', 'Role', 'Health', 'Details'), undefined);
  const long = '<&>' + 'x'.repeat(5000);
  const nr = parseXml(healthXml(ids, { state: 'NotReady', subStatus: 'ProvisioningFailed', description: long }), 'h');
  const det = path(nr, 'Container', 'RoleInstanceList', 'Role', 'Health', 'Details');
  assert.equal(textAt(det, 'SubStatus'), 'ProvisioningFailed');
  assert.equal(textAt(det, 'Description')!.length, MAX_HEALTH_DESCRIPTION);
  assert.ok(textAt(det, 'Description')!.startsWith('<&>'));
  assert.deepEqual(JSON.parse(healthJson({ state: 'Ready' })), { state: 'Ready' });
  assert.deepEqual(JSON.parse(healthJson({ state: 'NotReady', subStatus: 'Provisioning', description: 'Starting' })), { state: 'NotReady', details: { subStatus: 'Provisioning', description: 'Starting' } });
  const rp = parseXml(rolePropertiesXml({ containerId: 'cid', instanceId: 'iid' }, 'SHA256abc'), 'rp');
  assert.equal(path(rp, 'Container', 'RoleInstances', 'RoleInstance', 'Properties', 'Property')!.attrs.value, 'SHA256abc');
});
