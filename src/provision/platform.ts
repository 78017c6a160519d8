// What provisioning needs from Azure, as a small interface (unit tests pass a fake), and its real
// implementation over the platform layer: WireServer goal state + health, certificates, IMDS.
// Only what provisioning needs is fetched: no versions handshake (a goal state that parses is the
// proof the protocol works), no HostingEnvironmentConfig/SharedConfig/ExtensionsConfig, and
// certificates only when a key by thumbprint or a key pair asks for them.
import { mkdirSync } from 'node:fs';
import type { CertificateSummary, GoalState, HealthReport, ImdsInstance } from '../platform/types.ts';
import type { HttpTransport } from '../platform/http.ts';
import { DEFAULT_POLICY, HEALTH_POLICY, type Clock } from '../platform/retry.ts';
import { GoalStateChangedError } from '../platform/errors.ts';
import { WireServerClient } from '../platform/wireserver.ts';
import { ImdsClient } from '../platform/imds.ts';
import { OpenSsl } from '../crypto/openssl.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export interface ProvisionPlatform {
  /** The current WireServer goal state (incarnation, container and instance ids for the reports). */
  goalState(): Promise<GoalState>;
  /** IMDS instance metadata, or null when IMDS is unavailable (logged; other key sources remain). */
  imds(): Promise<ImdsInstance | null>;
  /** Fetch and install the goal state's certificates as `<Lib.Dir>/<TP>.crt/.prv`. */
  certificates(): Promise<CertificateSummary[]>;
  /**
   * A health report. `final` reports (Ready, ProvisioningFailed) also go to POST /provisioning/health
   * (JSON) when the fabric offers it; the XML report is the one that must succeed.
   */
  reportHealth(report: HealthReport, final: boolean): Promise<void>;
  /** roleProperties CertificateThumbprint (docs/protocol.md §1.11). */
  reportHostKeyThumbprint(thumbprint: string): Promise<void>;
  /** Pre-provisioned VMs: ONE request for IMDS reprovisiondata (200 with the new ovf-env.xml, else the status). */
  reprovisionData(): Promise<{ status: number; text?: string }>;
}

export interface WirePlatformOptions {
  /** WireServer endpoint: '168.63.129.16' or a test URL on 127.0.0.1. */
  endpoint: string;
  /** Host path of Lib.Dir (transport pair and certificates go there). */
  libDir: string;
  transport: HttpTransport;
  /** IMDS base URL; default http://169.254.169.254. */
  imdsUrl?: string;
  clock?: Clock;
  openssl?: OpenSsl;
  /** An existing WireServer client to share (the daemon's), instead of a new one. */
  wire?: WireServerClient;
}

export class WirePlatform implements ProvisionPlatform {
  readonly wire: WireServerClient;
  private readonly imdsClient: ImdsClient;
  private readonly libDir: string;
  private gs: GoalState | null = null;
  /** null = not tried yet; false = the fabric answered 404/405 (not offered). */
  private jsonOffered: boolean | null = null;

  constructor(o: WirePlatformOptions) {
    this.libDir = o.libDir;
    this.wire = o.wire ?? new WireServerClient({ endpoint: o.endpoint, libDir: o.libDir, transport: o.transport, clock: o.clock, openssl: o.openssl ?? new OpenSsl() });
    this.imdsClient = new ImdsClient({ transport: o.transport, baseUrl: o.imdsUrl, clock: o.clock });
  }

  async goalState(): Promise<GoalState> {
    this.gs = (await this.wire.fetchGoalState()).goalState;
    return this.gs;
  }

  async imds(): Promise<ImdsInstance | null> {
    try {
      return await this.imdsClient.instance();
    } catch (e) {
      log.warn(`IMDS: ${errorText(e)}; SSH keys come from ovf-env.xml and the certificates only`);
      return null;
    }
  }

  async certificates(): Promise<CertificateSummary[]> {
    mkdirSync(this.libDir, { recursive: true, mode: 0o700 });
    const gs = this.gs ?? await this.goalState();
    return this.withRefresh((g) => this.wire.fetchCertificates(g), gs);
  }

  /** 410 / InvalidContainerConfiguration: the goal state moved on; fetch it again and retry once. */
  private async withRefresh<T>(fn: (gs: GoalState) => Promise<T>, gs: GoalState): Promise<T> {
    try {
      return await fn(gs);
    } catch (e) {
      if (!(e instanceof GoalStateChangedError)) throw e;
      log.info(`${e.doc}: goal state changed; refreshing and retrying once`);
      return fn(await this.goalState());
    }
  }

  async reportHealth(report: HealthReport, final: boolean): Promise<void> {
    const gs = this.gs ?? await this.goalState();
    // A progress report gets the ordinary budget (90 s); only the final one may take the health
    // policy's 5 minutes: the final report waits for the progress report to be done.
    await this.withRefresh((g) => this.wire.reportHealth(report, g, final ? HEALTH_POLICY : DEFAULT_POLICY), gs);
    if (!final || this.jsonOffered === false) return;
    try {
      this.jsonOffered = await this.wire.reportHealthJson(report);
    } catch (e) {
      log.warn(`POST /provisioning/health: ${errorText(e)} (the XML health report was accepted)`);
    }
  }

  async reportHostKeyThumbprint(thumbprint: string): Promise<void> {
    const gs = this.gs ?? await this.goalState();
    await this.withRefresh((g) => this.wire.reportRoleProperties(thumbprint, g), gs);
  }

  reprovisionData(): Promise<{ status: number; text?: string }> {
    return this.imdsClient.reprovisionData();
  }
}
