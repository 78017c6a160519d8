// The IPv4 main routing table (/proc/net/route) as data, and the one route the agent may restore: a host
// route to the WireServer through the gateway it had before (2.15 ga/env.py monitor_dhcp_client_restart
// -> conf_routes). argv only; nothing here decides when.
import type { Runner } from '../../util/exec.ts';

export interface RouteEntry {
  iface: string;
  destination: string;
  gateway: string;
  mask: string;
  flags: number;
  metric: number;
}

const RTF_UP = 0x1;

function hexLeToIp(h: string): string | null {
  if (!/^[0-9A-Fa-f]{8}$/.test(h)) return null;
  const n = Number.parseInt(h, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255].join('.');
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
}

/** /proc/net/route text -> entries (header and malformed lines skipped; at most 4096 entries). */
export function parseRoutes(text: string): RouteEntry[] {
  const out: RouteEntry[] = [];
  for (const line of text.split('\n').slice(1, 4097)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const destination = hexLeToIp(f[1]!);
    const gateway = hexLeToIp(f[2]!);
    const mask = hexLeToIp(f[7]!);
    const flags = Number.parseInt(f[3]!, 16);
    if (!destination || !gateway || !mask || !Number.isFinite(flags) || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(f[0]!)) continue;
    out.push({ iface: f[0]!, destination, gateway, mask, flags, metric: Number(f[6]) || 0 });
  }
  return out;
}

/** The route the kernel would take to `ip` from the main table (longest prefix, then lowest metric); null: none. */
export function routeTo(routes: RouteEntry[], ip: string): RouteEntry | null {
  const target = ipToInt(ip);
  let best: RouteEntry | null = null;
  let bestLen = -1;
  for (const r of routes) {
    if (!(r.flags & RTF_UP)) continue;
    const mask = ipToInt(r.mask);
    if (((target & mask) >>> 0) !== ((ipToInt(r.destination) & mask) >>> 0)) continue;
    const len = mask.toString(2).replace(/0/g, '').length;
    if (len > bestLen || (len === bestLen && best !== null && r.metric < best.metric)) { best = r; bestLen = len; }
  }
  return best;
}

/** `ip route replace <ip>/32 [via <gw>] dev <iface>` (replace: idempotent, no "File exists" on a race). */
export function hostRouteArgv(ip: string, via: { gateway: string; iface: string }): string[] {
  if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip) || !/^\d{1,3}(\.\d{1,3}){3}$/.test(via.gateway) || !/^[A-Za-z0-9_.:@-]{1,15}$/.test(via.iface)) {
    throw new Error(`refusing route ${ip} via ${via.gateway} dev ${via.iface}`);
  }
  return ['ip', 'route', 'replace', `${ip}/32`, ...(via.gateway === '0.0.0.0' ? [] : ['via', via.gateway]), 'dev', via.iface];
}

export async function addHostRoute(runner: Runner, ip: string, via: { gateway: string; iface: string }): Promise<void> {
  const r = await runner.run(hostRouteArgv(ip, via), { timeoutMs: 30_000, maxOutput: 4096 });
  if (r.code !== 0) throw new Error(`ip route replace ${ip}/32 failed (exit ${r.code}): ${r.stderr.trim().slice(0, 200)}`);
}
