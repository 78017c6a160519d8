// DHCP option 245 (the WireServer address Azure hands out) from the lease files the DHCP clients leave
// behind (docs/protocol.md §1.1.1), and the /proc/net/route check. OS reading only, all paths through a Sysroot;
// the platform layer receives the result as data.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import type { Sysroot } from '../../util/sysroot.ts';

/** 168.63.129.16 as it appears (little-endian hex) in /proc/net/route. */
export const WIRESERVER_ROUTE_ENTRY = '10813FA8';
const MAX_LEASE_BYTES = 1 << 20;

/** True when any line of the route table mentions the WireServer (plain substring test, like the agent). */
export function routeTableHasWireServer(routeTable: string): boolean {
  return routeTable.split('\n').some((l) => l.toUpperCase().includes(WIRESERVER_ROUTE_ENTRY));
}

export function readRouteTable(root: Sysroot): string | null {
  try { return readFileSync(root.path('/proc/net/route'), 'utf8'); } catch { return null; }
}

function hexBytesToIp(parts: string[]): string | null {
  if (parts.length !== 4) return null;
  const n = parts.map((p) => Number.parseInt(p, 16));
  return n.every((x, i) => /^[0-9a-f]{1,2}$/i.test(parts[i]!) && x >= 0 && x <= 255) ? n.join('.') : null;
}

/** dhclient's quoted form ("\250?\201\020" style octal escapes) used when all four bytes are printable. */
function quotedToIp(q: string): string | null {
  const bytes: number[] = [];
  for (let i = 0; i < q.length; i++) {
    const c = q[i]!;
    if (c === '\\') {
      const oct = /^[0-7]{3}/.exec(q.slice(i + 1));
      if (oct) { bytes.push(Number.parseInt(oct[0], 8)); i += 3; continue; }
      const next = q[i + 1];
      if (next === undefined) return null;
      bytes.push(next.charCodeAt(0));
      i++;
      continue;
    }
    bytes.push(c.charCodeAt(0));
  }
  return bytes.length === 4 && bytes.every((b) => b <= 255) ? bytes.join('.') : null;
}

/**
 * dhclient lease text -> the endpoint of the LAST unexpired lease that carries option 245 (unknown-245 or
 * option-245 naming), or null. `expire never` never expires; other dates are `N YYYY/MM/DD HH:MM:SS` UTC.
 */
export function parseDhclientLeases(text: string, now: Date = new Date()): string | null {
  let result: string | null = null;
  let endpoint: string | null = null;
  let expired = true;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (/^lease\b/.test(line)) { endpoint = null; expired = true; continue; }
    const m = /^option\s+(?:unknown-245|option-245)\s+(.+?);\s*$/.exec(line);
    if (m) {
      const v = m[1]!.trim();
      endpoint = v.startsWith('"') ? quotedToIp(v.replace(/^"|"$/g, '')) : hexBytesToIp(v.split(':'));
      continue;
    }
    if (/^expire\b/.test(line)) {
      if (/\bnever\b/.test(line)) { expired = false; continue; }
      const d = /(\d{4})\/(\d{1,2})\/(\d{1,2})\s+(\d{1,2}):(\d{2}):(\d{2})/.exec(line);
      if (d) {
        const t = Date.UTC(+d[1]!, +d[2]! - 1, +d[3]!, +d[4]!, +d[5]!, +d[6]!);
        expired = t <= now.getTime();
      }
      continue;
    }
    if (line.includes('}')) {
      if (endpoint && !expired) result = endpoint;
      endpoint = null;
      expired = true;
    }
  }
  return result;
}

/** systemd-networkd lease: OPTION_245=A83F8110. */
export function parseNetworkdLease(text: string): string | null {
  const m = /^OPTION_245=([0-9A-Fa-f]{8})\s*$/m.exec(text);
  return m ? hexBytesToIp(m[1]!.match(/../g)!) : null;
}

function listFiles(root: Sysroot, dir: string, re: RegExp): string[] {
  let names: string[];
  try { names = readdirSync(root.path(dir)); } catch { return []; }
  return names.filter((n) => re.test(n)).sort().map((n) => `${dir}/${n}`);
}

function readSmall(root: Sysroot, p: string): string | null {
  try {
    const host = root.path(p);
    const st = statSync(host);
    if (!st.isFile() || st.size > MAX_LEASE_BYTES) return null;
    return readFileSync(host, 'utf8');
  } catch { return null; }
}

/**
 * Option 245 from lease files in the distro-independent order: networkd (/run/systemd/netif/leases/*),
 * dhclient (/var/lib/dhcp/dhclient*.leases, /var/lib/dhclient/dhclient*.lease[s]), NetworkManager's dhclient
 * files (/var/lib/NetworkManager/dhclient-*.lease). Within a family, the last file with a valid lease wins.
 * Reading all families is safe: each file only exists where that client runs.
 */
export function findWireServerInLeases(root: Sysroot, now: Date = new Date()): { endpoint: string; file: string } | null {
  let found: { endpoint: string; file: string } | null = null;
  for (const f of listFiles(root, '/run/systemd/netif/leases', /^[^.]/)) {
    const t = readSmall(root, f);
    const e = t && parseNetworkdLease(t);
    if (e) found = { endpoint: e, file: f };
  }
  if (found) return found;
  const dhclient = [
    ...listFiles(root, '/var/lib/dhcp', /^dhclient.*\.leases?$/),
    ...listFiles(root, '/var/lib/dhclient', /^dhclient.*\.leases?$/),
    ...listFiles(root, '/var/lib/NetworkManager', /^dhclient-.*\.lease$/),
  ];
  for (const f of dhclient) {
    const t = readSmall(root, f);
    if (!t || !/option\s+(unknown|option)-245/.test(t)) continue;
    const e = parseDhclientLeases(t, now);
    if (e) found = { endpoint: e, file: f };
  }
  return found;
}
