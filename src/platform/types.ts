// Typed models of what the Azure fabric tells the agent (docs/protocol.md §1.4–1.8, §2.3, §3). These are the
// contract between the platform layer (which parses) and the features (which act): keep them stable.
// Every model is plain data (JSON-serialisable: no bigint, no Date, no class instances), so it can be
// logged after redaction, saved to history and compared in tests.

// ---------------------------------------------------------------------------------------------------
// WireServer goal state (§1.4)

/** The URLs a WireServer goal state points at. Absent documents are `undefined`. */
export interface GoalStateUrls {
  hostingEnvironmentConfig?: string;
  sharedConfig?: string;
  extensionsConfig?: string;
  /** Listed by the fabric, never fetched (the Python agent does not either). */
  fullConfig?: string;
  certificates?: string;
  /** JIT users (RemoteAccess, §1.9); searched under Container. */
  remoteAccessInfo?: string;
}

export interface GoalState {
  /** Opaque string; a change means a new WireServer goal state. */
  incarnation: string;
  /** Can change WITHOUT an incarnation change (refreshed on every GET; HGAP header x-ms-containerid). */
  containerId: string;
  /** RoleInstance/InstanceId: health reports, telemetry RoleInstanceName. */
  instanceId: string;
  /** RoleInstance/Configuration/ConfigName: HGAP header x-ms-host-config-name. May be '' on old hosts. */
  configName: string;
  /** First dot-separated token of configName (x-ms-vmagentlog-deploymentid). */
  deploymentId: string;
  /** Machine/ExpectedState (e.g. "Started"), '' if absent. */
  expectedState: string;
  /** RoleInstance/State, '' if absent. */
  roleInstanceState: string;
  urls: GoalStateUrls;
}

// ---------------------------------------------------------------------------------------------------
// HostingEnvironmentConfig / SharedConfig (§1.5)

export interface HostingEnvironment {
  /** Incarnation@instance. */
  vmName: string;
  /** Role@name (telemetry RoleName). */
  roleName: string;
  /** Deployment@name (telemetry TenantName). */
  deploymentName: string;
}

// ---------------------------------------------------------------------------------------------------
// Certificates (§1.6)

/** One entry of the certificate summary (saved as Certificates.json in history). */
export interface CertificateSummary {
  /** Uppercase hex SHA-1 of the certificate DER: Lib.Dir/<thumbprint>.crt (and .prv when hasPrivateKey). */
  thumbprint: string;
  hasPrivateKey: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Extensions goal state (ExtensionsConfig §1.7 or vmSettings §2.3), one model for both sources

export type BlobType = 'BlockBlob' | 'PageBlob';

export interface StatusUploadBlob {
  /** SAS URL (a secret in its query string: never log it unredacted). */
  url: string;
  /** Missing or invalid type in the document => 'BlockBlob'. */
  type: BlobType;
}

/** Requested handler state. 'disabled' is legacy (XML only) but still honoured. */
export type HandlerRequestedState = 'enabled' | 'disabled' | 'uninstall';

export interface GAFamily {
  name: string;
  /** RSM requested version, if any. */
  version?: string;
  fromVersion?: string;
  isVersionFromRSM: boolean;
  isVMEnabledForRSMUpgrades: boolean;
  /** Agent manifest URIs. */
  uris: string[];
}

export interface RequiredFeature {
  name: string;
  value?: string;
}

export interface DependsOnExtension {
  handler: string;
  /** Extension name (multi-config) if given. */
  extension?: string;
}

/**
 * One settings item ("extension") of a handler. Single-config handlers have at most one, named like the handler;
 * multi-config handlers have one per extension name.
 */
export interface ExtensionSettings {
  /** Handler name (single-config) or the extension name (multi-config). */
  name: string;
  /** seqNo / settingsSeqNo; drives config/<seq>.settings. */
  sequenceNumber: number;
  /** Always 'enabled' for single-config; multi-config items may be 'disabled'. */
  state: 'enabled' | 'disabled';
  /** DependsOn dependencyLevel; 0 when absent or not an integer. */
  dependencyLevel: number;
  /** Informational only: levels drive the order (docs/extensions.md §6.1). */
  dependsOn: DependsOnExtension[];
  /** Parsed JSON object (vmSettings' JSON string is parsed by the platform layer). null when absent. */
  publicSettings: Record<string, unknown> | null;
  /** base64 CMS envelope, copied verbatim to the settings file; never decrypted by the agent. SECRET. */
  protectedSettings: string | null;
  /** Uppercase thumbprint of the tenant cert that decrypts protectedSettings. */
  protectedSettingsCertThumbprint: string | null;
  /**
   * Set when the settings text was not valid JSON (ExtensionsConfig): the item is kept with its name and
   * sequence number and null settings so status can still be reported against it.
   */
  settingsError?: string;
}

export interface ExtensionHandler {
  /** Publisher.Type, e.g. Microsoft.Azure.Extensions.CustomScript. */
  name: string;
  /** Requested version (may be partial, e.g. "2.0"). */
  version: string;
  state: HandlerRequestedState;
  /** Manifest URIs in document order: location, failoverlocation, additionalLocations (caller shuffles). */
  manifestUris: string[];
  /** base64 PKCS#7 package signature, '' when absent. */
  encodedSignature: string;
  isMultiConfig: boolean;
  /** Settings items; empty when the handler has no settings (it then gets an empty 0.settings). */
  settings: ExtensionSettings[];
  /** Attributes kept for reporting; not used for decisions by the Python agent. */
  useExactVersion: boolean;
  autoUpgrade: boolean;
  /**
   * Set when the configuration of THIS handler is invalid (settings version mismatch, duplicate settings,
   * RuntimeSettings mixed with ExtensionRuntimeSettings, missing seqNo, empty state...). Other handlers
   * proceed; this one is reported as failed with this message.
   */
  invalidReason?: string;
}

export type ExtensionsSource = 'Fabric' | 'FastTrack';
export type ExtensionsChannel = 'WireServer' | 'HostGAPlugin';

export interface ExtensionsGoalState {
  /** 'incarnation_<n>' (WireServer) or 'etag_<etag>' (vmSettings). */
  id: string;
  /** 'FastTrack' only for vmSettings whose extensionGoalStatesSource is FastTrack. */
  source: ExtensionsSource;
  channel: ExtensionsChannel;
  /** WireServer incarnation this came with (ExtensionsConfig), '' for vmSettings. */
  incarnation: string;
  /** vmSettings ETag, '' for ExtensionsConfig. */
  etag: string;
  /**
   * What status reports as goalStateAggregateStatus.inSvdSeqNo: the WS incarnation for ExtensionsConfig
   * (not the InVMGoalStateMetaData attribute!), the vmSettings inSvdSeqNo for Fast Track.
   */
  inSvdSeqNo: string;
  /**
   * .NET ticks (100 ns since 0001-01-01Z) as a decimal string ('0' when unknown): the "created on" order of
   * Fabric vs Fast Track goal states. Compare with compareTicks() from src/platform/ticks.ts.
   */
  createdOnTicks: string;
  /** ISO-8601 of createdOnTicks ('0001-01-01T00:00:00.000Z' when unknown). */
  createdOn: string;
  activityId: string;
  correlationId: string;
  /** null: the document has none (the agent refreshes the goal state before giving up on status upload). */
  statusUploadBlob: StatusUploadBlob | null;
  requiredFeatures: RequiredFeature[];
  gaFamilies: GAFamily[];
  handlers: ExtensionHandler[];
  /**
   * vmSettings: its onHold value. ExtensionsConfig: false here; the feature fetches artifactsProfileUrl
   * (if set) and reads onHold from it (any failure => not on hold).
   */
  onHold: boolean;
  /** InVMArtifactsProfileBlob URL (SAS: secret), '' when absent or blank. */
  artifactsProfileUrl: string;
  /** vmSettings only: hostGAPluginVersion ('' otherwise). Signatures are honoured from 1.0.8.159. */
  hostGAPluginVersion: string;
}

/** The empty extensions goal state (no ExtensionsConfig in the goal state). */
export function emptyExtensionsGoalState(incarnation: string): ExtensionsGoalState {
  return {
    id: `incarnation_${incarnation}`, source: 'Fabric', channel: 'WireServer', incarnation, etag: '',
    inSvdSeqNo: incarnation, createdOnTicks: '0', createdOn: '0001-01-01T00:00:00.000Z',
    activityId: GUID_ZERO, correlationId: GUID_ZERO, statusUploadBlob: null, requiredFeatures: [],
    gaFamilies: [], handlers: [], onHold: false, artifactsProfileUrl: '', hostGAPluginVersion: '',
  };
}

export const GUID_ZERO = '00000000-0000-0000-0000-000000000000';

// ---------------------------------------------------------------------------------------------------
// Extension (plugin) manifest (§1.8)

export interface ManifestVersion {
  version: string;
  /** Package (zip) URLs. Empty when the manifest lists none (tolerated). */
  uris: string[];
  disallowMajorVersionUpgrade: boolean;
  /** From <InternalPlugins>. */
  isInternal: boolean;
}

export interface ExtensionManifest {
  versions: ManifestVersion[];
}

/** InVMArtifactsProfileBlob JSON; only onHold matters. */
export interface ArtifactsProfile {
  onHold: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Health (§1.10)

export type HealthState = 'Ready' | 'NotReady';

export interface HealthReport {
  state: HealthState;
  /** e.g. 'Provisioning', 'ProvisioningFailed'. Details are sent only when set. */
  subStatus?: string;
  description?: string;
}

// ---------------------------------------------------------------------------------------------------
// IMDS (§3)

export interface ImdsPublicKey {
  keyData: string;
  path: string;
}

export interface ImdsOsProfile {
  adminUsername: string;
  computerName: string;
  /** Normalised from "true"/"false" strings or booleans; undefined when absent. */
  disablePasswordAuthentication: boolean | undefined;
}

export interface ImdsInstance {
  vmId: string;
  name: string;
  location: string;
  vmSize: string;
  subscriptionId: string;
  resourceGroupName: string;
  publisher: string;
  offer: string;
  sku: string;
  version: string;
  osType: string;
  osProfile: ImdsOsProfile;
  publicKeys: ImdsPublicKey[];
  /** base64 userData, '' when absent. */
  userData: string;
  /** network.interface[].{macAddress, ipv4 private addresses}. */
  interfaces: { macAddress: string; privateIpv4: string[] }[];
  /** extended.compute.ppsType (pre-provisioned pools: None, Running, Savable, PreprovisionedOSDisk); '' when absent. */
  ppsType?: string;
}

// ---------------------------------------------------------------------------------------------------
// Status upload (§1.13)

export type StatusChannel = 'HostGAPlugin' | 'Direct';

export interface StatusUploadOutcome {
  /** True when one channel succeeded (only a successful upload counts). */
  ok: boolean;
  /** The channel that succeeded, if any. */
  channel?: StatusChannel;
  blobType: BlobType;
  /** What each attempted channel said, in order (redacted). */
  attempts: { channel: StatusChannel; ok: boolean; detail: string }[];
  /** HGAP answered 410 / InvalidContainerConfiguration: refresh the goal state (no direct fallback this round). */
  goalStateChanged: boolean;
}

// ---------------------------------------------------------------------------------------------------
// A complete WireServer goal state, as fetched when the incarnation changes (§1.4 order)

export interface FullGoalState {
  goalState: GoalState;
  /** null when the goal state lists no HostingEnvironmentConfig. */
  hostingEnvironment: HostingEnvironment | null;
  /** From ExtensionsConfig (the empty goal state when there is none). */
  extensions: ExtensionsGoalState;
  /** Certificates installed in Lib.Dir for this incarnation ([] when none). */
  certificates: CertificateSummary[];
}
