// Which Linux this is, and the small set of per-distro choices the OS actions need. Differences are
// data (a DistroProfile) chosen once from os-release, so the action modules stay free of
// distro if-chains.
import type { Sysroot } from '../util/sysroot.ts';
import { readBoundedText } from '../util/fsread.ts';

export type DistroFamily = 'debian' | 'ubuntu' | 'rhel' | 'flatcar' | 'generic';

export interface OsRelease {
  id: string;
  idLike: string[];
  versionId: string;
  name: string;
  prettyName: string;
}

/** How a new DHCP request carrying the hostname is triggered (spec docs/os.md §4.6 step 4). */
export type PublishKind = 'networkd' | 'networkd-restart' | 'networkmanager' | 'ifupdown' | 'iplink' | 'dhcpcd' | 'udhcpc';

export interface DistroProfile {
  family: DistroFamily;
  os: OsRelease;
  hostname: {
    /** Try `hostnamectl set-hostname` before the plain `hostname` command. */
    useHostnamectl: boolean;
  };
  /** Ordered candidates; the first one whose network stack is present on the machine is used. */
  publishers: PublishKind[];
  sshd: {
    /** Drop-in file name in `<OS.SshDir>/sshd_config.d`. */
    dropInName: string;
    /**
     * Write the drop-in whenever the directory exists, without checking that the main config Includes
     * it (Flatcar: the main file is a read-only symlink into /usr whose Include we cannot change).
     */
    dropInWithoutInclude: boolean;
    /** Command that makes sshd pick up new settings; null = nothing to do (socket-activated sshd). */
    restart: string[] | null;
  };
  user: {
    /** Login shell for new users, used only if it exists in the root; null = the useradd default. */
    shell: string | null;
    /** Supplementary groups for new users, filtered to those that exist in /etc/group. */
    groups: string[];
    /** Names never treated as system users although their uid is low (Flatcar's `core`, uid 500). */
    neverSystemUsers: string[];
  };
}

/** os-release(5): KEY=value lines, values optionally quoted with shell-like escapes. */
export function parseOsRelease(text: string): OsRelease {
  const kv = new Map<string, string>();
  for (const raw of text.split('\n').slice(0, 500)) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2]!;
    if (v.length >= 2 && (v[0] === '"' || v[0] === "'") && v.endsWith(v[0])) {
      v = v.slice(1, -1);
      if (m[2]![0] === '"') v = v.replace(/\\(["\\`$])/g, '$1');
    }
    kv.set(m[1]!, v);
  }
  return {
    id: (kv.get('ID') ?? 'linux').toLowerCase(),
    idLike: (kv.get('ID_LIKE') ?? '').toLowerCase().split(/\s+/).filter(Boolean),
    versionId: kv.get('VERSION_ID') ?? '',
    name: kv.get('NAME') ?? 'Linux',
    prettyName: kv.get('PRETTY_NAME') ?? kv.get('NAME') ?? 'Linux',
  };
}

/** /etc/os-release, falling back to /usr/lib/os-release (os-release(5) lookup order). */
export function readOsRelease(root: Sysroot): OsRelease {
  for (const p of ['/etc/os-release', '/usr/lib/os-release']) {
    try {
      // Bounded read: os-release is tiny; a huge file is not an os-release.
      const text = readBoundedText(root.resolve(p), 1 << 20, p, true);
      return parseOsRelease(text.slice(0, 64 * 1024));
    } catch { /* try the next one */ }
  }
  return parseOsRelease('');
}

export function familyOf(os: OsRelease): DistroFamily {
  const ids = [os.id, ...os.idLike];
  if (os.id === 'flatcar' || os.id === 'coreos' || ids.includes('flatcar')) return 'flatcar';
  if (os.id === 'ubuntu') return 'ubuntu';
  if (ids.includes('debian') || ids.includes('ubuntu')) return 'debian';
  if (['rhel', 'centos', 'fedora', 'almalinux', 'rocky', 'ol', 'azurelinux', 'mariner'].some((x) => ids.includes(x))) return 'rhel';
  return 'generic';
}

const BASE_SSHD = { dropInName: '10-waagent.conf', dropInWithoutInclude: false, restart: null };

export function profileFor(os: OsRelease): DistroProfile {
  const family = familyOf(os);
  switch (family) {
    case 'flatcar':
      return {
        family, os,
        hostname: { useHostnamectl: true },
        publishers: ['networkd'],
        // Same file name as Flatcar's patched Python agent, so an image switching agents (and its
        // deprovision) finds one file, not two. sshd is socket-activated: no restart.
        sshd: { dropInName: '80-flatcar-walinuxagent.conf', dropInWithoutInclude: true, restart: null },
        user: { shell: '/bin/bash', groups: [], neverSystemUsers: ['core'] },
      };
    case 'rhel':
      return {
        family, os,
        hostname: { useHostnamectl: true },
        publishers: ['networkmanager', 'dhcpcd', 'udhcpc', 'ifupdown', 'networkd'],
        sshd: { ...BASE_SSHD, restart: ['systemctl', 'condrestart', 'sshd'] },
        user: { shell: '/bin/bash', groups: [], neverSystemUsers: [] },
      };
    case 'ubuntu':
    case 'debian':
      return {
        family, os,
        hostname: { useHostnamectl: false },
        publishers: ['networkd', 'networkmanager', 'dhcpcd', 'udhcpc', 'ifupdown'],
        // Upstream DebianOSUtil: reload (or restart) a running ssh service, ignoring dependencies so
        // it cannot pull other units in; an inactive service stays inactive (try-).
        sshd: { ...BASE_SSHD, restart: ['systemctl', '--job-mode=ignore-dependencies', 'try-reload-or-restart', 'ssh'] },
        user: { shell: '/bin/bash', groups: [], neverSystemUsers: [] },
      };
    default:
      return {
        family, os,
        hostname: { useHostnamectl: false },
        publishers: ['networkd', 'networkmanager', 'dhcpcd', 'udhcpc', 'ifupdown'],
        sshd: { ...BASE_SSHD },
        user: { shell: null, groups: [], neverSystemUsers: [] },
      };
  }
}

export function detectDistro(root: Sysroot): DistroProfile {
  return profileFor(readOsRelease(root));
}
