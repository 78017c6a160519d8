// WireServer documents of the goal-state round: versions (§1.3), GoalState (§1.4) and
// HostingEnvironmentConfig (§1.5). Pure parsers: text in, typed model out, DocumentError on bad input.
import type { GoalState, GoalStateUrls, HostingEnvironment } from './types.ts';
import { DocumentError } from './errors.ts';
import { all, expectRoot, first, firstText, parseDoc, requireFirst } from './xmldoc.ts';

export const WIRE_PROTOCOL_VERSION = '2012-11-30';

/** OK if 2012-11-30 is preferred or supported (the Python agent's test). */
export function parseVersions(text: string): { preferred: string; supported: string[]; ok: boolean } {
  const root = parseDoc(text, 'Versions');
  expectRoot(root, 'Versions', 'Versions');
  const preferred = firstText(first(root, 'Preferred'), 'Version') ?? '';
  const supported = all(first(root, 'Supported'), 'Version').map((v) => v.text.trim()).filter(Boolean);
  return { preferred, supported, ok: preferred === WIRE_PROTOCOL_VERSION || supported.includes(WIRE_PROTOCOL_VERSION) };
}

/** Thrown (and retried by the caller a few times) when the fabric sends a goal state without RoleInstance. */
export class NoRoleInstanceError extends DocumentError {
  static override readonly errorName: string = 'NoRoleInstanceError';
  constructor() {
    super('GoalState', 'fetched goal state without a RoleInstance', 'RoleInstance');
  }
}

export function parseGoalState(text: string): GoalState {
  const doc = 'GoalState';
  const root = parseDoc(text, doc);
  expectRoot(root, doc, 'GoalState');
  const incarnation = requireFirst(root, doc, 'Incarnation');
  const container = first(root, 'Container');
  if (!container) throw new DocumentError(doc, 'missing required element', 'Container');
  const containerId = requireFirst(container, doc, 'ContainerId');
  const role = first(container, 'RoleInstance');
  if (!role) throw new NoRoleInstanceError();
  const instanceId = requireFirst(role, doc, 'InstanceId');
  const conf = first(role, 'Configuration');
  const configName = firstText(conf, 'ConfigName') ?? '';
  const url = (name: string): string | undefined => {
    const t = firstText(root, name);
    return t ? t : undefined;
  };
  const urls: GoalStateUrls = {};
  const set = (k: keyof GoalStateUrls, v: string | undefined) => { if (v) urls[k] = v; };
  set('hostingEnvironmentConfig', url('HostingEnvironmentConfig'));
  set('sharedConfig', url('SharedConfig'));
  set('extensionsConfig', url('ExtensionsConfig'));
  set('fullConfig', url('FullConfig'));
  set('certificates', url('Certificates'));
  const ra = firstText(container, 'RemoteAccessInfo');
  if (ra) urls.remoteAccessInfo = ra;
  for (const [k, v] of Object.entries(urls)) {
    if (!/^https?:\/\//i.test(v)) throw new DocumentError(doc, `not an http(s) URL`, k);
  }
  return {
    incarnation,
    containerId,
    instanceId,
    configName,
    deploymentId: configName.split('.')[0] ?? '',
    expectedState: firstText(first(root, 'Machine'), 'ExpectedState') ?? '',
    roleInstanceState: role.children.find((c) => c.local === 'State')?.text.trim() ?? '',
    urls,
  };
}

export function parseHostingEnvironment(text: string): HostingEnvironment {
  const doc = 'HostingEnvironmentConfig';
  const root = parseDoc(text, doc);
  expectRoot(root, doc, 'HostingEnvironmentConfig');
  const inc = first(root, 'Incarnation');
  const role = first(root, 'Role');
  const dep = first(root, 'Deployment');
  if (!inc || inc.attrs.instance === undefined) throw new DocumentError(doc, 'missing attribute instance', 'Incarnation');
  if (!role || role.attrs.name === undefined) throw new DocumentError(doc, 'missing attribute name', 'Role');
  if (!dep || dep.attrs.name === undefined) throw new DocumentError(doc, 'missing attribute name', 'Deployment');
  return { vmName: inc.attrs.instance, roleName: role.attrs.name, deploymentName: dep.attrs.name };
}

/** SharedConfig is not interpreted, only checked to be XML with the right root before it is saved. */
export function checkSharedConfig(text: string): void {
  const root = parseDoc(text, 'SharedConfig');
  expectRoot(root, 'SharedConfig', 'SharedConfig');
}
