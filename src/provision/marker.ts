// The provisioned marker `<Lib.Dir>/provisioned` (docs/os.md §4.3): its presence means "this VM was
// provisioned", its content is the vmId it was provisioned as. Written LAST by a successful run
// (atomically), so a run killed anywhere before leaves no marker and the next run converges.
// A marker from another VM (an image captured without deprovisioning) triggers the "changed unique
// id" cleanup of per-VM agent state, never a re-provisioning of user or hostname.
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { matchFiles, removePaths } from '../os/files.ts';
import { sameVmId } from './vmid.ts';

export const MARKER_FILE = 'provisioned';
export const DISABLE_AGENT_FILE = 'disable_agent';

export function markerPath(libDir: string): string {
  return posix.join(libDir, MARKER_FILE);
}

/** The stored id (trimmed), or null when there is no marker. */
export function readMarker(root: Sysroot, libDir: string): string | null {
  try {
    return readFileSync(root.path(markerPath(libDir)), 'utf8').slice(0, 1024).trim();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    // Unreadable but present (EISDIR, EACCES): it exists, so the VM counts as provisioned.
    return '';
  }
}

/** The id without a newline, 0644 inside the 0700 Lib.Dir (docs/os.md §4.3 recommendation). */
export function writeMarker(root: Sysroot, libDir: string, vmId: string): void {
  writeFileAtomic(root.pathNoFollow(markerPath(libDir)), vmId, { mode: 0o644, mkdirMode: 0o700 });
}

export type MarkerState =
  | { kind: 'absent' }
  | { kind: 'same' }
  /** The current id is unknown (no DMI, no IMDS): nothing to compare, so nothing is cleaned. */
  | { kind: 'unknown'; stored: string }
  | { kind: 'empty' }
  | { kind: 'changed'; stored: string };

export function checkMarker(stored: string | null, currentId: string): MarkerState {
  if (stored === null) return { kind: 'absent' };
  if (!currentId) return stored ? { kind: 'unknown', stored } : { kind: 'same' };
  if (!stored) return { kind: 'empty' };
  return sameVmId(stored, currentId) ? { kind: 'same' } : { kind: 'changed', stored };
}

const LEASE_DIRS = ['/var/lib/dhclient', '/var/lib/dhcpcd', '/var/lib/dhcp'];
const LEASE_GLOBS = ['/var/db/dhclient.leases.*', '/var/lib/NetworkManager/dhclient-*.lease', '/run/systemd/netif/leases/*'];
const LIB_FILES = [
  'HostingEnvironmentConfig.xml', 'Incarnation', 'partition', 'Protocol', 'SharedConfig.xml', 'WireServerEndpoint',
  'published_hostname', 'fast_track.json', 'initial_goal_state', 'waagent_rsm_update', 'waagent_initial_update',
  'Extensions.*.xml', 'ExtensionsConfig.*.xml', 'GoalState.*.xml', 'waagent-network-setup.py',
];
const UNIT_DIRS = ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];
/** `<Name>-<Version>` handler directories (the agent's own `WALinuxAgent-*` excluded). */
const HANDLER_DIR_RE = /^(?!WALinuxAgent-)[A-Za-z0-9_.]+(?:\.[A-Za-z0-9_-]+)*-\d+(?:\.\d+){0,3}$/;

function isDir(root: Sysroot, p: string): boolean {
  try { return lstatSync(root.path(p)).isDirectory(); } catch { return false; }
}

/**
 * The files the "changed unique id" cleanup removes (inner paths, regular files and links only):
 * DHCP leases of the old VM, per-VM protocol state in Lib.Dir, per-extension status/settings (so
 * extensions start over), the firewall persistence unit and cgroup drop-ins. Extension packages,
 * the user, its keys and the hostname stay.
 */
export function changedIdCleanupList(root: Sysroot, libDir: string): string[] {
  const leases = LEASE_DIRS.flatMap((d) => matchFiles(root, [`${d}/*`]));
  const lib = matchFiles(root, LIB_FILES.map((f) => posix.join(libDir, f)));
  const ext: string[] = [];
  let entries: string[] = [];
  try { entries = readdirSync(root.path(libDir)).sort(); } catch { /* no Lib.Dir */ }
  for (const name of entries.slice(0, 10_000)) {
    const dir = posix.join(libDir, name);
    if (!HANDLER_DIR_RE.test(name) || !isDir(root, dir)) continue;
    ext.push(...matchFiles(root, [`${dir}/status/*.status`, `${dir}/config/*.settings`, `${dir}/config/HandlerStatus`, `${dir}/mrseq`]));
  }
  const units = matchFiles(root, UNIT_DIRS.flatMap((d) => [
    `${d}/waagent-network-setup.service`, `${d}/network.target.wants/waagent-network-setup.service`,
    `${d}/waagent.service.d/10-Slice.conf`, `${d}/waagent.service.d/11-CPUAccounting.conf`,
    `${d}/waagent.service.d/12-CPUQuota.conf`, `${d}/waagent.service.d/13-MemoryAccounting.conf`,
    `${d}/azure-walinuxagent-logcollector.slice`,
  ]));
  return [...leases, ...matchFiles(root, LEASE_GLOBS), ...lib, ...ext, ...units];
}

/** Runs the cleanup; returns what was removed. */
export function changedIdCleanup(root: Sysroot, libDir: string): string[] {
  const list = changedIdCleanupList(root, libDir);
  removePaths(root, list);
  return list;
}
