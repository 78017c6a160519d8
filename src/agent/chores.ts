// Environment chores of the daemon (docs/os.md §6.2–6.5, §6.7, §8.2–8.5), each a small function the scheduler
// runs on its own period. OS work is in src/os (through the Sysroot and the Runner); here only the
// decisions and what is logged.
import { readFileSync } from 'node:fs';
import { release } from 'node:os';
import { posix } from 'node:path';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import type { DistroProfile } from '../os/distro.ts';
import { currentHostname, primaryInterface, publishHostname, setHostname } from '../os/hostname.ts';
import { removePersistentNetRules } from '../os/env/netrules.ts';
import { DhcpMonitor, dhcpClientPids } from '../os/env/dhcp.ts';
import { addHostRoute, parseRoutes, routeTo, type RouteEntry } from '../os/network/routes.ts';
import { readRouteTable } from '../os/network/leases.ts';
import { endpointHost } from '../platform/endpoint.ts';
import { setScsiTimeouts } from '../os/env/scsi.ts';
import { pidAlive } from '../os/process.ts';
import { errorText, log } from '../util/logger.ts';
import { writeFileAtomic } from '../util/atomic.ts';

export function netRulesChore(root: Sysroot, libDir: string): () => void {
  return () => {
    for (const f of removePersistentNetRules(root, libDir)) log.info(`Move rules file ${posix.basename(f)} to ${libDir}/${posix.basename(f)}`);
  };
}

/**
 * DHCP client restart (§6.4): the route the agent uses to reach the WireServer is noted while things work
 * (first check, and after each restart that kept it); when a restarted client dropped it (no route to the
 * endpoint in the main table: no host route and no default route), a host route to the endpoint is put
 * back through the gateway and interface seen before (`ip route replace <ep>/32 via <gw> dev <if>`).
 * 2.15 meant to re-add the DHCP-learned default gateway; in 2.15 that gateway is never learned on the env
 * thread (its restore is a no-op), so we restore the one route the agent needs and nothing else.
 */
export function dhcpChore(root: Sysroot, runner: Runner, endpoint: string): () => Promise<void> {
  const mon = new DhcpMonitor(() => dhcpClientPids(root), pidAlive);
  const wire = endpointHost(endpoint);
  let known: RouteEntry | null = null;
  const current = (): RouteEntry | null => {
    const table = readRouteTable(root);
    return table === null ? null : routeTo(parseRoutes(table), wire);
  };
  return async () => {
    const r = mon.check();
    if (r.event === 'not-running') log.once('WARNING', 'dhcp-not-running', 'Dhcp client is not running.');
    if (r.event === 'first') known = current();
    if (r.event !== 'restarted') return;
    log.info('EnvMonitor: Detected dhcp client restart. Restoring routing table.');
    const now = current();
    if (now) { known = now; return; }
    if (!known) {
      log.warn(`EnvMonitor: no route to the WireServer ${wire} after the DHCP client restart, and none was seen before to restore`);
      return;
    }
    await addHostRoute(runner, wire, known);
    log.info(`EnvMonitor: restored the route to the WireServer: ${wire}/32 via ${known.gateway} dev ${known.iface}`);
  };
}

export function scsiChore(root: Sysroot, value: string): () => void {
  return () => {
    for (const dev of setScsiTimeouts(root, value)) log.info(`Set block dev timeout: ${dev} with timeout: ${value}`);
  };
}

export interface HostnameMonitorOptions {
  root: Sysroot;
  runner: Runner;
  libDir: string;
  distro: DistroProfile;
  /** Default: the kernel's hostname. */
  current?: () => string;
}

/**
 * Hostname monitoring (§6.5): the published name is `<Lib.Dir>/published_hostname` (created from the
 * current name at start). On a change: /etc/hostname rewritten, the name set, and republished through a
 * new DHCP request. The loopback is never "the primary interface": without a real one only the files are
 * updated (publishing would bounce lo).
 */
export function hostnameChore(o: HostnameMonitorOptions): () => Promise<void> {
  const file = o.root.path(posix.join(o.libDir, 'published_hostname'));
  const current = o.current ?? currentHostname;
  let published: string;
  try {
    published = readFileSync(file, 'utf8').trim();
  } catch {
    published = current();
    log.info(`Published hostname record created: ${published}`);
    try { writeFileAtomic(file, published, { mode: 0o644, mkdirMode: 0o700 }); } catch (e) { log.warn(`writing ${file}: ${errorText(e)}`); }
  }
  return async () => {
    const now = current();
    if (now === published) return;
    log.info(`EnvMonitor: Detected hostname change: ${published} -> ${now}`);
    await setHostname(o.runner, o.root, now, o.distro.hostname);
    const iface = primaryInterface(o.root);
    const live = o.root.isHost && iface !== null && iface !== 'lo';
    const r = await publishHostname(o.runner, o.root, now, { libDir: o.libDir, publishers: o.distro.publishers, live });
    published = now;
    log.info(`Published hostname ${now}${r.ok ? ` through ${r.publisher} on ${r.iface}` : live ? ' (DHCP request failed; the name is in the DHCP client config)' : ' (no DHCP interface to renew on)'}`);
  };
}

/** NUMA (§8.2): the old grub rule only ever applied to kernels before 2.6.37. */
export function numaNote(): void {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(release());
  const old = m ? Number(m[1]) < 2 || (Number(m[1]) === 2 && (Number(m[2]) < 6 || (Number(m[2]) === 6 && Number(m[3]) < 37))) : false;
  log.once('INFO', 'numa', old
    ? `Kernel ${release()} is older than 2.6.37: add numa=off to the kernel command line yourself (this agent does not edit grub for it)`
    : `Kernel ${release()}: the virtual-NUMA workaround (kernels before 2.6.37) is not needed`);
}
