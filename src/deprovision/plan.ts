// Deprovision as a list of steps computed up front: the same list drives the warnings, -dry-run
// (which prints every concrete item) and the real run (which reports each step). All paths are
// inner paths of a Sysroot, so deprovisioning an OS disk mounted elsewhere (rescue mode) is the
// same code with another root.
//
// Deliberately better than the Python agent (docs/os.md §7, §13): SSH host keys and extension state are
// always removed; a symlinked resolv.conf (systemd-resolved, Flatcar) is never deleted; system
// users are really skipped; sudoers lines are removed by their first field only.
import { lstatSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../util/sysroot.ts';
import { dirContents, hostPathNoFollow, matchFiles } from '../os/files.ts';
import { parseXml } from '../util/xml.ts';
import { readBoundedText } from '../util/fsread.ts';

export interface DeprovisionConfig {
  libDir: string;
  extensionLogDir: string;
  sshDir: string;
  deleteRootPassword: boolean;
  /** OS.SudoersDir, for the listing (default /etc/sudoers.d). */
  sudoersDir?: string;
}

/** OS actions the plan composes; the command wires the real src/os modules in. */
export interface DeprovisionOs {
  /** Stop the agent service (only meaningful on the running system). */
  stopService(): Promise<void>;
  /** Reset the hostname (files; the live name only on the running system). */
  resetHostname(name: string): Promise<void>;
  lockRootPassword(): Promise<void>;
  /** true when the user exists and is a system account (which must never be deleted). */
  isSystemUser(user: string): boolean;
  /** userdel -f -r (through the tool's --root for another root) and the user's sudoers lines. */
  deleteUser(user: string): Promise<void>;
  /** The user's home directory (inner path) from passwd, for the listing. */
  userHome?(user: string): string | undefined;
}

export interface Step {
  id: string;
  title: string;
  /** Everything this step does, one line each: `remove <inner path>` for removals, then its actions. */
  items: string[];
  /** Inner paths removed (files, links, whole subtrees). */
  remove: string[];
  /** Extra action run after the removals. */
  action?: () => Promise<void>;
}

export interface Plan {
  warnings: string[];
  steps: Step[];
  user?: string;
}

const LEASE_DIRS = ['/var/lib/dhclient', '/var/lib/dhcpcd', '/var/lib/dhcp'];
const LEASE_GLOBS = ['/var/db/dhclient.leases.*', '/var/lib/NetworkManager/dhclient-*.lease', '/var/lib/NetworkManager/internal-*.lease', '/run/systemd/netif/leases/*'];
const OPENBSD_FILES = ['/etc/random.seed', '/var/db/host.random', '/etc/isakmpd/local.pub', '/etc/isakmpd/private/local.key', '/etc/iked/private/local.key', '/etc/iked/local.pub'];
const UNIT_DIRS = ['/etc/systemd/system', '/lib/systemd/system', '/usr/lib/systemd/system'];
export const RESET_HOSTNAME = 'localhost.localdomain';

/** The admin user recorded by provisioning: the (password-redacted) ovf-env.xml copy in Lib.Dir. */
export function provisionedUser(root: Sysroot, libDir: string): string | undefined {
  let text: string;
  // Resolved as inside the root: on a rescued disk an absolute link must not lead to the rescue VM's file.
  try { text = readBoundedText(root.resolve(`${libDir}/ovf-env.xml`), 4 << 20, `${libDir}/ovf-env.xml`, true); } catch { return undefined; }
  try {
    const doc = parseXml(text, `${libDir}/ovf-env.xml`);
    const find = (el: typeof doc): string | undefined => {
      if (el.local === 'UserName') return el.text.trim() || undefined;
      for (const c of el.children) { const r = find(c); if (r) return r; }
      return undefined;
    };
    return find(doc);
  } catch { return undefined; }
}

/** Directories whose contents deprovision would never empty, whatever waagent.conf says. */
const SYSTEM_DIRS = new Set(['/bin', '/boot', '/dev', '/etc', '/home', '/lib', '/lib64', '/media', '/mnt', '/opt', '/proc', '/root',
  '/run', '/sbin', '/srv', '/sys', '/tmp', '/usr', '/var', '/var/lib', '/var/log', '/var/cache', '/var/tmp', '/var/spool', '/var/mail',
  '/usr/lib', '/usr/local', '/usr/share', '/usr/bin', '/usr/sbin', '/etc/ssh', '/etc/systemd', '/oem', '/usr/share/oem']);

/** An absolute, normalised path at least two levels deep that is not a system directory. */
export function isAgentDir(dir: string): boolean {
  const n = posix.normalize(dir).replace(/\/+$/, '');
  if (!n.startsWith('/') || n.split('/').filter(Boolean).length < 2) return false;
  return !SYSTEM_DIRS.has(n);
}

function isSymlink(root: Sysroot, p: string): boolean {
  try { return lstatSync(hostPathNoFollow(root, p)).isSymbolicLink(); } catch { return false; }
}

export function planDeprovision(root: Sysroot, conf: DeprovisionConfig, os: DeprovisionOs, opts: { deleteUser: boolean; flatcar: boolean; liveSystem: boolean }): Plan {
  const warnings: string[] = [];
  const steps: Step[] = [];
  // Paths of a hostile or broken disk that cannot be resolved inside the root (link loops): skipped and named.
  const problems: string[] = [];
  const add = (id: string, title: string, remove: string[], action?: () => Promise<void>, extra: string[] = []) =>
    steps.push({ id, title, items: [...remove.map((p) => `remove ${p}`), ...extra], remove, action });

  if (opts.liveSystem) {
    warnings.push('WARNING! The waagent service will be stopped.');
    add('service', 'stop the agent service', [], () => os.stopService(), ['stop waagent.service']);
  }

  warnings.push('WARNING! All SSH host key pairs will be deleted.');
  add('hostkeys', 'SSH host key pairs', matchFiles(root, [`${conf.sshDir}/ssh_host_*key*`], problems));

  warnings.push('WARNING! Cached DHCP leases will be deleted.');
  add('leases', 'cached DHCP leases', [...LEASE_DIRS.flatMap((d) => dirContents(root, d, problems)), ...matchFiles(root, LEASE_GLOBS, problems)]);

  add('hostname', `hostname reset to ${RESET_HOSTNAME}`, [], () => os.resetHostname(RESET_HOSTNAME),
    [`write ${RESET_HOSTNAME} to /etc/hostname${opts.liveSystem ? ' and set the running hostname' : ''}`]);

  if (conf.deleteRootPassword) {
    warnings.push('WARNING! root password will be disabled. You will not be able to login as root.');
    add('rootpw', 'root password locked', [], () => os.lockRootPassword(), ['lock the root password']);
  }

  // The user must be read before Lib.Dir (and with it ovf-env.xml) is emptied.
  let user: string | undefined;
  if (opts.deleteUser) {
    user = provisionedUser(root, conf.libDir);
    if (!user) {
      warnings.push('WARNING! ovf-env.xml is not found.');
      warnings.push('WARNING! Skip delete user.');
    } else if (os.isSystemUser(user)) {
      warnings.push(`WARNING! ${user} is a system user. Will not delete it.`);
      user = undefined;
    } else {
      warnings.push(`WARNING! ${user} account and entire home directory will be deleted.`);
    }
  }

  // Lib.Dir and Extension.LogDir come from waagent.conf: a typo there (Lib.Dir=/var) must not
  // empty a system directory. Such a directory is refused, and the step reports it as failed.
  const bad = [conf.libDir, conf.extensionLogDir].filter((d) => !isAgentDir(d));
  if (bad.length) {
    add('agentstate', 'agent and extension state', [], async () => {
      throw new Error(`refusing to empty ${bad.join(' and ')}: not an agent directory (check Lib.Dir and Extension.LogDir)`);
    }, bad.map((d) => `refuse to empty ${d}`));
  } else {
    add('agentstate', 'agent and extension state', [...dirContents(root, conf.libDir, problems), ...dirContents(root, conf.extensionLogDir, problems)]);
  }
  add('history', 'shell history and agent log', matchFiles(root, ['/root/.bash_history', '/var/log/waagent.log', '/var/log/waagent.log.*', ...OPENBSD_FILES], problems));

  if (isSymlink(root, '/etc/resolv.conf')) {
    warnings.push('WARNING! /etc/resolv.conf is a symbolic link (managed by the system resolver) and will NOT be removed.');
  } else {
    warnings.push('WARNING! /etc/resolv.conf will be deleted.');
    add('resolv', 'resolv.conf', matchFiles(root, ['/etc/resolv.conf'], problems));
  }

  if (user) {
    const name = user;
    const home = os.userHome?.(name);
    const sudoers = `${(conf.sudoersDir ?? '/etc/sudoers.d').replace(/\/+$/, '')}/waagent`;
    add('user', `user ${name}, its home directory and sudoers lines`, [], () => os.deleteUser(name),
      [`delete user ${name} with its home directory${home ? ` ${home}` : ''} (userdel -r) and its lines in ${sudoers}`]);
  }

  add('units', 'firewall unit and cgroup artefacts', matchFiles(root, UNIT_DIRS.flatMap((d) => [
    `${d}/waagent-network-setup.service`,
    `${d}/network.target.wants/waagent-network-setup.service`,
    `${d}/waagent.service.d/10-Slice.conf`, `${d}/waagent.service.d/11-CPUAccounting.conf`,
    `${d}/waagent.service.d/12-CPUQuota.conf`, `${d}/waagent.service.d/13-MemoryAccounting.conf`,
    `${d}/azure-walinuxagent-logcollector.slice`, `${d}/azure-vmextensions.slice`,
  ]), problems));

  if (opts.flatcar) {
    warnings.push('WARNING! /etc/machine-id will be removed.');
    add('machineid', 'machine-id', matchFiles(root, ['/etc/machine-id'], problems));
  }
  for (const p of problems) warnings.push(`WARNING! ${p}: skipped (nothing outside the target is ever followed)`);
  return { warnings, steps, user };
}
