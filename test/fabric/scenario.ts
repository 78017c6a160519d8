// Scenario files: what the simulated Azure tells the VM. Validated field by field on load so a
// typo in a test's scenario fails with "<file>: <field>: <problem>" instead of a confusing agent run.
import { readFileSync } from 'node:fs';

export type Endpoint = 'wire' | 'hgap' | 'imds' | 'blob';
export const ENDPOINTS: readonly Endpoint[] = ['wire', 'hgap', 'imds', 'blob'];

export interface VmIdentity {
  vmId: string;
  containerId: string;
  /** RoleInstance/InstanceId in the goal state; default `<deploymentId>.<roleName>_IN_0`. */
  roleInstanceId: string;
  roleName: string;
  deploymentId: string;
  hostname: string;
  vmName: string;
  location: string;
  vmSize: string;
  subscriptionId: string;
  resourceGroupName: string;
  macAddress: string;
  privateIp: string;
}

export interface SshKeySpec {
  /** Names the generated key pair (cached in workDir under this id). */
  id: string;
  /** Where ovf-env.xml carries it: inline `Value`, a certificate `Fingerprint`, or not at all. */
  ovf: 'inline' | 'thumbprint' | 'none';
  /** Listed in IMDS compute.publicKeys. */
  imds: boolean;
  /** authorized_keys path as Azure writes it (`$HOME/<user>/.ssh/authorized_keys`). */
  path: string;
  /** A fixed OpenSSH public key; only for ovf "inline"/imds (a thumbprint key must be generated). */
  value?: string;
}

export interface ExtSettings {
  seqNo: number;
  publicSettings?: unknown;
  protectedSettings?: unknown;
}

export interface McExtension extends ExtSettings {
  name: string;
  state: 'enabled' | 'disabled';
  dependsOn?: DependsOn;
}

export interface DependsOn {
  dependencyLevel: number;
  on: Array<{ handler: string; extension?: string }>;
}

export interface ExtensionSpec {
  name: string;
  version: string;
  /** Every version listed in the manifest (default [version]); each needs a package dir. */
  versions: string[];
  state: 'enabled' | 'disabled' | 'uninstall';
  /** Single-config settings (absent for multi-config or for a handler without settings). */
  settings?: ExtSettings;
  multiConfig?: McExtension[];
  dependsOn?: DependsOn;
  /** Package dir name under test/fabric/extensions (default = name). */
  package: string;
  /**
   * encodedSignature of the requested version (default none): 'valid' signs the package with the fabric's
   * test root (signing.ts); 'tampered' signs it but serves a modified package; 'garbage' is not a signature.
   */
  signature?: 'valid' | 'tampered' | 'garbage';
  /** failoverlocation names a second manifest URI (same manifest, other path) instead of repeating location. */
  failoverManifest?: boolean;
}

/** noRoleInstance: the goal state answers without RoleInstanceList (agents re-GET it, docs/protocol.md 1.4). */
export type FaultAction = 'status' | 'delay' | 'reset' | 'truncate' | 'short' | 'flip' | 'garble' | 'gone' | 'noRoleInstance';

export interface Fault {
  endpoint: Endpoint;
  /** Substring of path+query (e.g. "comp=goalstate", "/vmSettings"); "" matches all. */
  path: string;
  method?: string;
  action: FaultAction;
  /** For action "status". */
  status?: number;
  /** For action "delay" (the answer is then given normally). */
  delayMs?: number;
  /** How many matching requests are hit (default 1); 0 = all of them. */
  count: number;
  /** Matching requests let through before the fault starts (default 0). */
  skip: number;
}

export interface RemoteAccessUserSpec {
  name: string;
  /** Plain text; served as a CMS envelope (UTF-16LE inside) to the agent's transport certificate. */
  password: string;
  /** As Azure sends it, e.g. "Mon, 01 Jan 2029 00:00:00 GMT" (any text: agents must validate it). */
  expiration: string;
  groups: string[];
}

export interface TimelineEvent {
  afterSeconds?: number;
  /** Fires when this many requests (matching endpoint/path if given) have been answered. */
  atRequest?: { count: number; endpoint?: Endpoint; path?: string };
  /** JSON merge patch applied to the scenario; always bumps the incarnation. */
  patch: Record<string, unknown>;
}

export interface Scenario {
  name: string;
  vm: VmIdentity;
  user: { name: string; password?: string; disableSshPasswordAuthentication: boolean };
  sshKeys: SshKeySpec[];
  /** Plain text; ovf-env.xml carries it base64-encoded. */
  customData?: string;
  /** IMDS compute.userData (plain text; served base64). */
  userData?: string;
  provisionGuestAgent: boolean;
  incarnation: number;
  /**
   * `newerBySeconds`: vmSettings' extensionsLastModifiedTickCount lies this much after ExtensionsConfig's
   * createdOnTicks (default 0: the same moment, and the agent keeps the WireServer's goal state on a tie),
   * so a Fast Track goal state can win the selection of docs/protocol.md §2.4.
   */
  vmSettings: { enabled: boolean; source: 'FastTrack' | 'Fabric'; hostGAPluginVersion: string; newerBySeconds: number };
  statusBlobType: 'BlockBlob' | 'PageBlob';
  /** Use `/provisioning/health` JSON answers (404 when false, as hosts without it might). */
  provisioningHealthJson: boolean;
  /** IMDS /metadata/reprovisiondata answers the ovf-env (else 404). */
  reprovisionData: boolean;
  /**
   * Pre-provisioned pool VM: ovf-env carries PreprovisionedVm=true and this PreprovisionedVMType, IMDS
   * extended.compute.ppsType says it. 'None' (default): an ordinary VM. A test assigns the VM with
   * update({ ppsType: 'None', reprovisionData: true, user/vm changes }).
   */
  ppsType: 'None' | 'Running' | 'Savable' | 'PreprovisionedOSDisk';
  /** How the Certificates CMS names its recipient: subjectKeyIdentifier (as Azure's fixture) or issuer+serial. */
  certRecipient: 'ski' | 'issuerSerial';
  /**
   * The Certificates answer: 'pfx' (normal); 'absent' (no Certificates URL in the goal state);
   * 'notPfx' (Format CertificatesNonPfxPackage: agents take it as "no certificates"); 'emptyFormat'
   * (an empty Format, still a PFX); 'wrongKey' (enveloped to another key: decryption must fail).
   */
  certificates: 'pfx' | 'absent' | 'notPfx' | 'emptyFormat' | 'wrongKey';
  /** The VM is on hold: vmSettings onHold, and ExtensionsConfig names an InVMArtifactsProfileBlob saying so. */
  onHold: boolean;
  extensions: ExtensionSpec[];
  /** JIT users (RemoteAccess document, docs/protocol.md §1.9); absent: the goal state names no RemoteAccessInfo. */
  remoteAccess?: { users: RemoteAccessUserSpec[] };
  timeline: TimelineEvent[];
  faults: Fault[];
}

export class ScenarioError extends Error {
  readonly source: string;
  readonly field: string;
  constructor(source: string, field: string, problem: string) {
    super(`${source}: ${field}: ${problem}`);
    this.name = 'ScenarioError';
    this.source = source;
    this.field = field;
  }
}

type Obj = Record<string, unknown>;

/** Reads and validates a scenario file. */
export function loadScenarioFile(file: string): Scenario {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ScenarioError(file, '(file)', `cannot read: ${(e as Error).message}`);
  }
  if (text.length > 1 << 20) throw new ScenarioError(file, '(file)', 'larger than 1 MiB');
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ScenarioError(file, '(file)', `not JSON: ${(e as Error).message}`);
  }
  return validateScenario(raw, file);
}

/** JSON merge patch (RFC 7386): objects merge, null deletes, everything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const VERSION = /^\d+(\.\d+){0,3}$/;

/** Validates a parsed scenario (from a file or built by a test); `source` names it in errors. */
export function validateScenario(raw: unknown, source = 'scenario'): Scenario {
  const v = new Validator(source);
  const root = v.obj(raw, '');
  const vmRaw = v.obj(root.vm, 'vm');
  const deploymentId = v.str(vmRaw, 'vm', 'deploymentId', { def: 'b0a6a5e4c7f14c5e9f1d2a3b4c5d6e7f', re: /^[A-Za-z0-9-]{1,64}$/ });
  const roleName = v.str(vmRaw, 'vm', 'roleName', { def: 'waagent-box', re: NAME });
  const hostname = v.str(vmRaw, 'vm', 'hostname', { re: /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/ });
  const vm: VmIdentity = {
    vmId: v.str(vmRaw, 'vm', 'vmId', { re: GUID }),
    containerId: v.str(vmRaw, 'vm', 'containerId', { re: GUID }),
    roleName,
    deploymentId,
    roleInstanceId: v.str(vmRaw, 'vm', 'roleInstanceId', { def: `${deploymentId}.${roleName}_IN_0`, re: /^[A-Za-z0-9._-]{1,128}$/ }),
    hostname,
    vmName: v.str(vmRaw, 'vm', 'vmName', { def: hostname, re: NAME }),
    location: v.str(vmRaw, 'vm', 'location', { def: 'westeurope', re: /^[a-z0-9]{1,40}$/ }),
    vmSize: v.str(vmRaw, 'vm', 'vmSize', { def: 'Standard_D2s_v5', re: NAME }),
    subscriptionId: v.str(vmRaw, 'vm', 'subscriptionId', { def: '00000000-1111-2222-3333-444444444444', re: GUID }),
    resourceGroupName: v.str(vmRaw, 'vm', 'resourceGroupName', { def: 'waagent-test-rg', re: NAME }),
    macAddress: v.str(vmRaw, 'vm', 'macAddress', { def: '000D3A123456', re: /^[0-9A-F]{12}$/ }),
    privateIp: v.str(vmRaw, 'vm', 'privateIp', { def: '10.0.0.4', re: /^\d{1,3}(\.\d{1,3}){3}$/ }),
  };
  v.noExtra(vmRaw, 'vm', ['vmId', 'containerId', 'roleInstanceId', 'roleName', 'deploymentId', 'hostname', 'vmName',
    'location', 'vmSize', 'subscriptionId', 'resourceGroupName', 'macAddress', 'privateIp']);

  const userRaw = v.obj(root.user, 'user');
  const user = {
    name: v.str(userRaw, 'user', 'name', { re: /^[a-z_][a-z0-9_-]{0,31}$/ }),
    password: v.optStr(userRaw, 'user', 'password'),
    disableSshPasswordAuthentication: v.bool(userRaw, 'user', 'disableSshPasswordAuthentication', false),
  };
  v.noExtra(userRaw, 'user', ['name', 'password', 'disableSshPasswordAuthentication']);

  const sshKeys = v.arr(root.sshKeys ?? [], 'sshKeys').map((k, i): SshKeySpec => {
    const f = `sshKeys[${i}]`;
    const o = v.obj(k, f);
    const spec: SshKeySpec = {
      id: v.str(o, f, 'id', { re: NAME }),
      ovf: v.oneOf(o, f, 'ovf', ['inline', 'thumbprint', 'none'] as const, 'inline'),
      imds: v.bool(o, f, 'imds', true),
      path: v.str(o, f, 'path', { def: `$HOME/${user.name}/.ssh/authorized_keys` }),
    };
    const value = v.optStr(o, f, 'value');
    if (value !== undefined) {
      if (!/^ssh-[a-z0-9-]+ [A-Za-z0-9+/=]+( .*)?$/.test(value)) throw new ScenarioError(source, `${f}.value`, 'not an OpenSSH public key line');
      if (spec.ovf === 'thumbprint') throw new ScenarioError(source, `${f}.value`, 'a thumbprint key is generated; it cannot have a fixed value');
      spec.value = value;
    }
    v.noExtra(o, f, ['id', 'ovf', 'imds', 'path', 'value']);
    return spec;
  });
  const ids = new Set<string>();
  sshKeys.forEach((k, i) => {
    if (ids.has(k.id)) throw new ScenarioError(source, `sshKeys[${i}].id`, `duplicate id "${k.id}"`);
    ids.add(k.id);
  });

  const vsRaw = root.vmSettings === undefined ? {} : root.vmSettings;
  let vmSettings: Scenario['vmSettings'];
  if (typeof vsRaw === 'boolean') {
    vmSettings = { enabled: vsRaw, source: 'FastTrack', hostGAPluginVersion: '1.0.8.179', newerBySeconds: 0 };
  } else {
    const o = v.obj(vsRaw, 'vmSettings');
    vmSettings = {
      enabled: v.bool(o, 'vmSettings', 'enabled', true),
      source: v.oneOf(o, 'vmSettings', 'source', ['FastTrack', 'Fabric'] as const, 'FastTrack'),
      hostGAPluginVersion: v.str(o, 'vmSettings', 'hostGAPluginVersion', { def: '1.0.8.179', re: VERSION }),
      newerBySeconds: v.int(o, 'vmSettings', 'newerBySeconds', { def: 0, min: 0, max: 86400 }),
    };
    v.noExtra(o, 'vmSettings', ['enabled', 'source', 'hostGAPluginVersion', 'newerBySeconds']);
  }

  const extensions = v.arr(root.extensions ?? [], 'extensions').map((e, i) => validateExtension(v, e, `extensions[${i}]`));
  const extNames = new Set<string>();
  extensions.forEach((e, i) => {
    const k = e.name.toLowerCase();
    if (extNames.has(k)) throw new ScenarioError(source, `extensions[${i}].name`, `duplicate extension "${e.name}"`);
    extNames.add(k);
  });

  const timeline = v.arr(root.timeline ?? [], 'timeline').map((t, i): TimelineEvent => {
    const f = `timeline[${i}]`;
    const o = v.obj(t, f);
    const ev: TimelineEvent = { patch: o.patch === undefined ? {} : v.obj(o.patch, `${f}.patch`) };
    if (o.afterSeconds !== undefined) ev.afterSeconds = v.num(o, f, 'afterSeconds', { min: 0, max: 86400 });
    if (o.atRequest !== undefined) {
      const a = v.obj(o.atRequest, `${f}.atRequest`);
      ev.atRequest = { count: v.int(a, `${f}.atRequest`, 'count', { min: 1, max: 1e9 }) };
      if (a.endpoint !== undefined) ev.atRequest.endpoint = v.oneOf(a, `${f}.atRequest`, 'endpoint', ENDPOINTS, 'wire');
      if (a.path !== undefined) ev.atRequest.path = v.str(a, `${f}.atRequest`, 'path', { def: '' });
      v.noExtra(a, `${f}.atRequest`, ['count', 'endpoint', 'path']);
    }
    if ((ev.afterSeconds === undefined) === (ev.atRequest === undefined)) {
      throw new ScenarioError(source, f, 'needs exactly one of afterSeconds or atRequest');
    }
    if ('timeline' in ev.patch || 'faults' in ev.patch) throw new ScenarioError(source, `${f}.patch`, 'cannot change timeline or faults');
    v.noExtra(o, f, ['afterSeconds', 'atRequest', 'patch']);
    return ev;
  });

  const faults = v.arr(root.faults ?? [], 'faults').map((x, i): Fault => {
    const f = `faults[${i}]`;
    const o = v.obj(x, f);
    const fault: Fault = {
      endpoint: v.oneOf(o, f, 'endpoint', ENDPOINTS, 'wire'),
      path: v.str(o, f, 'path', { def: '' }),
      action: v.oneOf(o, f, 'action', ['status', 'delay', 'reset', 'truncate', 'short', 'flip', 'garble', 'gone', 'noRoleInstance'] as const, 'status'),
      count: v.int(o, f, 'count', { def: 1, min: 0, max: 1e6 }),
      skip: v.int(o, f, 'skip', { def: 0, min: 0, max: 1e6 }),
    };
    if (o.method !== undefined) fault.method = v.oneOf(o, f, 'method', ['GET', 'POST', 'PUT', 'HEAD'] as const, 'GET');
    if (fault.action === 'status') fault.status = v.int(o, f, 'status', { min: 100, max: 599 });
    else if (o.status !== undefined) throw new ScenarioError(source, `${f}.status`, `only for action "status"`);
    if (fault.action === 'delay') fault.delayMs = v.int(o, f, 'delayMs', { min: 0, max: 600_000 });
    else if (o.delayMs !== undefined) throw new ScenarioError(source, `${f}.delayMs`, `only for action "delay"`);
    v.noExtra(o, f, ['endpoint', 'path', 'method', 'action', 'status', 'delayMs', 'count', 'skip']);
    return fault;
  });

  let remoteAccess: Scenario['remoteAccess'];
  if (root.remoteAccess !== undefined) {
    const ra = v.obj(root.remoteAccess, 'remoteAccess');
    v.noExtra(ra, 'remoteAccess', ['users']);
    remoteAccess = {
      users: v.arr(ra.users ?? [], 'remoteAccess.users').map((raw, i) => {
        const f = `remoteAccess.users[${i}]`;
        const o = v.obj(raw, f);
        v.noExtra(o, f, ['name', 'password', 'expiration', 'groups']);
        // Names are deliberately not checked beyond XML safety: tests send reserved and hostile ones.
        return {
          name: v.str(o, f, 'name', { re: /^[^<>&\s]{1,64}$/ }), password: v.str(o, f, 'password'), expiration: v.str(o, f, 'expiration'),
          groups: v.arr(o.groups ?? [], `${f}.groups`).map((g, j) => { if (typeof g !== 'string') throw new ScenarioError(source, `${f}.groups[${j}]`, 'expected a string'); return g; }),
        };
      }),
    };
  }

  const scenario: Scenario = {
    name: v.str(root, '', 'name', { def: 'scenario', re: NAME }),
    vm,
    user,
    sshKeys,
    customData: v.optStr(root, '', 'customData'),
    userData: v.optStr(root, '', 'userData'),
    provisionGuestAgent: v.bool(root, '', 'provisionGuestAgent', true),
    incarnation: v.int(root, '', 'incarnation', { def: 1, min: 1, max: 2 ** 31 }),
    vmSettings,
    statusBlobType: v.oneOf(root, '', 'statusBlobType', ['BlockBlob', 'PageBlob'] as const, 'BlockBlob'),
    provisioningHealthJson: v.bool(root, '', 'provisioningHealthJson', true),
    reprovisionData: v.bool(root, '', 'reprovisionData', false),
    ppsType: v.oneOf(root, '', 'ppsType', ['None', 'Running', 'Savable', 'PreprovisionedOSDisk'] as const, 'None'),
    certRecipient: v.oneOf(root, '', 'certRecipient', ['ski', 'issuerSerial'] as const, 'ski'),
    onHold: v.bool(root, '', 'onHold', false),
    certificates: v.oneOf(root, '', 'certificates', ['pfx', 'absent', 'notPfx', 'emptyFormat', 'wrongKey'] as const, 'pfx'),
    extensions,
    ...(remoteAccess ? { remoteAccess } : {}),
    timeline,
    faults,
  };
  if (scenario.customData !== undefined && scenario.customData.length > 64 * 1024) {
    throw new ScenarioError(source, 'customData', 'longer than 64 KiB (Azure limit)');
  }
  v.noExtra(root, '', ['$comment', 'name', 'vm', 'user', 'sshKeys', 'customData', 'userData', 'provisionGuestAgent', 'incarnation',
    'vmSettings', 'statusBlobType', 'provisioningHealthJson', 'reprovisionData', 'ppsType', 'certRecipient', 'certificates', 'onHold', 'extensions', 'remoteAccess', 'timeline', 'faults']);
  return scenario;
}

function validateExtension(v: Validator, raw: unknown, f: string): ExtensionSpec {
  let o = v.obj(raw, f);
  const name = v.str(o, f, 'name', { re: /^[A-Za-z0-9][A-Za-z0-9.]{0,127}$/ });
  const version = v.str(o, f, 'version', { re: VERSION });
  const versions = o.versions === undefined ? [version]
    : v.arr(o.versions, `${f}.versions`).map((x, i) => {
      if (typeof x !== 'string' || !VERSION.test(x)) throw new ScenarioError(v.source, `${f}.versions[${i}]`, 'expected a version like "1.0.0"');
      return x;
    });
  if (!versions.includes(version)) throw new ScenarioError(v.source, `${f}.versions`, `does not list the requested version ${version}`);
  const ext: ExtensionSpec = {
    name,
    version,
    versions,
    state: v.oneOf(o, f, 'state', ['enabled', 'disabled', 'uninstall'] as const, 'enabled'),
    package: v.str(o, f, 'package', { def: name, re: /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/ }),
  };
  if (o.signature !== undefined) ext.signature = v.oneOf(o, f, 'signature', ['valid', 'tampered', 'garbage'] as const, 'valid');
  if (o.failoverManifest !== undefined) ext.failoverManifest = v.bool(o, f, 'failoverManifest', false);
  // The normalized form (`settings: {seqNo, publicSettings, protectedSettings}`) is accepted too, so
  // a validated Scenario object validates again unchanged.
  if (o.settings !== undefined) {
    if (o.publicSettings !== undefined || o.protectedSettings !== undefined || o.seqNo !== undefined) {
      throw new ScenarioError(v.source, `${f}.settings`, 'give either settings or seqNo/publicSettings/protectedSettings');
    }
    const so = v.obj(o.settings, `${f}.settings`);
    v.noExtra(so, `${f}.settings`, ['seqNo', 'publicSettings', 'protectedSettings']);
    o = { ...o, ...so };
    delete o.settings;
  }
  const hasSingle = o.publicSettings !== undefined || o.protectedSettings !== undefined || o.seqNo !== undefined;
  if (hasSingle && o.multiConfig !== undefined) throw new ScenarioError(v.source, `${f}.multiConfig`, 'cannot be combined with seqNo/publicSettings/protectedSettings');
  if (hasSingle) {
    ext.settings = { seqNo: v.int(o, f, 'seqNo', { def: 0, min: 0, max: 2 ** 31 }) };
    if (o.publicSettings !== undefined) ext.settings.publicSettings = v.json(o.publicSettings, `${f}.publicSettings`);
    if (o.protectedSettings !== undefined) ext.settings.protectedSettings = v.json(o.protectedSettings, `${f}.protectedSettings`);
  }
  if (o.dependsOn !== undefined) ext.dependsOn = validateDependsOn(v, o.dependsOn, `${f}.dependsOn`);
  if (o.multiConfig !== undefined) {
    const seen = new Set<string>();
    ext.multiConfig = v.arr(o.multiConfig, `${f}.multiConfig`).map((m, i) => {
      const g = `${f}.multiConfig[${i}]`;
      const mo = v.obj(m, g);
      const mc: McExtension = {
        name: v.str(mo, g, 'name', { re: /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/ }),
        state: v.oneOf(mo, g, 'state', ['enabled', 'disabled'] as const, 'enabled'),
        seqNo: v.int(mo, g, 'seqNo', { def: 0, min: 0, max: 2 ** 31 }),
      };
      if (seen.has(mc.name)) throw new ScenarioError(v.source, `${g}.name`, `duplicate "${mc.name}"`);
      seen.add(mc.name);
      if (mo.publicSettings !== undefined) mc.publicSettings = v.json(mo.publicSettings, `${g}.publicSettings`);
      if (mo.protectedSettings !== undefined) mc.protectedSettings = v.json(mo.protectedSettings, `${g}.protectedSettings`);
      if (mo.dependsOn !== undefined) mc.dependsOn = validateDependsOn(v, mo.dependsOn, `${g}.dependsOn`);
      v.noExtra(mo, g, ['name', 'state', 'seqNo', 'publicSettings', 'protectedSettings', 'dependsOn']);
      return mc;
    });
  }
  v.noExtra(o, f, ['name', 'version', 'versions', 'state', 'package', 'failoverManifest', 'seqNo', 'publicSettings', 'protectedSettings', 'dependsOn', 'multiConfig', 'signature']);
  return ext;
}

function validateDependsOn(v: Validator, raw: unknown, f: string): DependsOn {
  const o = v.obj(raw, f);
  const d: DependsOn = {
    dependencyLevel: v.int(o, f, 'dependencyLevel', { def: 1, min: 0, max: 1000 }),
    on: v.arr(o.on ?? [], `${f}.on`).map((x, i) => {
      const g = `${f}.on[${i}]`;
      const xo = v.obj(x, g);
      const r: { handler: string; extension?: string } = { handler: v.str(xo, g, 'handler', { re: /^[A-Za-z0-9][A-Za-z0-9.]{0,127}$/ }) };
      const e = v.optStr(xo, g, 'extension');
      if (e !== undefined) r.extension = e;
      v.noExtra(xo, g, ['handler', 'extension']);
      return r;
    }),
  };
  v.noExtra(o, f, ['dependencyLevel', 'on']);
  return d;
}

class Validator {
  readonly source: string;
  constructor(source: string) { this.source = source; }

  private err(field: string, problem: string): never {
    throw new ScenarioError(this.source, field || '(root)', problem);
  }

  obj(x: unknown, field: string): Obj {
    if (!isObj(x)) this.err(field, x === undefined ? 'missing (expected an object)' : 'expected an object');
    return x;
  }

  arr(x: unknown, field: string): unknown[] {
    if (!Array.isArray(x)) this.err(field, 'expected an array');
    if (x.length > 1000) this.err(field, 'more than 1000 entries');
    return x;
  }

  str(o: Obj, base: string, key: string, opt: { def?: string; re?: RegExp } = {}): string {
    const field = base ? `${base}.${key}` : key;
    const x = o[key];
    if (x === undefined) {
      if (opt.def !== undefined) return opt.def;
      this.err(field, 'missing (expected a string)');
    }
    if (typeof x !== 'string') this.err(field, 'expected a string');
    if (x.length > 65536) this.err(field, 'longer than 64 KiB');
    if (opt.re && !opt.re.test(x)) this.err(field, `invalid value ${JSON.stringify(x.slice(0, 80))} (must match ${opt.re.source})`);
    return x;
  }

  optStr(o: Obj, base: string, key: string): string | undefined {
    if (o[key] === undefined || o[key] === null) return undefined;
    return this.str(o, base, key);
  }

  bool(o: Obj, base: string, key: string, def: boolean): boolean {
    const x = o[key];
    if (x === undefined) return def;
    if (typeof x !== 'boolean') this.err(base ? `${base}.${key}` : key, 'expected true or false');
    return x;
  }

  num(o: Obj, base: string, key: string, opt: { def?: number; min: number; max: number }): number {
    const field = base ? `${base}.${key}` : key;
    const x = o[key];
    if (x === undefined) {
      if (opt.def !== undefined) return opt.def;
      this.err(field, 'missing (expected a number)');
    }
    if (typeof x !== 'number' || !Number.isFinite(x)) this.err(field, 'expected a number');
    if (x < opt.min || x > opt.max) this.err(field, `out of range ${opt.min}..${opt.max}`);
    return x;
  }

  int(o: Obj, base: string, key: string, opt: { def?: number; min: number; max: number }): number {
    const n = this.num(o, base, key, opt);
    if (!Number.isInteger(n)) this.err(base ? `${base}.${key}` : key, 'expected an integer');
    return n;
  }

  oneOf<T extends string>(o: Obj, base: string, key: string, allowed: readonly T[], def: T): T {
    const field = base ? `${base}.${key}` : key;
    const x = o[key];
    if (x === undefined) return def;
    if (typeof x !== 'string' || !(allowed as readonly string[]).includes(x)) this.err(field, `expected one of ${allowed.join(', ')}`);
    return x as T;
  }

  json(x: unknown, field: string): unknown {
    if (!isObj(x)) this.err(field, 'expected a JSON object');
    if (JSON.stringify(x).length > 256 * 1024) this.err(field, 'larger than 256 KiB');
    return x;
  }

  noExtra(o: Obj, base: string, allowed: string[]): void {
    for (const k of Object.keys(o)) {
      if (!allowed.includes(k)) this.err(base ? `${base}.${k}` : k, 'unknown field');
    }
  }
}
