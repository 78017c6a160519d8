// The simulator's answers against the shapes in docs/protocol.md, parsed with our own XML
// tree, plus the header checks the real fabric makes. Loopback only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { startFabric, renderOvfEnv, type Fabric } from '../fabric/server.ts';
import { child, childrenOf, parseXml, path, textAt } from '../../src/util/xml.ts';
import { OVF_NS, WA_NS } from '../fabric/documents.ts';
import { WS_HEADERS, WS_XML_HEADERS, baseScenario, hgapHeaders, http } from '../fabric/testing.ts';

let f: Fabric;
let tmp: string;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fabric-ep-'));
  f = await startFabric({ scenario: baseScenario(), bind: 'loopback', quiet: true });
});
after(async () => {
  await f.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function goalState() {
  const r = await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS);
  assert.equal(r.status, 200);
  return parseXml(r.text, 'goal state');
}

test('urls are loopback with distinct ports', () => {
  for (const u of Object.values(f.urls)) assert.match(u, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(new Set(Object.values(f.urls)).size, 4);
});

test('versions names 2012-11-30 as preferred or supported and needs no x-ms headers', async () => {
  const r = await http('GET', `${f.urls.wire}/?comp=versions`);
  assert.equal(r.status, 200);
  const doc = parseXml(r.text, 'versions');
  assert.equal(doc.local, 'Versions');
  const all = [textAt(doc, 'Preferred', 'Version'), ...childrenOf(child(doc, 'Supported'), 'Version').map((v) => v.text.trim())];
  assert.ok(all.includes('2012-11-30'));
  assert.deepEqual(f.violations(), []);
});

test('goal state: incarnation, container, role instance and every config URL answers its document', async () => {
  const doc = await goalState();
  assert.equal(doc.local, 'GoalState');
  assert.equal(textAt(doc, 'Incarnation'), '1');
  assert.equal(textAt(doc, 'Container', 'ContainerId'), '66666666-7777-8888-9999-000000000000');
  const ri = path(doc, 'Container', 'RoleInstanceList', 'RoleInstance');
  assert.equal(textAt(ri, 'InstanceId'), f.scenario().vm.roleInstanceId);
  const cfg = child(ri, 'Configuration')!;
  const configName = textAt(cfg, 'ConfigName')!;
  assert.equal(configName.split('.')[0], f.scenario().vm.deploymentId, 'ConfigName starts with the deployment id');
  const expect: Record<string, string> = {
    HostingEnvironmentConfig: 'HostingEnvironmentConfig', SharedConfig: 'SharedConfig', ExtensionsConfig: 'Extensions',
    Certificates: '', FullConfig: 'FullConfig',
  };
  for (const [el, root] of Object.entries(expect)) {
    const url = textAt(cfg, el)!;
    assert.ok(url.startsWith(`${f.urls.wire}/machine/`), `${el} URL ${url}`);
    assert.ok(url.includes('&incarnation=1'), `${el} URL carries the incarnation (XML &amp; decoded)`);
    if (!root) continue;
    const r = await http('GET', url, WS_HEADERS);
    assert.equal(r.status, 200, el);
    assert.equal(parseXml(r.text, el).local, root);
  }
  const hec = parseXml((await http('GET', textAt(cfg, 'HostingEnvironmentConfig')!, WS_HEADERS)).text, 'hec');
  assert.equal(child(hec, 'Incarnation')!.attrs.instance, 'testvm_IN_0');
  assert.equal(child(hec, 'Role')!.attrs.name, 'testvm');
  assert.equal(child(hec, 'Deployment')!.attrs.name, f.scenario().vm.deploymentId);
  assert.deepEqual(f.violations(), []);
});

test('ExtensionsConfig: status blob, plugin, settings with protected settings for the tenant certificate, manifest and package', async () => {
  const doc = await goalState();
  const url = textAt(doc, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration', 'ExtensionsConfig')!;
  const ec = parseXml((await http('GET', url, WS_HEADERS)).text, 'ExtensionsConfig');
  const blob = child(ec, 'StatusUploadBlob')!;
  assert.equal(blob.attrs.statusBlobType, 'BlockBlob');
  assert.ok(blob.text.trim().startsWith(`${f.urls.blob}/`));
  assert.match(blob.text, /[?&]sig=/);
  const plugin = child(child(ec, 'Plugins'), 'Plugin')!;
  assert.equal(plugin.attrs.name, 'Waagent.Test.ShellExt');
  assert.equal(plugin.attrs.version, '1.0.0');
  assert.equal(plugin.attrs.state, 'enabled');
  const ps = child(child(ec, 'PluginSettings'), 'Plugin')!;
  assert.equal(ps.attrs.name, plugin.attrs.name);
  assert.equal(ps.attrs.version, plugin.attrs.version);
  const rs = child(ps, 'RuntimeSettings')!;
  assert.equal(rs.attrs.seqNo, '3');
  const hs = (JSON.parse(rs.text) as { runtimeSettings: Array<{ handlerSettings: Record<string, unknown> }> }).runtimeSettings[0]!.handlerSettings;
  assert.deepEqual(hs.publicSettings, { message: 'from-test' }, 'publicSettings is an object in ExtensionsConfig');
  assert.equal(hs.protectedSettingsCertThumbprint, f.fabricCert().thumbprint);
  assert.match(hs.protectedSettingsCertThumbprint as string, /^[0-9A-F]{40}$/);
  const meta = child(ec, 'InVMGoalStateMetaData')!;
  assert.equal(meta.attrs.inSvdSeqNo, '1');
  assert.match(meta.attrs.createdOnTicks!, /^\d{18}$/);

  const man = await http('GET', plugin.attrs.location!);
  assert.equal(man.status, 200);
  const md = parseXml(man.text, 'manifest');
  const mp = path(md, 'Plugins', 'Plugin');
  assert.equal(textAt(mp, 'Version'), '1.0.0');
  const zipUrl = textAt(mp, 'Uris', 'Uri')!;
  const zip = await http('GET', zipUrl);
  assert.equal(zip.status, 200);
  const zf = join(tmp, 'pkg.zip');
  writeFileSync(zf, zip.body);
  // An independent reader: Info-ZIP's zipinfo lists names and unix modes.
  const listing = execFileSync('zipinfo', [zf], { encoding: 'utf8' });
  assert.match(listing, /HandlerManifest\.json/);
  assert.match(listing, /-rwxr-xr-x .* bin\/handler\.sh/);
  assert.equal((await http('GET', `${f.urls.blob}/extensions/nope`)).status, 404);
});

test('health XML is recorded; NotReady details kept; bad XML is 400', async () => {
  const s = f.scenario();
  const body = (state: string, details = '') => `<?xml version="1.0" encoding="utf-8"?><Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema"><GoalStateIncarnation>${f.incarnation()}</GoalStateIncarnation><Container><ContainerId>${s.vm.containerId}</ContainerId><RoleInstanceList><Role><InstanceId>${s.vm.roleInstanceId}</InstanceId><Health><State>${state}</State>${details}</Health></Role></RoleInstanceList></Container></Health>`;
  const before = f.health().length;
  let r = await http('POST', `${f.urls.wire}/machine?comp=health`, WS_XML_HEADERS, body('NotReady', '<Details><SubStatus>Provisioning</SubStatus><Description>Starting</Description></Details>'));
  assert.equal(r.status, 200);
  r = await http('POST', `${f.urls.wire}/machine?comp=health`, WS_XML_HEADERS, body('Ready'));
  assert.equal(r.status, 200);
  const h = f.health().slice(before);
  assert.deepEqual(h.map((x) => [x.channel, x.state, x.subStatus, x.description]), [
    ['xml', 'NotReady', 'Provisioning', 'Starting'], ['xml', 'Ready', undefined, undefined]]);
  assert.equal(h[1]!.containerId, s.vm.containerId);
  r = await http('POST', `${f.urls.wire}/machine?comp=health`, WS_XML_HEADERS, '<Health><oops>');
  assert.equal(r.status, 400);
  assert.equal(f.health().length, before + 2);
});

test('provisioning/health JSON, telemetry 200, roleProperties 202, HealthService 200', async () => {
  let r = await http('POST', `${f.urls.wire}/provisioning/health`, { 'content-type': 'application/json' },
    JSON.stringify({ state: 'NotReady', details: { subStatus: 'ProvisioningFailed', description: 'no user' } }));
  assert.equal(r.status, 200);
  const last = f.health().at(-1)!;
  assert.deepEqual([last.channel, last.state, last.subStatus, last.description], ['json', 'NotReady', 'ProvisioningFailed', 'no user']);
  r = await http('POST', `${f.urls.wire}/provisioning/health`, { 'content-type': 'application/json' }, '{"state":"Maybe"}');
  assert.equal(r.status, 400);
  r = await http('POST', `${f.urls.wire}/machine?comp=telemetrydata`, WS_XML_HEADERS,
    '<?xml version="1.0"?><TelemetryData version="1.0"><Provider id="69B669B9-4AF8-4C50-BDC4-6006FA76E975"><Event id="1"><![CDATA[<Param Name="Name" Value="WALinuxAgent" T="mt:wstr" />]]></Event></Provider></TelemetryData>');
  assert.equal(r.status, 200);
  r = await http('POST', `${f.urls.wire}/machine?comp=roleProperties`, WS_XML_HEADERS, '<?xml version="1.0" encoding="utf-8"?><RoleProperties/>');
  assert.equal(r.status, 202);
  r = await http('POST', `${f.urls.wire}/HealthService`, { 'content-type': 'application/json' }, '{"Api":"reporttargethealth"}');
  assert.equal(r.status, 200);
});

test('missing WireServer headers are noted as violations, not refused', async () => {
  const n = f.violations().length;
  const r = await http('GET', `${f.urls.wire}/machine/?comp=goalstate`);
  assert.equal(r.status, 200);
  const v = f.violations().slice(n).map((x) => x.problem);
  assert.ok(v.some((p) => p.includes('x-ms-agent-name')));
  assert.ok(v.some((p) => p.includes('x-ms-version')));
  const r2 = await http('POST', `${f.urls.wire}/machine?comp=roleProperties`, { ...WS_HEADERS, 'content-type': 'application/xml' }, '<RoleProperties/>');
  assert.equal(r2.status, 202);
  assert.ok(f.violations().some((x) => x.problem.includes('Content-Type')));
});

test('HostGAPlugin: versions, health, vmSettings with ETag and 304, container headers required', async () => {
  let r = await http('GET', `${f.urls.hgap}/versions`);
  assert.equal(r.status, 200);
  assert.ok((JSON.parse(r.text) as string[]).includes('2015-09-01'));
  assert.equal((await http('GET', `${f.urls.hgap}/health`)).status, 200);

  assert.equal((await http('GET', `${f.urls.hgap}/vmSettings`)).status, 400);
  r = await http('GET', `${f.urls.hgap}/vmSettings`, { ...hgapHeaders(f), 'x-ms-containerid': '00000000-0000-0000-0000-000000000000' });
  assert.equal(r.status, 400);
  assert.match(r.text, /InvalidContainerConfiguration/);

  r = await http('GET', `${f.urls.hgap}/vmSettings`, hgapHeaders(f));
  assert.equal(r.status, 200);
  const etag = r.headers.etag as string;
  assert.ok(etag);
  assert.equal(etag, f.etag());
  const vs = JSON.parse(r.text) as Record<string, unknown>;
  assert.equal(vs.extensionGoalStatesSource, 'FastTrack');
  assert.equal((vs.statusUploadBlob as { statusBlobType: string }).statusBlobType, 'BlockBlob');
  const eg = (vs.extensionGoalStates as Array<Record<string, unknown>>)[0]!;
  const st = (eg.settings as Array<Record<string, unknown>>)[0]!;
  assert.equal(typeof st.publicSettings, 'string', 'publicSettings is a JSON string in vmSettings');
  assert.deepEqual(JSON.parse(st.publicSettings as string), { message: 'from-test' });
  assert.equal(st.protectedSettingsCertThumbprint, f.fabricCert().thumbprint);
  assert.equal(st.seqNo, 3);
  // Ticks above 2^53 are printed exactly (same digits as ExtensionsConfig's createdOnTicks).
  assert.match(r.text, /"extensionsLastModifiedTickCount": \d{18}\b/);

  r = await http('GET', `${f.urls.hgap}/vmSettings`, { ...hgapHeaders(f), 'if-none-match': etag });
  assert.equal(r.status, 304);
  assert.equal(r.body.length, 0);
});

test('HostGAPlugin extensionArtifact proxies only the simulated storage', async () => {
  const man = `${f.urls.blob}/extensions/Waagent.Test.ShellExt_manifest.xml`;
  const direct = await http('GET', man);
  let r = await http('GET', `${f.urls.hgap}/extensionArtifact`, { ...hgapHeaders(f), 'x-ms-artifact-location': man });
  assert.equal(r.status, 200);
  assert.equal(r.text, direct.text);
  const pkg = `${f.urls.blob}/extensions/Waagent.Test.ShellExt__1.0.0`;
  const n = f.violations().length;
  r = await http('GET', `${f.urls.hgap}/extensionArtifact`, { ...hgapHeaders(f), 'x-ms-artifact-location': pkg, 'x-ms-artifact-manifest-location': man });
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, (await http('GET', pkg)).body);
  assert.equal(f.violations().length, n);
  r = await http('GET', `${f.urls.hgap}/extensionArtifact`, { ...hgapHeaders(f), 'x-ms-artifact-location': pkg });
  assert.equal(r.status, 200);
  assert.match(f.violations().at(-1)!.problem, /x-ms-artifact-manifest-location/);
  r = await http('GET', `${f.urls.hgap}/extensionArtifact`, { ...hgapHeaders(f), 'x-ms-artifact-location': 'https://example.invalid/x.zip' });
  assert.equal(r.status, 502);
  r = await http('GET', `${f.urls.hgap}/extensionArtifact`, hgapHeaders(f));
  assert.equal(r.status, 400);
});

test('IMDS: Metadata header and api-version required; compute, osProfile, publicKeys, text leaves', async () => {
  let r = await http('GET', `${f.urls.imds}/metadata/instance?api-version=2021-02-01`);
  assert.equal(r.status, 400);
  assert.match(r.text, /metadata header/i);
  r = await http('GET', `${f.urls.imds}/metadata/instance`, { Metadata: 'true' });
  assert.equal(r.status, 400);
  r = await http('GET', `${f.urls.imds}/metadata/instance?api-version=2021-02-01`, { Metadata: 'true', 'X-Forwarded-For': '10.0.0.1' });
  assert.equal(r.status, 400);
  r = await http('GET', `${f.urls.imds}/metadata/instance?api-version=2021-08-01&extended=true`, { Metadata: 'True' });
  assert.equal(r.status, 200);
  const doc = JSON.parse(r.text) as { compute: Record<string, any>; network: { interface: Array<Record<string, any>> } };
  assert.equal(doc.compute.vmId, '11111111-2222-3333-4444-555555555555');
  assert.equal(doc.compute.osProfile.adminUsername, 'tester');
  assert.equal(doc.compute.osProfile.computerName, 'testvm');
  assert.equal(doc.compute.osProfile.disablePasswordAuthentication, 'false');
  const key = f.sshKeys().find((k) => k.id === 'test-key-a')!;
  assert.deepEqual(doc.compute.publicKeys, [{ keyData: key.publicKey, path: '/home/tester/.ssh/authorized_keys' }]);
  assert.match(doc.network.interface[0]!.macAddress, /^[0-9A-F]{12}$/);
  assert.ok(doc.network.interface[0]!.ipv4.ipAddress[0].privateIpAddress);
  assert.deepEqual((doc as unknown as { extended: unknown }).extended, { compute: { ppsType: 'None', hasCustomData: true } });
  r = await http('GET', `${f.urls.imds}/metadata/instance/compute?api-version=2018-02-01`, { Metadata: 'true' });
  const old = JSON.parse(r.text) as Record<string, unknown>;
  assert.equal(old.location, 'westeurope');
  assert.deepEqual(Object.keys(old).sort(), ['location', 'name', 'offer', 'osType', 'placementGroupId', 'platformFaultDomain', 'platformUpdateDomain',
    'publisher', 'resourceGroupName', 'sku', 'subscriptionId', 'tags', 'version', 'vmId', 'vmScaleSetName', 'vmSize', 'zone'], 'an old api-version gets only the fields of its time');
  r = await http('GET', `${f.urls.imds}/metadata/instance/compute/vmSize?api-version=2017-08-01&format=text`, { Metadata: 'true' });
  assert.equal(r.text, 'Standard_D2s_v5');
  r = await http('GET', `${f.urls.imds}/metadata/instance/compute/nothere?api-version=2017-08-01`, { Metadata: 'true' });
  assert.equal(r.status, 404);
  r = await http('GET', `${f.urls.imds}/metadata/reprovisiondata?api-version=2019-06-01`, { Metadata: 'true' });
  assert.equal(r.status, 404);
});

test('the generated SSH key is a valid OpenSSH key (ssh-keygen reads it)', () => {
  const key = f.sshKeys().find((k) => k.id === 'test-key-a')!;
  const file = join(tmp, 'k.pub');
  writeFileSync(file, `${key.publicKey}\n`);
  const out = execFileSync('ssh-keygen', ['-l', '-f', file], { encoding: 'utf8' });
  assert.match(out, /^2048 SHA256:\S+ test-key-a \(RSA\)/);
});

test('ovf-env.xml: namespaces, required fields, inline key, password, custom data; renderOvfEnv matches the running fabric', async () => {
  const text = f.ovfEnv();
  assert.equal(await renderOvfEnv(baseScenario()), text);
  const doc = parseXml(text, 'ovf-env');
  assert.equal(doc.local, 'Environment');
  assert.equal(doc.ns, OVF_NS);
  const ps = child(doc, 'ProvisioningSection', WA_NS)!;
  assert.equal(textAt(ps, 'Version'), '1.0');
  const lp = child(ps, 'LinuxProvisioningConfigurationSet', WA_NS)!;
  assert.equal(textAt(lp, 'HostName'), 'testvm');
  assert.equal(textAt(lp, 'UserName'), 'tester');
  assert.equal(textAt(lp, 'UserPassword'), 'Test-Passw0rd!');
  assert.equal(textAt(lp, 'DisableSshPasswordAuthentication'), 'false');
  const pk = path(lp, 'SSH', 'PublicKeys', 'PublicKey')!;
  assert.equal(textAt(pk, 'Path'), '$HOME/tester/.ssh/authorized_keys');
  assert.equal(textAt(pk, 'Value'), f.sshKeys()[0]!.publicKey);
  assert.equal(Buffer.from(textAt(lp, 'CustomData')!, 'base64').toString(), 'echo hello');
  const plat = child(child(doc, 'PlatformSettingsSection', WA_NS), 'PlatformSettings', WA_NS)!;
  assert.equal(textAt(plat, 'ProvisionGuestAgent'), 'true');
  assert.equal(child(plat, 'ProvisionGuestAgent')!.ns, WA_NS);
});

test('multi-config and dependsOn: ExtensionsConfig and vmSettings agree (RequiredFeatures, names, states, levels)', async () => {
  const g = await startFabric({
    scenario: baseScenario({
      extensions: [
        { name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 1, protectedSettings: { a: 1 } },
        {
          name: 'Waagent.Test.McExt', version: '1.0.0', package: 'Waagent.Test.ShellExt',
          multiConfig: [
            { name: 'first', seqNo: 2, publicSettings: { n: 1 }, protectedSettings: { p: 1 } },
            { name: 'second', state: 'disabled', seqNo: 5, dependsOn: { dependencyLevel: 2, on: [{ handler: 'Waagent.Test.ShellExt' }] } },
          ],
        },
      ],
    }),
    bind: 'loopback', quiet: true,
  });
  try {
    const gs = parseXml((await http('GET', `${g.urls.wire}/machine/?comp=goalstate`, WS_HEADERS)).text, 'gs');
    const url = textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'ExtensionsConfig')!;
    const ec = parseXml((await http('GET', url, WS_HEADERS)).text, 'ec');
    assert.equal(textAt(ec, 'RequiredFeatures', 'RequiredFeature', 'Name'), 'MultipleExtensionsPerHandler');
    const mc = childrenOf(child(ec, 'PluginSettings'), 'Plugin')[1]!;
    const ers = childrenOf(mc, 'ExtensionRuntimeSettings');
    assert.deepEqual(ers.map((e) => [e.attrs.name, e.attrs.seqNo, e.attrs.state]), [['first', '2', 'enabled'], ['second', '5', 'disabled']]);
    const dep = child(mc, 'DependsOn')!;
    assert.deepEqual([dep.attrs.name, dep.attrs.dependencyLevel, child(dep, 'DependsOnExtension')!.attrs.handler], ['second', '2', 'Waagent.Test.ShellExt']);
    const first = JSON.parse(ers[0]!.text) as { runtimeSettings: Array<{ handlerSettings: Record<string, unknown> }> };
    assert.ok(first.runtimeSettings[0]!.handlerSettings.protectedSettings);
    assert.equal(childrenOf(mc, 'RuntimeSettings').length, 0);

    const vs = JSON.parse((await http('GET', `${g.urls.hgap}/vmSettings`, hgapHeaders(g))).text) as {
      requiredFeatures: Array<{ name: string }>;
      extensionGoalStates: Array<{ name: string; isMultiConfig: boolean; settings: Array<Record<string, unknown>>; dependsOn?: Array<Record<string, unknown>> }>;
    };
    assert.deepEqual(vs.requiredFeatures, [{ name: 'MultipleExtensionsPerHandler' }]);
    const m = vs.extensionGoalStates[1]!;
    assert.equal(m.isMultiConfig, true);
    assert.deepEqual(m.settings.map((s) => [s.extensionName, s.seqNo, s.extensionState]), [['first', 2, 'enabled'], ['second', 5, 'disabled']]);
    assert.deepEqual(m.dependsOn, [{ dependsOnExtension: [{ handler: 'Waagent.Test.ShellExt' }], dependencyLevel: 2, name: 'second' }]);
    assert.equal(vs.extensionGoalStates[0]!.isMultiConfig, false);
    // Each protected value is its own envelope.
    const p1 = vs.extensionGoalStates[0]!.settings[0]!.protectedSettings;
    const p2 = m.settings[0]!.protectedSettings;
    assert.ok(p1 && p2 && p1 !== p2);
  } finally {
    await g.close();
  }
});

test('reprovisiondata answers the ovf-env when asked for; provisioning/health can be switched off (404)', async () => {
  const g = await startFabric({ scenario: baseScenario({ reprovisionData: true, provisioningHealthJson: false }), bind: 'loopback', quiet: true });
  try {
    const r = await http('GET', `${g.urls.imds}/metadata/reprovisiondata?api-version=2019-06-01`, { Metadata: 'true' });
    assert.equal(r.status, 200);
    assert.equal(r.text, g.ovfEnv());
    const h = await http('POST', `${g.urls.wire}/provisioning/health`, { 'content-type': 'application/json' }, '{"state":"Ready"}');
    assert.equal(h.status, 404);
    assert.equal(g.health().length, 0);
  } finally {
    await g.close();
  }
});
