// The documents the fabric answers with, rendered from a scenario in the shapes of
// docs/protocol.md (element order as in production captures). Pure functions: the
// server decides when to call them; encrypted values come in already made.
import { escapeXml } from '../../src/util/xml.ts';
import type { ExtensionSpec, McExtension, Scenario, DependsOn } from './scenario.ts';
import { ovfEnvXml } from '../helpers/ovf.ts';

/** Everything that is not in the scenario but in the answers: URLs, generation, secrets made at start. */
export interface Rendering {
  wire: string;
  blob: string;
  incarnation: number;
  etag: string;
  /** .NET ticks of the moment this goal state was made (createdOnTicks / extensionsLastModifiedTickCount). */
  createdTicks: string;
  statusBlobUrl: string;
  fabricThumbprint: string;
  /** key `<ext>` or `<ext>/<mcName>` → base64 CMS of the protected settings. */
  protectedBlobs: Map<string, string>;
  /** encodedSignature per extension name (scenario `signature`). */
  signatures?: Map<string, string>;
  /** SSH key id → thumbprint / public key. */
  sshThumbprints: Map<string, string>;
  sshPublicKeys: Map<string, string>;
  activityId: string;
  correlationId: string;
}

export const OVF_NS = 'http://schemas.dmtf.org/ovf/environment/1';
export const WA_NS = 'http://schemas.microsoft.com/windowsazure';
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

export function dotnetTicks(ms: number): string {
  return ((BigInt(ms) + 62135596800000n) * 10000n).toString();
}

const x = escapeXml;

export function renderVersions(): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<Versions>
  <Preferred>
    <Version>2015-04-05</Version>
  </Preferred>
  <Supported>
    <Version>2015-04-05</Version>
    <Version>2012-11-30</Version>
    <Version>2012-09-15</Version>
    <Version>2012-05-15</Version>
    <Version>2011-12-31</Version>
    <Version>2011-10-15</Version>
    <Version>2011-08-31</Version>
    <Version>2011-04-07</Version>
    <Version>2010-12-15</Version>
    <Version>2010-28-10</Version>
  </Supported>
</Versions>
`;
}

function machineBase(s: Scenario, r: Rendering): string {
  return `${r.wire}/machine/${s.vm.containerId}/${encodeURIComponent(s.vm.roleInstanceId)}`;
}

/**
 * ConfigName as production shows it (`<deployment>.0.<deployment>.0.<role>.1.xml`). It does not
 * follow the incarnation here (UNCONFIRMED on Azure), so a stale x-ms-host-config-name only
 * happens when a test changes the deployment, as after a live migration.
 */
export function configName(s: Scenario): string {
  return `${s.vm.deploymentId}.0.${s.vm.deploymentId}.0.${s.vm.roleName}.1.xml`;
}

export function renderGoalState(s: Scenario, r: Rendering): string {
  const base = machineBase(s, r);
  const inc = r.incarnation;
  return `<?xml version="1.0" encoding="utf-8"?>
<GoalState xmlns:xsi="${XSI_NS}" xsi:noNamespaceSchemaLocation="goalstate10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>${inc}</Incarnation>
  <Machine>
    <ExpectedState>Started</ExpectedState>
    <StopRolesDeadlineHint>300000</StopRolesDeadlineHint>
    <LBProbePorts>
      <Port>16001</Port>
    </LBProbePorts>
    <ExpectHealthReport>FALSE</ExpectHealthReport>
  </Machine>
  <Container>
    <ContainerId>${x(s.vm.containerId)}</ContainerId>
${s.remoteAccess ? `    <RemoteAccessInfo>${x(`${r.wire}/machine/${s.vm.containerId}/remoteaccess?incarnation=${inc}`)}\n    </RemoteAccessInfo>\n` : ''}    <RoleInstanceList>
      <RoleInstance>
        <InstanceId>${x(s.vm.roleInstanceId)}</InstanceId>
        <State>Started</State>
        <Configuration>
          <HostingEnvironmentConfig>${x(`${base}?comp=config&type=hostingEnvironmentConfig&incarnation=${inc}`)}</HostingEnvironmentConfig>
          <SharedConfig>${x(`${base}?comp=config&type=sharedConfig&incarnation=${inc}`)}</SharedConfig>
          <ExtensionsConfig>${x(`${base}?comp=config&type=extensionsConfig&incarnation=${inc}`)}</ExtensionsConfig>
          <FullConfig>${x(`${base}?comp=config&type=fullConfig&incarnation=${inc}`)}</FullConfig>
${s.certificates === 'absent' ? '' : `          <Certificates>${x(`${base}?comp=certificates&incarnation=${inc}`)}</Certificates>\n`}          <ConfigName>${x(configName(s))}</ConfigName>
        </Configuration>
      </RoleInstance>
    </RoleInstanceList>
  </Container>
</GoalState>
`;
}

export function renderHostingEnvironmentConfig(s: Scenario, r: Rendering): string {
  const v = s.vm;
  return `<?xml version="1.0" encoding="utf-8"?>
<HostingEnvironmentConfig version="1.0.0.0" goalStateIncarnation="${r.incarnation}">
  <StoredCertificates>
    <StoredCertificate name="Stored0Microsoft.WindowsAzure.Plugins.RemoteAccess.PasswordEncryption" certificateId="sha1:${r.fabricThumbprint}" storeName="My" configurationLevel="System" />
  </StoredCertificates>
  <Deployment name="${x(v.deploymentId)}" guid="{${v.containerId}}" incarnation="${r.incarnation}">
    <Service name="${x(v.vmName)}" guid="{00000000-0000-0000-0000-000000000000}" />
    <ServiceInstance name="${x(v.deploymentId)}.0" guid="{${v.vmId}}" />
  </Deployment>
  <Incarnation number="1" instance="${x(v.roleName)}_IN_0" guid="{${v.vmId}}" />
  <Role guid="{${v.vmId}}" name="${x(v.roleName)}" hostingEnvironmentVersion="1" software="" softwareType="ApplicationPackage" entryPoint="" parameters="" settleTimeSeconds="10" />
  <HostingEnvironmentSettings name="full" Runtime="rd_fabric_stable.110217-1402.RuntimePackage_1.0.0.8.zip">
    <CAS mode="full" />
    <PrivilegeLevel mode="max" />
    <AdditionalProperties><CgiHandlers></CgiHandlers></AdditionalProperties>
  </HostingEnvironmentSettings>
  <ApplicationSettings>
    <Setting name="__ModelData" value="" />
  </ApplicationSettings>
  <ResourceReferences>
    <Resource name="DiagnosticStore" type="directory" request="Microsoft.Cis.Fabric.Controller.Descriptions.ServiceDescription.Data.Policy" sticky="true" size="1" path="${x(v.deploymentId)}.${x(v.roleName)}.DiagnosticStore\\" disableQuota="false" />
  </ResourceReferences>
</HostingEnvironmentConfig>
`;
}

export function renderSharedConfig(s: Scenario, r: Rendering): string {
  const v = s.vm;
  const inst = `${v.roleName}_IN_0`;
  return `<?xml version="1.0" encoding="utf-8"?>
<SharedConfig version="1.0.0.0" goalStateIncarnation="${r.incarnation}">
  <Deployment name="${x(v.deploymentId)}" guid="{${v.containerId}}" incarnation="${r.incarnation}" isNonCancellableTopologyChangeEnabled="false">
    <Service name="${x(v.vmName)}" guid="{00000000-0000-0000-0000-000000000000}" />
    <ServiceInstance name="${x(v.deploymentId)}.0" guid="{${v.vmId}}" />
  </Deployment>
  <Incarnation number="1" instance="${x(inst)}" guid="{${v.vmId}}" />
  <Role guid="{${v.vmId}}" name="${x(v.roleName)}" settleTimeSeconds="10" />
  <LoadBalancerSettings timeoutSeconds="0" waitLoadBalancerProbeCount="8">
    <Probes>
      <Probe name="D41D8CD98F00B204E9800998ECF8427E" />
    </Probes>
  </LoadBalancerSettings>
  <OutputEndpoints>
    <Endpoint name="${x(v.roleName)}:openInternalEndpoint" type="SFS">
      <Target instance="${x(inst)}" endpoint="openInternalEndpoint" />
    </Endpoint>
  </OutputEndpoints>
  <Instances>
    <Instance id="${x(inst)}" address="${x(v.privateIp)}">
      <FaultDomains randomId="0" updateId="0" updateCount="0" />
      <InputEndpoints>
        <Endpoint name="openInternalEndpoint" address="${x(v.privateIp)}" protocol="any" isPublic="false" enableDirectServerReturn="false" isDirectAddress="false" disableStealthMode="false">
          <LocalPorts><LocalPortSelfManaged /></LocalPorts>
        </Endpoint>
      </InputEndpoints>
    </Instance>
  </Instances>
</SharedConfig>
`;
}

export function renderFullConfig(s: Scenario, r: Rendering): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<FullConfig goalStateIncarnation="${r.incarnation}"><ContainerId>${x(s.vm.containerId)}</ContainerId></FullConfig>
`;
}

export function renderCertificates(r: Rendering, data: string, format = 'Pkcs7BlobWithPfxContents'): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<CertificateFile xmlns:xsi="${XSI_NS}" xsi:noNamespaceSchemaLocation="certificates10.xsd">
  <Version>2012-11-30</Version>
  <Incarnation>${r.incarnation}</Incarnation>
  <Format>${x(format)}</Format>
  <Data>${data}</Data>
</CertificateFile>
`;
}

export function manifestPath(name: string): string {
  return `/extensions/${name}_manifest.xml`;
}

/** The same manifest at a second path, named by failoverlocation when the scenario says failoverManifest. */
export function failoverManifestPath(name: string): string {
  return `/extensions/failover/${name}_manifest.xml`;
}

export function packagePath(name: string, version: string): string {
  return `/extensions/${name}__${version}`;
}

/** The InVMArtifactsProfileBlob (served only while the scenario is on hold). */
export const ARTIFACTS_PROFILE_PATH = '/profiles/artifacts-profile.json';

export const GA_MANIFEST_PATH = '/ga/Microsoft.OSTCLinuxAgent_Prod_manifest.xml';

/** handlerSettings as ExtensionsConfig carries them (publicSettings an object). */
function handlerSettings(pub: unknown, prot: string | undefined, thumb: string): Record<string, unknown> {
  const h: Record<string, unknown> = {};
  if (prot !== undefined) {
    h.protectedSettingsCertThumbprint = thumb;
    h.protectedSettings = prot;
  }
  if (pub !== undefined) h.publicSettings = pub;
  return h;
}

function dependsOnXml(d: DependsOn | undefined, name?: string): string {
  if (!d) return '';
  const attrName = name !== undefined ? ` name="${x(name)}"` : '';
  const on = d.on.map((o) => `<DependsOnExtension handler="${x(o.handler)}"${o.extension !== undefined ? ` extension="${x(o.extension)}"` : ''} />`).join('');
  return `<DependsOn dependencyLevel="${d.dependencyLevel}"${attrName}>${on}</DependsOn>`;
}

function protectedKey(e: ExtensionSpec, mc?: McExtension): string {
  return mc ? `${e.name}/${mc.name}` : e.name;
}

export function renderExtensionsConfig(s: Scenario, r: Rendering): string {
  const multi = s.extensions.some((e) => e.multiConfig);
  const plugins = s.extensions.map((e) => {
    const loc = `${r.blob}${manifestPath(e.name)}`;
    const sig = r.signatures?.get(e.name);
    const fo = e.failoverManifest ? `${r.blob}${failoverManifestPath(e.name)}` : loc;
    return `  <Plugin name="${x(e.name)}" version="${x(e.version)}" location="${x(loc)}" failoverlocation="${x(fo)}" state="${e.state}" autoUpgrade="false" runAsStartupTask="false" isJson="true" useExactVersion="true"${sig ? ` encodedSignature="${x(sig)}"` : ''} />`;
  }).join('\n');
  const settings = s.extensions.map((e) => {
    let inner = '';
    if (e.multiConfig) {
      inner = e.multiConfig.map((mc) => dependsOnXml(mc.dependsOn, mc.name)).join('')
        + e.multiConfig.map((mc) => {
          const json = JSON.stringify({ runtimeSettings: [{ handlerSettings: handlerSettings(mc.publicSettings, r.protectedBlobs.get(protectedKey(e, mc)), r.fabricThumbprint) }] });
          return `<ExtensionRuntimeSettings seqNo="${mc.seqNo}" name="${x(mc.name)}" state="${mc.state}">${x(json)}</ExtensionRuntimeSettings>`;
        }).join('');
    } else {
      inner = dependsOnXml(e.dependsOn);
      if (e.settings) {
        const json = JSON.stringify({ runtimeSettings: [{ handlerSettings: handlerSettings(e.settings.publicSettings, r.protectedBlobs.get(protectedKey(e)), r.fabricThumbprint) }] });
        inner += `<RuntimeSettings seqNo="${e.settings.seqNo}">${x(json)}</RuntimeSettings>`;
      }
    }
    return `  <Plugin name="${x(e.name)}" version="${x(e.version)}">${inner}</Plugin>`;
  }).join('\n');
  const required = multi ? `<RequiredFeatures><RequiredFeature><Name>MultipleExtensionsPerHandler</Name></RequiredFeature></RequiredFeatures>\n` : '';
  return `<?xml version="1.0" encoding="utf-8"?>
<Extensions version="1.0.0.0" goalStateIncarnation="${r.incarnation}"><GuestAgentExtension xmlns:i="${XSI_NS}">
  <GAFamilies>
    <GAFamily>
      <Name>Prod</Name>
      <Uris>
        <Uri>${x(r.blob + GA_MANIFEST_PATH)}</Uri>
      </Uris>
    </GAFamily>
  </GAFamilies>
  <Location>${x(s.vm.location)}</Location>
  <ServiceName>CRP</ServiceName>
</GuestAgentExtension>
${required}<StatusUploadBlob statusBlobType="${s.statusBlobType}">${x(r.statusBlobUrl)}</StatusUploadBlob>
<Plugins>
${plugins}
</Plugins>
<PluginSettings>
${settings}
</PluginSettings>
${s.onHold ? `<InVMArtifactsProfileBlob>${x(r.blob + ARTIFACTS_PROFILE_PATH)}</InVMArtifactsProfileBlob>\n` : ''}<InVMGoalStateMetaData inSvdSeqNo="${r.incarnation}" createdOnTicks="${r.createdTicks}" activityId="${r.activityId}" correlationId="${r.correlationId}" />
</Extensions>
`;
}

export function renderManifest(e: ExtensionSpec, r: Rendering): string {
  const plugins = e.versions.map((v) => `    <Plugin>
      <Version>${x(v)}</Version>
      <Uris>
        <Uri>${x(r.blob + packagePath(e.name, v))}</Uri>
      </Uris>
    </Plugin>`).join('\n');
  return `<?xml version="1.0" encoding="utf-8"?>
<PluginVersionManifest xmlns:i="${XSI_NS}">
  <Plugins>
${plugins}
  </Plugins>
  <InternalPlugins />
</PluginVersionManifest>
`;
}

/** The agent manifest is served empty: this project never downloads the Python agent. */
export function renderGaManifest(): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<PluginVersionManifest xmlns:i="${XSI_NS}">
  <Plugins />
</PluginVersionManifest>
`;
}

/** vmSettings JSON (HGAP Fast Track); publicSettings is a JSON *string* here, unlike ExtensionsConfig. */
export function renderVmSettings(s: Scenario, r: Rendering): string {
  const egs = s.extensions.map((e) => {
    const loc = `${r.blob}${manifestPath(e.name)}`;
    const settingsOf = (pub: unknown, prot: string | undefined, seqNo: number, mc?: McExtension): Record<string, unknown> => {
      const o: Record<string, unknown> = {};
      if (prot !== undefined) {
        o.protectedSettingsCertThumbprint = r.fabricThumbprint;
        o.protectedSettings = prot;
      }
      o.publicSettings = pub === undefined ? null : JSON.stringify(pub);
      o.seqNo = seqNo;
      if (mc) {
        o.extensionName = mc.name;
        o.extensionState = mc.state;
      }
      return o;
    };
    const g: Record<string, unknown> = {
      name: e.name,
      version: e.version,
      location: loc,
      failoverLocation: e.failoverManifest ? `${r.blob}${failoverManifestPath(e.name)}` : loc,
      additionalLocations: [],
      state: e.state,
      autoUpgrade: false,
      runAsStartupTask: false,
      isJson: true,
      useExactVersion: true,
      settingsSeqNo: e.settings?.seqNo ?? 0,
      isMultiConfig: Boolean(e.multiConfig),
    };
    const sig = r.signatures?.get(e.name);
    if (sig) g.encodedSignature = sig;
    if (e.multiConfig) {
      g.settings = e.multiConfig.map((mc) => settingsOf(mc.publicSettings, r.protectedBlobs.get(protectedKey(e, mc)), mc.seqNo, mc));
      g.dependsOn = e.multiConfig.filter((mc) => mc.dependsOn).map((mc) => ({
        dependsOnExtension: mc.dependsOn!.on.map((o) => ({ handler: o.handler, ...(o.extension !== undefined ? { extension: o.extension } : {}) })),
        dependencyLevel: mc.dependsOn!.dependencyLevel,
        name: mc.name,
      }));
    } else {
      if (e.settings) g.settings = [settingsOf(e.settings.publicSettings, r.protectedBlobs.get(protectedKey(e)), e.settings.seqNo)];
      if (e.dependsOn) {
        g.dependsOn = [{
          dependsOnExtension: e.dependsOn.on.map((o) => ({ handler: o.handler, ...(o.extension !== undefined ? { extension: o.extension } : {}) })),
          dependencyLevel: e.dependsOn.dependencyLevel,
        }];
      }
    }
    return g;
  });
  const doc: Record<string, unknown> = {
    hostGAPluginVersion: s.vmSettings.hostGAPluginVersion,
    vmSettingsSchemaVersion: '0.0',
    activityId: r.activityId,
    correlationId: r.correlationId,
    inSvdSeqNo: r.incarnation,
    extensionsLastModifiedTickCount: Number(r.createdTicks),
    extensionGoalStatesSource: s.vmSettings.source,
    onHold: s.onHold,
    statusUploadBlob: { statusBlobType: s.statusBlobType, value: r.statusBlobUrl },
    inVMMetadata: {
      subscriptionId: s.vm.subscriptionId, resourceGroupName: s.vm.resourceGroupName, vmName: s.vm.vmName,
      location: s.vm.location, vmId: s.vm.vmId, vmSize: s.vm.vmSize, osType: 'Linux',
    },
    requiredFeatures: s.extensions.some((e) => e.multiConfig) ? [{ name: 'MultipleExtensionsPerHandler' }] : [],
    gaFamilies: [{ name: 'Prod', uris: [r.blob + GA_MANIFEST_PATH] }],
    extensionGoalStates: egs,
  };
  // JSON.stringify cannot print an integer above 2^53 exactly; ticks are written as the raw digits.
  return JSON.stringify(doc, null, 2).replace(/"extensionsLastModifiedTickCount": \d+/, `"extensionsLastModifiedTickCount": ${r.createdTicks}`);
}

export function renderOvfEnvWith(s: Scenario, keys: { thumbprints: Map<string, string>; publicKeys: Map<string, string> }): string {
  const u = s.user;
  return ovfEnvXml({
    host: s.vm.hostname, user: u.name, ...(u.password !== undefined ? { password: u.password } : {}),
    disable: Boolean(u.disableSshPasswordAuthentication),
    keys: s.sshKeys.filter((k) => k.ovf !== 'none').map((k) => ({
      path: k.path,
      fingerprint: k.ovf === 'thumbprint' ? keys.thumbprints.get(k.id) ?? '' : '',
      ...(k.ovf === 'inline' ? { value: k.value ?? keys.publicKeys.get(k.id) ?? '' } : {}),
    })),
    ...(s.customData !== undefined ? { customData: s.customData } : {}),
    provisionGuestAgent: s.provisionGuestAgent ? 'true' : 'false',
    ...(s.ppsType !== 'None' ? { pps: s.ppsType } : {}),
  });
}

/** IMDS /metadata/instance (api-version 2021-era shape: compute + network). */
export function imdsInstance(s: Scenario, publicKeys: Map<string, string>): Record<string, unknown> {
  const v = s.vm;
  const keys = s.sshKeys.filter((k) => k.imds).map((k) => ({ keyData: k.value ?? publicKeys.get(k.id) ?? '', path: k.path.replace('$HOME', '/home') }));
  return {
    compute: {
      azEnvironment: 'AzurePublicCloud',
      customData: '',
      evictionPolicy: '',
      isHostCompatibilityLayerVm: 'false',
      licenseType: '',
      location: v.location,
      name: v.vmName,
      offer: 'waagent-sea-test',
      osProfile: {
        adminUsername: s.user.name,
        computerName: v.hostname,
        disablePasswordAuthentication: s.user.disableSshPasswordAuthentication ? 'true' : 'false',
      },
      osType: 'Linux',
      placementGroupId: '',
      plan: { name: '', product: '', publisher: '' },
      platformFaultDomain: '0',
      platformUpdateDomain: '0',
      priority: '',
      provider: 'Microsoft.Compute',
      publicKeys: keys,
      publisher: '',
      resourceGroupName: v.resourceGroupName,
      resourceId: `/subscriptions/${v.subscriptionId}/resourceGroups/${v.resourceGroupName}/providers/Microsoft.Compute/virtualMachines/${v.vmName}`,
      securityProfile: { secureBootEnabled: 'false', virtualTpmEnabled: 'false' },
      sku: '',
      storageProfile: {},
      subscriptionId: v.subscriptionId,
      tags: '',
      tagsList: [],
      userData: s.userData !== undefined ? Buffer.from(s.userData, 'utf8').toString('base64') : '',
      version: '',
      vmId: v.vmId,
      vmScaleSetName: '',
      vmSize: v.vmSize,
      zone: '',
    },
    network: {
      interface: [{
        ipv4: { ipAddress: [{ privateIpAddress: v.privateIp, publicIpAddress: '' }], subnet: [{ address: v.privateIp.replace(/\.\d+$/, '.0'), prefix: '24' }] },
        ipv6: { ipAddress: [] },
        macAddress: v.macAddress,
      }],
    },
  };
}

/** The RemoteAccess document (docs/protocol.md §1.9); `passwords` are the base64 CMS envelopes, in user order. */
export function renderRemoteAccess(s: Scenario, r: Rendering, passwords: string[]): string {
  const users = (s.remoteAccess?.users ?? []).map((u, i) => `    <User>
      <Name>${x(u.name)}</Name>
      <Password>${passwords[i] ?? ''}</Password>
      <Expiration>${x(u.expiration)}</Expiration>
      <Groups>
${u.groups.map((g) => `        <GroupName>${x(g)}</GroupName>\n`).join('')}      </Groups>
    </User>
`).join('');
  return `<?xml version="1.0" encoding="utf-8"?>
<RemoteAccess>
  <Version>1</Version>
  <Incarnation>${r.incarnation}</Incarnation>
  <Users>
${users}  </Users>
</RemoteAccess>
`;
}
