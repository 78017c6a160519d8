// dhcpcd (Alpine, Arch, Raspberry Pi OS, Gentoo images): how it learns the hostname to send and how it is
// made to send it again (docs/os.md §4.6 for dhcpcd).
//   * /etc/dhcpcd.conf: a bare `hostname` option in the global section makes dhcpcd send the system hostname
//     of the moment (dhcpcd.conf(5)); global options must come before the first `interface`/`ssid`/`profile`
//     block, or they would only apply to that block. A global `hostname <our name>` is kept as it is; any
//     other global `hostname ...` line is replaced by the bare option.
//   * `dhcpcd -n <if>`: the running manager reloads its configuration and rebinds the interface, i.e. sends a
//     new DHCP REQUEST carrying the hostname.
import { readFileSync, statSync } from 'node:fs';
import type { Sysroot } from '../../util/sysroot.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { pidsByName } from '../process.ts';
import { validateHostname } from '../validate.ts';

export const DHCPCD_CONF = '/etc/dhcpcd.conf';
const MAX_CONF = 1 << 20;
const BLOCK = /^\s*(interface|ssid|profile|inform6?)\b/;
const HOSTNAME = /^\s*hostname(\s+(\S+))?\s*$/;

/** The config text with the global `hostname` option in place (null: unchanged). Pure, for tests. */
export function dhcpcdConfWithHostname(text: string, name: string): string | null {
  const lines = text.split('\n');
  let end = lines.findIndex((l) => BLOCK.test(l));
  if (end < 0) end = lines.length;
  const global = lines.slice(0, end);
  const current = global.map((l) => HOSTNAME.exec(l)).filter((m) => m !== null);
  if (current.length === 1 && (current[0]![2] === undefined || current[0]![2] === name)) return null;
  const kept = global.filter((l) => !HOSTNAME.test(l));
  while (kept.length && kept[kept.length - 1] === '') kept.pop();
  const rest = lines.slice(end);
  const out = [...kept, '# Send the system hostname (waagent: Azure DNS learns the name through DHCP)', 'hostname'];
  if (rest.length) out.push('', ...rest);
  else out.push('');
  return out.join('\n');
}

/** Makes /etc/dhcpcd.conf send the hostname when the file exists (owner and mode kept). Returns the paths changed. */
export function setDhcpcdHostname(root: Sysroot, name: string): string[] {
  validateHostname(name);
  const host = root.resolve(DHCPCD_CONF);
  let text: string;
  try {
    const st = statSync(host);
    if (!st.isFile() || st.size > MAX_CONF) return [];
    text = readFileSync(host, 'utf8');
  } catch { return []; }
  const next = dhcpcdConfWithHostname(text, name);
  if (next === null) return [];
  const st = statSync(host);
  writeFileAtomic(host, next, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  return [DHCPCD_CONF];
}

export function dhcpcdRunning(root: Sysroot): boolean {
  return pidsByName(root, ['dhcpcd']).length > 0;
}

/** One attempt: rebind the interface (reloads dhcpcd.conf first). */
export function dhcpcdRebindArgv(iface: string): string[] {
  return ['dhcpcd', '-n', iface];
}
