// Documents the agent POSTs to the WireServer: health (§1.10, XML and JSON), role properties (§1.11).
import type { GoalState, HealthReport } from './types.ts';
import { escapeXml } from '../util/xml.ts';

/** The WireServer limit is 4096 bytes; the Python agent keeps a 10 % margin. */
export const MAX_HEALTH_DESCRIPTION = 3686;

export function truncateDescription(s: string): string {
  // Cut on code points, never in the middle of a surrogate pair.
  const cps = Array.from(s);
  return cps.length > MAX_HEALTH_DESCRIPTION ? cps.slice(0, MAX_HEALTH_DESCRIPTION).join('') : s;
}

export function healthXml(gs: Pick<GoalState, 'incarnation' | 'containerId' | 'instanceId'>, r: HealthReport): string {
  const details = r.subStatus
    ? `<Details><SubStatus>${escapeXml(r.subStatus)}</SubStatus><Description>${escapeXml(truncateDescription(r.description ?? ''))}</Description></Details>`
    : '';
  return '<?xml version="1.0" encoding="utf-8"?>'
    + '<Health xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">'
    + `<GoalStateIncarnation>${escapeXml(gs.incarnation)}</GoalStateIncarnation>`
    + `<Container><ContainerId>${escapeXml(gs.containerId)}</ContainerId><RoleInstanceList><Role>`
    + `<InstanceId>${escapeXml(gs.instanceId)}</InstanceId>`
    + `<Health><State>${r.state}</State>${details}</Health>`
    + '</Role></RoleInstanceList></Container></Health>';
}

/** Body of POST /provisioning/health. */
export function healthJson(r: HealthReport): string {
  if (r.state === 'Ready' && !r.subStatus) return JSON.stringify({ state: 'Ready' });
  const body: { state: string; details?: { subStatus: string; description: string } } = { state: r.state };
  if (r.subStatus) body.details = { subStatus: r.subStatus, description: truncateDescription(r.description ?? '') };
  return JSON.stringify(body);
}

export function rolePropertiesXml(gs: Pick<GoalState, 'containerId' | 'instanceId'>, thumbprint: string): string {
  return '<?xml version="1.0" encoding="utf-8"?><RoleProperties><Container>'
    + `<ContainerId>${escapeXml(gs.containerId)}</ContainerId><RoleInstances><RoleInstance>`
    + `<Id>${escapeXml(gs.instanceId)}</Id><Properties>`
    + `<Property name="CertificateThumbprint" value="${escapeXml(thumbprint)}" />`
    + '</Properties></RoleInstance></RoleInstances></Container></RoleProperties>';
}
