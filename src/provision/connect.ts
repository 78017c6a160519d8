// The one wiring of the platform for `-provision` and `-daemon` (which also provisions, then runs the goal-state
// loop): endpoint discovery from the OS facts (route table, DHCP leases, through the Sysroot), the HTTP client
// (HttpProxy.* for storage traffic; the WireServer and IMDS are always direct) and OpenSSL (OS.OpensslPath).
// Provisioning wraps it in a WirePlatform, the daemon's loop in an AzureProtocol. It lives at the feature level
// (the daemon already depends on provisioning) so that neither the platform nor the OS layer learns the other.
import type { Invocation } from '../util/invocation.ts';
import { discoverEndpoint, endpointHost } from '../platform/endpoint.ts';
import { HttpClient } from '../platform/http.ts';
import { OpenSsl } from '../crypto/openssl.ts';
import { findWireServerInLeases, readRouteTable } from '../os/network/leases.ts';
import { log } from '../util/logger.ts';

export interface PlatformConnection {
  /** WireServer endpoint as discovered ('168.63.129.16', or host:port in tests). */
  endpoint: string;
  /** The endpoint without its port. */
  host: string;
  /** Host path of Lib.Dir. */
  libDir: string;
  transport: HttpClient;
  openssl: OpenSsl;
  /** Closes the transport's connections. */
  close(): Promise<void>;
}

export interface OpenPlatformOptions {
  /**
   * Ignore `<Lib.Dir>/WireServerEndpoint` (provisioning never trusts it: a VHD may have moved to another host);
   * the loop that follows provisioning may use it.
   */
  skipSaved: boolean;
}

export function openPlatform(ctx: Invocation, o: OpenPlatformOptions): PlatformConnection {
  const c = ctx.config;
  const root = ctx.root;
  const libDir = root.path(c.str('Lib.Dir'));
  const { endpoint, source } = discoverEndpoint({
    libDir,
    discovery: c.str('Protocol.EndpointDiscovery'),
    skipSaved: o.skipSaved,
    routeTable: () => readRouteTable(root),
    leaseEndpoint: () => findWireServerInLeases(root)?.endpoint ?? null,
  });
  log.info(`WireServer endpoint: ${endpoint} (${source})`);
  const host = endpointHost(endpoint);
  const proxyHost = c.str('HttpProxy.Host');
  const proxyPort = c.int('HttpProxy.Port');
  const transport = new HttpClient({
    proxy: { ...(proxyHost ? { host: proxyHost } : {}), ...(proxyPort !== undefined ? { port: proxyPort } : {}) },
    directHosts: [host],
  });
  const openssl = new OpenSsl(c.str('OS.OpensslPath') || 'openssl', ctx.runner);
  return { endpoint, host, libDir, transport, openssl, close: () => transport.close() };
}
