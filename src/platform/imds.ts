// Instance Metadata Service (docs/protocol.md §3). Optional: when it is absent or keeps failing, callers get an
// ImdsUnavailableError and fall back to other sources (ovf-env, certificates). Always direct, `Metadata: true`.
import type { ImdsInstance, ImdsOsProfile } from './types.ts';
import { bodyText, type HttpTransport } from './http.ts';
import { DEFAULT_POLICY, NO_RETRY, realClock, sendWithRetry, type Clock, type RetryPolicy } from './retry.ts';
import { DocumentError, HttpError, ImdsUnavailableError } from './errors.ts';
import { randomId } from '../util/unique.ts';
import { errorText } from '../util/errors.ts';

export { ImdsUnavailableError };

export const IMDS_URL = 'http://169.254.169.254';
export const IMDS_API_VERSION = '2021-08-01';
export const IMDS_FALLBACK_API_VERSION = '2019-06-01';
/** The api-version of 2.15's IMDS heartbeat. */
export const IMDS_HEALTH_API_VERSION = '2018-02-01';

/** IMDS retries 404/410/429/5xx (it answers those while the VM is being set up), bounded to 30 s. */
export const IMDS_POLICY: RetryPolicy = {
  ...DEFAULT_POLICY, maxAttempts: 5, maxTotalMs: 30_000, maxDelayMs: 5_000,
  retryCodes: new Set([404, 410, 429, 500, 502, 503, 504]), goneIsRetryable: true, throttleMaxAttempts: 5, throttleDelayMs: 1_000, throttleMaxDelayMs: 5_000,
};

export class ImdsClient {
  readonly baseUrl: string;
  private readonly transport: HttpTransport;
  private readonly clock: Clock;
  private readonly policy: RetryPolicy;
  constructor(o: { transport: HttpTransport; baseUrl?: string; clock?: Clock; policy?: RetryPolicy }) {
    this.baseUrl = (o.baseUrl ?? IMDS_URL).replace(/\/+$/, '');
    this.transport = o.transport;
    this.clock = o.clock ?? realClock;
    this.policy = o.policy ?? IMDS_POLICY;
  }

  /** The raw instance document (extended=true), falling back to an older api-version on 400. */
  async instanceJson(): Promise<unknown> {
    let lastStatus = 0;
    for (const [api, ext] of [[IMDS_API_VERSION, '&extended=true'], [IMDS_FALLBACK_API_VERSION, '']] as const) {
      let res;
      try {
        res = await sendWithRetry(this.transport, {
          method: 'GET', url: `${this.baseUrl}/metadata/instance?api-version=${api}${ext}`, doc: 'IMDS',
          headers: { Metadata: 'true' }, maxBytes: 1 << 20, connectTimeoutMs: 5_000, readTimeoutMs: 10_000,
        }, this.policy, this.clock);
      } catch (e) {
        throw new ImdsUnavailableError(`instance metadata not available: ${errorText(e)}`);
      }
      if (res.status === 200) {
        try {
          return JSON.parse(bodyText(res)) as unknown;
        } catch {
          throw new DocumentError('IMDS', 'instance document is not valid JSON');
        }
      }
      lastStatus = res.status;
      if (res.status !== 400) break;
    }
    throw new ImdsUnavailableError(`instance metadata answered HTTP ${lastStatus}`);
  }

  /**
   * The monitor's IMDS heartbeat (2.15 imds.validate): one GET of the instance document. Unhealthy only when
   * the service itself fails (5xx, 410) or answers 200 with a document lacking network/interface[0]'s
   * macAddress and ipv4 privateIpAddress; a connection failure or a client-side status is not the service's
   * fault (healthy, with the reason as the response).
   */
  async validate(): Promise<{ healthy: boolean; response: string }> {
    let res;
    try {
      res = await sendWithRetry(this.transport, {
        method: 'GET', url: `${this.baseUrl}/metadata/instance?api-version=${IMDS_HEALTH_API_VERSION}`, doc: 'IMDS health',
        headers: { Metadata: 'true' }, maxBytes: 1 << 20, connectTimeoutMs: 5_000, readTimeoutMs: 10_000,
      }, NO_RETRY, this.clock);
    } catch (e) {
      // A status the retry policy gave up on is the service's answer; anything else never reached it.
      if (e instanceof HttpError && e.status !== undefined) res = { status: e.status, headers: {}, body: Buffer.alloc(0) };
      else return { healthy: true, response: 'IMDS error in /metadata/instance: Unable to connect to endpoint' };
    }
    if (res.status >= 500 || res.status === 410) return { healthy: false, response: `IMDS error in /metadata/instance: HTTP ${res.status}` };
    if (res.status !== 200) return { healthy: true, response: `IMDS error in /metadata/instance: HTTP ${res.status}` };
    let j: unknown;
    try { j = JSON.parse(bodyText(res)); } catch (e) { return { healthy: false, response: `JSON parsing failed: ${errorText(e)}` }; }
    const path: [string, (v: unknown) => unknown][] = [
      ['network', (v) => (isObj(v) ? v.network : undefined)],
      ['interface', (v) => (isObj(v) && Array.isArray(v.interface) ? v.interface[0] : isObj(v) ? v.interface : undefined)],
    ];
    let cur: unknown = j;
    for (const [name, step] of path) {
      cur = step(cur);
      if (cur === undefined || cur === null) return { healthy: false, response: `Missing field: [${name}]` };
    }
    const nic = cur as Obj;
    if (nic.macAddress === undefined || nic.macAddress === null) return { healthy: false, response: 'Missing field: [macAddress]' };
    const v4 = isObj(nic.ipv4) ? nic.ipv4 : null;
    if (!v4) return { healthy: false, response: 'Missing field: [ipv4]' };
    const addr = Array.isArray(v4.ipAddress) ? v4.ipAddress[0] : undefined;
    if (!isObj(addr)) return { healthy: false, response: 'Missing field: [ipAddress]' };
    if (addr.privateIpAddress === undefined || addr.privateIpAddress === null) return { healthy: false, response: 'Missing field: [privateIpAddress]' };
    return { healthy: true, response: '' };
  }

  async instance(): Promise<ImdsInstance> {
    return parseImdsInstance(await this.instanceJson());
  }

  /**
   * ONE request for the pre-provisioned VM's new ovf-env.xml (docs/protocol.md §3.1): the text on 200,
   * the status otherwise (404/410 until the VM is assigned). The caller polls; transport errors throw.
   * A fresh x-ms-client-request-id per request, as cloud-init sends.
   */
  async reprovisionData(): Promise<{ status: number; text?: string }> {
    const res = await this.transport.send({
      method: 'GET', url: `${this.baseUrl}/metadata/reprovisiondata?api-version=${REPROVISION_API_VERSION}`, doc: 'IMDS reprovisiondata',
      headers: { Metadata: 'true', 'x-ms-client-request-id': randomId() }, maxBytes: 1 << 20,
      connectTimeoutMs: 30_000, readTimeoutMs: 30_000, totalTimeoutMs: 60_000,
    });
    return res.status === 200 ? { status: 200, text: bodyText(res) } : { status: res.status };
  }
}

export const REPROVISION_API_VERSION = '2019-06-01';


type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);

function s(o: unknown, key: string, field: string): string {
  const v = isObj(o) ? o[key] : undefined;
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new DocumentError('IMDS', 'expected a string', field);
}

export function parseImdsInstance(j: unknown): ImdsInstance {
  if (!isObj(j)) throw new DocumentError('IMDS', 'instance document is not a JSON object');
  const c = j.compute;
  if (!isObj(c)) throw new DocumentError('IMDS', 'missing object', 'compute');
  const vmId = s(c, 'vmId', 'compute.vmId');
  if (!vmId) throw new DocumentError('IMDS', 'missing required field', 'compute.vmId');
  const op = c.osProfile;
  if (op !== undefined && op !== null && !isObj(op)) throw new DocumentError('IMDS', 'expected an object', 'compute.osProfile');
  const dpa = isObj(op) ? op.disablePasswordAuthentication : undefined;
  const osProfile: ImdsOsProfile = {
    adminUsername: s(op, 'adminUsername', 'compute.osProfile.adminUsername'),
    computerName: s(op, 'computerName', 'compute.osProfile.computerName'),
    disablePasswordAuthentication: dpa === true || dpa === false ? dpa
      : typeof dpa === 'string' && /^(true|false)$/i.test(dpa.trim()) ? dpa.trim().toLowerCase() === 'true' : undefined,
  };
  const pk = c.publicKeys;
  if (pk !== undefined && pk !== null && !Array.isArray(pk)) throw new DocumentError('IMDS', 'expected an array', 'compute.publicKeys');
  const publicKeys = (Array.isArray(pk) ? pk : []).map((k, i) => ({
    keyData: s(k, 'keyData', `compute.publicKeys[${i}].keyData`).trim(),
    path: s(k, 'path', `compute.publicKeys[${i}].path`),
  })).filter((k) => k.keyData);
  const net = isObj(j.network) ? j.network.interface : undefined;
  const interfaces = (Array.isArray(net) ? net : []).filter(isObj).map((n) => {
    const v4 = isObj(n.ipv4) ? n.ipv4.ipAddress : undefined;
    return {
      macAddress: s(n, 'macAddress', 'network.interface.macAddress'),
      privateIpv4: (Array.isArray(v4) ? v4 : []).map((a) => (isObj(a) && typeof a.privateIpAddress === 'string' ? a.privateIpAddress : '')).filter(Boolean),
    };
  });
  return {
    vmId,
    name: s(c, 'name', 'compute.name'),
    location: s(c, 'location', 'compute.location'),
    vmSize: s(c, 'vmSize', 'compute.vmSize'),
    subscriptionId: s(c, 'subscriptionId', 'compute.subscriptionId'),
    resourceGroupName: s(c, 'resourceGroupName', 'compute.resourceGroupName'),
    publisher: s(c, 'publisher', 'compute.publisher'),
    offer: s(c, 'offer', 'compute.offer'),
    sku: s(c, 'sku', 'compute.sku'),
    version: s(c, 'version', 'compute.version'),
    osType: s(c, 'osType', 'compute.osType'),
    osProfile,
    publicKeys,
    userData: s(c, 'userData', 'compute.userData'),
    interfaces,
    ppsType: s(isObj(j.extended) ? j.extended.compute : undefined, 'ppsType', 'extended.compute.ppsType'),
  };
}
