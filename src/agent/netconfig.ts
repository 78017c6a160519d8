// 2.15 monitor ReportNetworkConfigurationChanges: with Monitor.NetworkConfigurationChanges=y, every minute the
// route table and the NICs' state are compared with the last ones and logged when they changed; with n (the
// default) they are logged once ("Monitor.NetworkConfigurationChanges is disabled."). Read from
// /proc/net/route, /sys/class/net and the kernel's address list: no `ip` child process.
import { readdirSync, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Sysroot } from '../util/sysroot.ts';
import { parseRoutes, type RouteEntry } from '../os/network/routes.ts';
import { readRouteTable } from '../os/network/leases.ts';
import { log } from '../util/logger.ts';

export interface NicState { name: string; link: string; mac: string; ipv4: string[]; ipv6: string[] }

export function nicStates(root: Sysroot, addrs: ReturnType<typeof networkInterfaces> = networkInterfaces()): NicState[] {
  let names: string[] = [];
  try { names = readdirSync(root.path('/sys/class/net')).slice(0, 256).sort(); } catch { /* no sysfs */ }
  const rd = (n: string, f: string) => { try { return readFileSync(root.path(`/sys/class/net/${n}/${f}`), 'utf8').trim().slice(0, 64); } catch { return ''; } };
  return names.map((name) => ({
    name, link: rd(name, 'operstate'), mac: rd(name, 'address'),
    ipv4: (addrs[name] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.cidr ?? a.address),
    ipv6: (addrs[name] ?? []).filter((a) => a.family === 'IPv6').map((a) => a.cidr ?? a.address),
  }));
}

const routeJson = (r: RouteEntry) => JSON.stringify({ Iface: r.iface, Destination: r.destination, Gateway: r.gateway, Mask: r.mask, Flags: r.flags, Metric: r.metric });
const nicText = (n: NicState) => `${n.name}: link ${n.link || 'unknown'}, mac ${n.mac || '-'}, ipv4 [${n.ipv4.join(', ')}], ipv6 [${n.ipv6.join(', ')}]`;

/** The task: `watch` true logs every change; false logs the configuration on the first run only. */
export function networkConfigurationTask(root: Sysroot, watch: boolean, nics: () => NicState[] = () => nicStates(root)): () => void {
  let lastRoutes: string | null = null;
  let lastNics: string | null = null;
  let done = false;
  return () => {
    if (done) return;
    const routes = (parseRoutes(readRouteTable(root) ?? '')).map(routeJson).join(',');
    const state = nics().map(nicText).join('; ');
    if (!watch) {
      done = true;
      log.info('Monitor.NetworkConfigurationChanges is disabled.');
      log.info(`Route table: [${routes}]`);
      log.info(`Network interfaces: [${state}]`);
      return;
    }
    if (routes !== lastRoutes) { lastRoutes = routes; log.info(`Route table: [${routes}]`); }
    if (state !== lastNics) { log.info(`${lastNics === null ? 'Initial' : 'Updated'} NIC state: [${state}]`); lastNics = state; }
  };
}
