// Hostname: set it (docs/os.md §4.5) and publish it to Azure DNS through a new DHCP request (§4.6).
// How the DHCP request is triggered is a small strategy per network stack, chosen from the distro's
// ordered list by what is actually running.
import { existsSync, lstatSync, statSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { posix } from 'node:path';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { DistroProfile, PublishKind } from './distro.ts';
import { validateHostname } from './validate.ts';
import { delay } from '../util/builtins.ts';
import { log } from '../util/logger.ts';
import { dhcpcdRebindArgv, dhcpcdRunning, setDhcpcdHostname } from './dhcp/dhcpcd.ts';
import { INTERFACES, setInterfacesHostname, udhcpcRunning } from './dhcp/udhcpc.ts';
import { readBoundedText } from '../util/fsread.ts';
import { listLinks } from './network/links.ts';
import { readRouteTable } from './network/leases.ts';

/** The running kernel's hostname (what the Python agent compares against for monitoring). */
export function currentHostname(): string {
  return osHostname();
}

/** First line of /etc/hostname, trimmed; null when absent or empty. */
export function readStaticHostname(root: Sysroot): string | null {
  try {
    const text = readBoundedText(root.resolve('/etc/hostname'), 64 << 10, '/etc/hostname', true).slice(0, 4096);
    const first = text.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('#'));
    return first ?? null;
  } catch {
    return null;
  }
}

export interface LiveOption {
  /** Run commands against the running system; default: only when the root is `/`. */
  live?: boolean;
}

export interface SetHostnameResult {
  fileChanged: boolean;
  /** Which command set the running hostname; null when none ran (not the host root) or all failed. */
  command: 'hostnamectl' | 'hostname' | null;
}

/**
 * Write /etc/hostname (newline-terminated as hostname(5) describes; upstream writes none — readers
 * strip either way), then set the running name: `hostnamectl set-hostname` where the distro uses
 * it, falling back to `hostname` (the box and early boot have no hostnamed). On another root only
 * the file is written: the running kernel is not that system's.
 */
export async function setHostname(runner: Runner, root: Sysroot, name: string, profile: DistroProfile['hostname'], opts: LiveOption = {}): Promise<SetHostnameResult> {
  validateHostname(name);
  const path = root.pathNoFollow('/etc/hostname');
  let old: string | null = null;
  try { old = readBoundedText(path, 64 << 10, '/etc/hostname', true); } catch { /* absent or not a plain hostname file: replaced */ }
  const text = `${name}\n`;
  const fileChanged = old !== text;
  if (fileChanged) writeFileAtomic(path, text, { mode: 0o644, uid: 0, gid: 0 });
  if (!(opts.live ?? root.isHost)) return { fileChanged, command: null };
  if (profile.useHostnamectl) {
    const r = await runner.run(['hostnamectl', 'set-hostname', name], { timeoutMs: 30_000 });
    if (r.code === 0) return { fileChanged, command: 'hostnamectl' };
  }
  const r = await runner.run(['hostname', name], { timeoutMs: 30_000 });
  // Upstream ignores a failing `hostname` too: the file is right and applies at the next boot.
  return { fileChanged, command: r.code === 0 ? 'hostname' : null };
}

const DHCLIENT_CONFS = ['/etc/dhcp/dhclient.conf', '/etc/dhcp3/dhclient.conf', '/etc/dhclient.conf'];

/**
 * dhclient: make every existing dhclient.conf send our hostname (upstream `set_dhcp_hostname`): a
 * file already sending `gethostname()` or this name is left alone; otherwise its `send host-name`
 * lines are replaced by one. Returns the inner paths changed. Hosts without dhclient: no-op.
 */
export function setDhclientHostname(root: Sysroot, name: string): string[] {
  validateHostname(name);
  const changed: string[] = [];
  for (const inner of DHCLIENT_CONFS) {
    const host = root.resolve(inner);
    let text: string;
    try {
      if (!statSync(host).isFile()) continue;
      text = readBoundedText(host, 1 << 20, inner, true);
    } catch { continue; }
    const lines = text.split('\n');
    const sending = lines.some((l) => /^\s*send\s+host-name\b/.test(l) && (l.includes('gethostname()') || l.includes(`"${name}"`)));
    if (sending) continue;
    const kept = lines.filter((l) => !/^\s*send\s+host-name\b/.test(l));
    while (kept.length && kept[kept.length - 1] === '') kept.pop();
    kept.push(`send host-name "${name}";`, '');
    writeFileAtomic(host, kept.join('\n'), { mode: statSync(host).mode & 0o7777 });
    changed.push(inner);
  }
  return changed;
}

/** RHEL network-scripts: `DHCP_HOSTNAME=<name>` in ifcfg-<if> when that file exists. */
export function setIfcfgHostname(root: Sysroot, iface: string, name: string): boolean {
  if (!/^[A-Za-z0-9_.:-]{1,15}$/.test(iface)) return false;
  const host = root.resolve(`/etc/sysconfig/network-scripts/ifcfg-${iface}`);
  let text: string;
  try { text = readBoundedText(host, 1 << 20, host, true); } catch { return false; }
  const lines = text.split('\n').filter((l) => !/^\s*DHCP_HOSTNAME=/.test(l));
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  lines.push(`DHCP_HOSTNAME=${name}`, '');
  const next = lines.join('\n');
  if (next === text) return false;
  writeFileAtomic(host, next, { mode: statSync(host).mode & 0o7777 });
  return true;
}

/**
 * Primary interface (the hostname publisher's and the pre-provisioning pool's NIC): the default route
 * (destination 0, RTF_GATEWAY) with the lowest metric in /proc/net/route whose interface is a NIC of
 * /sys/class/net (never lo); else the first NIC by ifindex. Null when there is none — unlike upstream,
 * which loops forever waiting for one.
 */
export function primaryInterface(root: Sysroot, routeTable: string | null = readRouteTable(root)): string | null {
  const links = listLinks(root);
  const known = new Set(links.map((l) => l.name));
  let best: { iface: string; metric: number } | null = null;
  for (const line of (routeTable ?? '').split('\n').slice(1, 10_000)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !known.has(f[0]!)) continue;
    const flags = parseInt(f[3]!, 16);
    const metric = Number(f[6]);
    if (f[1] === '00000000' && (flags & 0x2) && Number.isFinite(metric) && (!best || metric < best.metric)) best = { iface: f[0]!, metric };
  }
  return best?.iface ?? links[0]?.name ?? null;
}

/** Is this network stack running on the machine (so its strategy applies)? */
function present(root: Sysroot, kind: PublishKind): boolean {
  const dir = (p: string) => { try { return lstatSync(root.path(p)).isDirectory(); } catch { return false; } };
  const file = (p: string) => existsSync(root.path(p));
  switch (kind) {
    case 'networkd':
    case 'networkd-restart':
      return dir('/run/systemd/netif');
    case 'networkmanager':
      return dir('/run/NetworkManager');
    case 'ifupdown':
      return (file('/sbin/ifup') || file('/usr/sbin/ifup')) && (file('/etc/network/interfaces') || dir('/etc/sysconfig/network-scripts'));
    case 'iplink':
      return true;
    case 'dhcpcd':
      return dhcpcdRunning(root);
    case 'udhcpc':
      return udhcpcRunning(root) && ['/sbin/ifup', '/usr/sbin/ifup', '/bin/ifup'].some(file);
  }
}

/** Commands of one attempt; an attempt succeeds when its last command exits 0. */
function attemptFor(kind: PublishKind, iface: string): string[][][] {
  switch (kind) {
    // Flatcar/systemd-networkd: reconfigure re-runs DHCP with the (new) system hostname, which
    // networkd sends by default; `renew` is the fallback on older systemd (docs/os.md §4.6).
    case 'networkd': return [[['networkctl', 'reconfigure', iface]], [['networkctl', 'renew', iface]]];
    case 'networkd-restart': return [[['systemctl', 'restart', 'systemd-networkd']]];
    case 'networkmanager': return [[['systemctl', 'restart', 'NetworkManager'], ['ip', 'link', 'set', iface, 'down'], ['ip', 'link', 'set', iface, 'up']]];
    case 'ifupdown': return [[['ifdown', iface], ['ifup', iface]]];
    case 'iplink': return [[['ip', 'link', 'set', iface, 'down'], ['ip', 'link', 'set', iface, 'up']]];
    case 'dhcpcd': return [[dhcpcdRebindArgv(iface)]];
    // udhcpc sends the name it was started with: ifupdown restarts it with the stanza's hostname.
    case 'udhcpc': return [[['ifdown', iface], ['ifup', iface]]];
  }
}

export interface PublishOptions extends LiveOption {
  /** Lib.Dir, for `published_hostname`. */
  libDir: string;
  publishers: PublishKind[];
  /** Attempts per strategy (upstream 3) and the pause between them (upstream 5 s). */
  tries?: number;
  delayMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

export interface PublishResult {
  dhcpFilesChanged: string[];
  iface: string | null;
  publisher: PublishKind | null;
  /** Whether the new DHCP request was triggered. */
  ok: boolean;
}

/**
 * docs/os.md §4.6: point the DHCP client at the name, record it in `<Lib.Dir>/published_hostname`, then
 * make the primary interface send a new DHCP request. Bounded: `tries` attempts, no endless wait.
 * Only on the host root: another root's network is not running here.
 */
export async function publishHostname(runner: Runner, root: Sysroot, name: string, opts: PublishOptions): Promise<PublishResult> {
  validateHostname(name);
  const dhcpFilesChanged = [...setDhclientHostname(root, name), ...setDhcpcdHostname(root, name)];
  writeFileAtomic(root.pathNoFollow(posix.join(opts.libDir, 'published_hostname')), name, { mode: 0o644, mkdirMode: 0o700 });
  const iface = primaryInterface(root);
  const stanza = iface ? setInterfacesHostname(root, iface, name) : { stanza: false, changed: false };
  if (stanza.changed) dhcpFilesChanged.push(INTERFACES);
  if (iface) setIfcfgHostname(root, iface, name);
  const publisher = opts.publishers.find((k) => present(root, k)) ?? null;
  if (publisher === 'udhcpc' && !stanza.stanza) {
    log.once('WARNING', 'udhcpc-no-stanza', `udhcpc runs without an "iface ${iface ?? '<if>'} inet dhcp" stanza in ${INTERFACES}: it keeps sending the hostname it was started with (-x hostname:...); restart it with the new name to publish ${name}`);
    return { dhcpFilesChanged, iface, publisher, ok: false };
  }
  if (!(opts.live ?? root.isHost) || !iface || !publisher) return { dhcpFilesChanged, iface, publisher, ok: false };
  const tries = Math.max(1, Math.min(opts.tries ?? 3, 10));
  const sleep = opts.sleep ?? delay;
  for (let i = 0; i < tries; i++) {
    if (i > 0) await sleep(opts.delayMs ?? 5_000);
    for (const alternative of attemptFor(publisher, iface)) {
      let last = -1;
      for (const argv of alternative) last = (await runner.run(argv, { timeoutMs: 60_000 })).code ?? -1;
      if (last === 0) return { dhcpFilesChanged, iface, publisher, ok: true };
    }
  }
  return { dhcpFilesChanged, iface, publisher, ok: false };
}
