// WireServer client (docs/protocol.md §1): versions handshake, goal state, its documents, certificates, health,
// role properties, telemetry, manifests. Platform traffic is always direct. The idle poll (goal state
// unchanged) is one small GET: identical text is not re-parsed and no other document is fetched.
import { join } from 'node:path';
import type { CertificateSummary, ExtensionManifest, ExtensionsGoalState, FullGoalState, GoalState, HealthReport, HostingEnvironment } from './types.ts';
import { emptyExtensionsGoalState } from './types.ts';
import { bodyText, type HttpRequest, type HttpResponse, type HttpTransport } from './http.ts';
import { DEFAULT_POLICY, HEALTH_POLICY, NO_RETRY, TELEMETRY_POLICY, expectOk, realClock, sendWithRetry, type Clock, type RetryPolicy } from './retry.ts';
import { CertificateError, HttpError, ProtocolError } from './errors.ts';
import { NoRoleInstanceError, checkSharedConfig, parseGoalState, parseHostingEnvironment, parseVersions } from './goalstate.ts';
import { parseArtifactsProfile, parseExtensionsConfig } from './extconfig.ts';
import { parseManifest } from './manifest.ts';
import { installCertificates } from './certificates.ts';
import { parseRemoteAccess, type RemoteAccessDocument } from './remoteaccess.ts';
import { healthJson, healthXml, rolePropertiesXml } from './reports.ts';
import { batchEvents, type TelemetryEvent } from './telemetry.ts';
import { ensureTransportPair, transportCertHeader, type TransportPair } from '../crypto/certs.ts';
import { OpenSsl, cleanStaleScratch } from '../crypto/openssl.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { AGENT_NAME } from '../version.ts';

export const WS_HEADERS: Readonly<Record<string, string>> = { 'x-ms-agent-name': AGENT_NAME, 'x-ms-version': '2012-11-30' };
export const XML_CONTENT_TYPE = 'text/xml;charset=utf-8';
const GOAL_STATE_ATTEMPTS = 6;
const GOAL_STATE_ROLE_DELAY_MS = 500;

export interface WireServerOptions {
  /** '168.63.129.16', or host:port / a base URL for tests ('http://127.0.0.1:8080'). */
  endpoint: string;
  /** Lib.Dir (/var/lib/waagent): transport pair, certificates, SharedConfig.xml. */
  libDir: string;
  transport: HttpTransport;
  clock?: Clock;
  openssl?: OpenSsl;
  policy?: RetryPolicy;
}

export function wireBaseUrl(endpoint: string): string {
  return /^https?:\/\//i.test(endpoint) ? endpoint.replace(/\/+$/, '') : `http://${endpoint}`;
}

export class WireServerClient {
  readonly baseUrl: string;
  readonly libDir: string;
  private readonly transport: HttpTransport;
  private readonly clock: Clock;
  private readonly ossl: OpenSsl;
  private readonly policy: RetryPolicy;
  /** The bytes of the last goal state parsed: an identical answer (the idle poll) is compared, not decoded. */
  private lastGoalStateBody: Buffer | null = null;
  private lastGoalState: GoalState | null = null;
  private certsIncarnation: string | null = null;
  private certSummary: CertificateSummary[] = [];
  private pair: TransportPair | null = null;

  constructor(o: WireServerOptions) {
    this.baseUrl = wireBaseUrl(o.endpoint);
    this.libDir = o.libDir;
    this.transport = o.transport;
    this.clock = o.clock ?? realClock;
    this.ossl = o.openssl ?? new OpenSsl();
    this.policy = o.policy ?? DEFAULT_POLICY;
  }

  /** The goal state of the last successful fetch (refreshed on every poll: container id can change alone). */
  get current(): GoalState | null { return this.lastGoalState; }
  get certificates(): CertificateSummary[] { return this.certSummary; }

  private async get(doc: string, url: string, extra: Partial<HttpRequest> = {}, policy = this.policy): Promise<HttpResponse> {
    const res = await sendWithRetry(this.transport, { method: 'GET', url, doc, headers: { ...WS_HEADERS }, ...extra }, policy, this.clock);
    return expectOk(res, doc);
  }

  /** GET /?comp=versions (no x-ms-* headers, like the Python agent). Throws unless 2012-11-30 is offered. */
  async checkVersions(): Promise<void> {
    const res = expectOk(await sendWithRetry(this.transport, { method: 'GET', url: `${this.baseUrl}/?comp=versions`, doc: 'Versions' }, this.policy, this.clock), 'Versions');
    const v = parseVersions(bodyText(res));
    if (!v.ok) throw new ProtocolError('Versions', `the WireServer does not offer protocol version 2012-11-30 (preferred ${v.preferred || 'none'})`);
  }

  /**
   * GET /machine/?comp=goalstate. Re-fetched (6 × 0.5 s) while RoleInstance is missing. Identical text returns
   * the cached model without parsing.
   */
  async fetchGoalState(): Promise<{ goalState: GoalState; changed: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const res = await this.get('GoalState', `${this.baseUrl}/machine/?comp=goalstate`);
      if (this.lastGoalState && this.lastGoalStateBody?.equals(res.body)) return { goalState: this.lastGoalState, changed: false };
      try {
        const gs = parseGoalState(bodyText(res));
        const changed = this.lastGoalState?.incarnation !== gs.incarnation;
        this.lastGoalStateBody = res.body;
        this.lastGoalState = gs;
        return { goalState: gs, changed };
      } catch (e) {
        if (!(e instanceof NoRoleInstanceError) || attempt >= GOAL_STATE_ATTEMPTS) throw e;
        await this.clock.sleep(GOAL_STATE_ROLE_DELAY_MS);
      }
    }
  }

  /**
   * The documents of a goal state, in the Python agent's order: ExtensionsConfig, HostingEnvironmentConfig,
   * SharedConfig (saved to Lib.Dir/SharedConfig.xml), Certificates (skipped when its incarnation was
   * already installed).
   */
  async fetchFull(gs: GoalState): Promise<FullGoalState> {
    const extensions = gs.urls.extensionsConfig ? await this.fetchExtensionsConfig(gs) : emptyExtensionsGoalState(gs.incarnation);
    let hostingEnvironment: HostingEnvironment | null = null;
    if (gs.urls.hostingEnvironmentConfig) {
      hostingEnvironment = parseHostingEnvironment(bodyText(await this.get('HostingEnvironmentConfig', gs.urls.hostingEnvironmentConfig)));
    }
    if (gs.urls.sharedConfig) {
      const text = bodyText(await this.get('SharedConfig', gs.urls.sharedConfig));
      checkSharedConfig(text);
      writeFileAtomic(join(this.libDir, 'SharedConfig.xml'), text, { mode: 0o600 });
    }
    const certificates = await this.fetchCertificates(gs);
    return { goalState: gs, hostingEnvironment, extensions, certificates };
  }

  async fetchExtensionsConfig(gs: GoalState): Promise<ExtensionsGoalState> {
    if (!gs.urls.extensionsConfig) return emptyExtensionsGoalState(gs.incarnation);
    const res = await this.get('ExtensionsConfig', gs.urls.extensionsConfig, { maxBytes: 4 << 20 });
    return parseExtensionsConfig(bodyText(res), gs.incarnation);
  }

  /** The transport pair in Lib.Dir (generated once). */
  async transportPair(): Promise<TransportPair> {
    if (!this.pair) {
      const stale = cleanStaleScratch(this.libDir);
      if (stale) log.warn(`removed ${stale} leftover crypto scratch director${stale === 1 ? 'y' : 'ies'} from ${this.libDir}`);
    }
    this.pair ??= await ensureTransportPair(this.ossl, join(this.libDir, 'TransportCert.pem'), join(this.libDir, 'TransportPrivate.pem'));
    return this.pair;
  }

  /**
   * Certificates of the goal state into Lib.Dir. Tries x-ms-cipher-name AES128_CBC, then DES_EDE3_CBC once
   * (request or decryption failure). No work when this incarnation's certificates are already installed,
   * unless `force` (Fast Track: a listed .crt went missing).
   */
  async fetchCertificates(gs: GoalState, force = false): Promise<CertificateSummary[]> {
    const url = gs.urls.certificates;
    if (!url) {
      this.certsIncarnation = gs.incarnation;
      this.certSummary = [];
      return [];
    }
    if (!force && this.certsIncarnation === gs.incarnation) return this.certSummary;
    const pair = await this.transportPair();
    let last: unknown;
    for (const cipher of ['AES128_CBC', 'DES_EDE3_CBC']) {
      try {
        const res = await this.get('Certificates', url, {
          headers: { ...WS_HEADERS, 'x-ms-guest-agent-public-x509-cert': transportCertHeader(pair.certPem), 'x-ms-cipher-name': cipher },
          maxBytes: 8 << 20,
        });
        const summary = await installCertificates(this.ossl, this.libDir, bodyText(res), pair);
        this.certsIncarnation = gs.incarnation;
        this.certSummary = summary;
        return summary;
      } catch (e) {
        last = e;
        log.warn(`Certificates with cipher ${cipher} failed: ${errorText(e)}`);
      }
    }
    if (last instanceof CertificateError || last instanceof ProtocolError) throw last;
    throw new CertificateError(errorText(last));
  }

  /** RemoteAccess (JIT users), null when the goal state has none. Passwords stay encrypted here. */
  async fetchRemoteAccess(gs: GoalState): Promise<RemoteAccessDocument | null> {
    if (!gs.urls.remoteAccessInfo) return null;
    const pair = await this.transportPair();
    const res = await this.get('RemoteAccess', gs.urls.remoteAccessInfo, {
      headers: { ...WS_HEADERS, 'x-ms-guest-agent-public-x509-cert': transportCertHeader(pair.certPem), 'x-ms-cipher-name': 'AES128_CBC' },
    });
    return parseRemoteAccess(bodyText(res));
  }

  /** A manifest from a storage URL (direct; may go through the configured proxy). */
  async fetchManifest(url: string): Promise<ExtensionManifest> {
    const res = expectOk(await sendWithRetry(this.transport, { method: 'GET', url, doc: 'ExtensionManifest', useProxy: true }, this.policy, this.clock), 'ExtensionManifest');
    return parseManifest(bodyText(res));
  }

  /** InVMArtifactsProfileBlob: any failure means "not on hold" (logged). */
  async fetchArtifactsProfile(url: string): Promise<{ onHold: boolean }> {
    if (!url.trim()) return { onHold: false };
    try {
      const res = expectOk(await sendWithRetry(this.transport, { method: 'GET', url, doc: 'InVMArtifactsProfileBlob', useProxy: true, maxBytes: 1 << 20 }, this.policy, this.clock), 'InVMArtifactsProfileBlob');
      return parseArtifactsProfile(bodyText(res));
    } catch (e) {
      log.warn(`InVMArtifactsProfileBlob: ${errorText(e)}; treating as not on hold`);
      return { onHold: false };
    }
  }

  private post(doc: string, url: string, body: string, contentType: string, policy: RetryPolicy): Promise<HttpResponse> {
    return sendWithRetry(this.transport, { method: 'POST', url, doc, body, headers: { ...WS_HEADERS, 'Content-Type': contentType } }, policy, this.clock);
  }

  /** POST /machine?comp=health (no slash). Uses the goal state given, or the last fetched one. */
  async reportHealth(report: HealthReport, gs: GoalState | null = this.lastGoalState, policy = HEALTH_POLICY): Promise<void> {
    if (!gs) throw new ProtocolError('Health', 'no goal state fetched yet');
    expectOk(await this.post('Health', `${this.baseUrl}/machine?comp=health`, healthXml(gs, report), XML_CONTENT_TYPE, policy), 'Health');
  }

  /**
   * POST /provisioning/health (JSON). Not every host offers it (UNCONFIRMED): 404/405 return false, quietly;
   * the XML report stays the one that counts.
   */
  async reportHealthJson(report: HealthReport, policy = NO_RETRY): Promise<boolean> {
    const res = await sendWithRetry(this.transport, {
      method: 'POST', url: `${this.baseUrl}/provisioning/health`, doc: 'ProvisioningHealth', body: healthJson(report),
      headers: { 'Content-Type': 'application/json', 'x-ms-guest-agent-name': AGENT_NAME },
    }, policy, this.clock);
    if (res.status === 404 || res.status === 405) return false;
    expectOk(res, 'ProvisioningHealth');
    return true;
  }

  /** POST /machine?comp=roleProperties; success only on 202. */
  async reportRoleProperties(thumbprint: string, gs: GoalState | null = this.lastGoalState): Promise<void> {
    if (!gs) throw new ProtocolError('RoleProperties', 'no goal state fetched yet');
    const res = await this.post('RoleProperties', `${this.baseUrl}/machine?comp=roleProperties`, rolePropertiesXml(gs, thumbprint), XML_CONTENT_TYPE, this.policy);
    if (res.status !== 202) throw new HttpError('RoleProperties', `expected 202, got ${res.status}`, res.status, 1);
  }

  /** POST /machine?comp=telemetrydata, one request per batch. Returns what was sent and dropped. */
  async sendTelemetry(events: TelemetryEvent[]): Promise<{ sent: number; dropped: number; requests: number; failed: number }> {
    const { batches, dropped } = batchEvents(events);
    let sent = 0, failed = 0;
    for (const b of batches) {
      try {
        expectOk(await this.post('Telemetry', `${this.baseUrl}/machine?comp=telemetrydata`, b.body, XML_CONTENT_TYPE, TELEMETRY_POLICY), 'Telemetry');
        sent += b.events;
      } catch (e) {
        failed += b.events;
        log.warn(`telemetry batch of ${b.events} events not sent: ${errorText(e)}`);
      }
    }
    return { sent, dropped, requests: batches.length, failed };
  }
}
