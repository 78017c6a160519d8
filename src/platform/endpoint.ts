// WireServer endpoint discovery (docs/protocol.md §1.1). The OS facts (route table, DHCP leases) are handed in by
// the caller (src/os/network/leases.ts): this layer never reads OS files. The result is saved in Lib.Dir
// (WireServerEndpoint + Protocol, the Python agent's files) for later starts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';

export const KNOWN_WIRESERVER_IP = '168.63.129.16';

/** The host part of an endpoint (`168.63.129.16:80` -> `168.63.129.16`): what the proxy bypass, the firewall rules
 * and the route checks compare against. */
export function endpointHost(endpoint: string): string {
  return endpoint.replace(/:\d+$/, '');
}

export interface EndpointFacts {
  /** Lib.Dir. */
  libDir: string;
  /** waagent.conf Protocol.EndpointDiscovery (default 'dhcp'). */
  discovery?: string;
  /** /proc/net/route text, or null when unreadable. */
  routeTable?: () => string | null;
  /** Option 245 from the lease files, or null. */
  leaseEndpoint?: () => string | null;
  /** true to skip Lib.Dir/WireServerEndpoint (a failed detection retries without the cache). */
  skipSaved?: boolean;
}

export type EndpointSource = 'saved' | 'route' | 'lease' | 'default';

/** A dotted IPv4 address, or a host[:port] name for tests. Anything else is ignored. */
export function validEndpoint(s: string): boolean {
  const t = s.trim();
  const ip = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::\d{1,5})?$/.exec(t);
  if (ip) return ip.slice(1, 5).every((n) => Number(n) <= 255);
  return /^[A-Za-z0-9.-]{1,253}(?::\d{1,5})?$/.test(t);
}

export function readSavedEndpoint(libDir: string): string | null {
  try {
    const t = readFileSync(join(libDir, 'WireServerEndpoint'), 'utf8').trim();
    return t && validEndpoint(t) ? t : null;
  } catch { return null; }
}

export function savedProtocolIsWire(libDir: string): boolean {
  try { return readFileSync(join(libDir, 'Protocol'), 'utf8').trim() === 'WireProtocol'; } catch { return false; }
}

/** After a successful detection: bare address, no newline; Protocol = WireProtocol. */
export function saveEndpoint(libDir: string, endpoint: string): void {
  writeFileAtomic(join(libDir, 'WireServerEndpoint'), endpoint.trim(), { mode: 0o644 });
  writeFileAtomic(join(libDir, 'Protocol'), 'WireProtocol', { mode: 0o644 });
}

export function discoverEndpoint(f: EndpointFacts): { endpoint: string; source: EndpointSource } {
  const saved = f.skipSaved ? null : readSavedEndpoint(f.libDir);
  if (saved && savedProtocolIsWire(f.libDir)) return { endpoint: saved, source: 'saved' };
  if ((f.discovery ?? 'dhcp') !== 'dhcp') {
    return saved ? { endpoint: saved, source: 'saved' } : { endpoint: KNOWN_WIRESERVER_IP, source: 'default' };
  }
  const route = f.routeTable?.();
  if (route && route.toUpperCase().includes('10813FA8')) return { endpoint: KNOWN_WIRESERVER_IP, source: 'route' };
  const lease = f.leaseEndpoint?.();
  if (lease && validEndpoint(lease)) return { endpoint: lease.trim(), source: 'lease' };
  // No live DHCP probe (the Python agent's last resort): Azure's address is fixed, and a raw DHCPDISCOVER
  // needs route changes we do not want to make. The default is right in every VNet.
  return { endpoint: KNOWN_WIRESERVER_IP, source: 'default' };
}
