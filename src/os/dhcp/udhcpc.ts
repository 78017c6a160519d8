// busybox udhcpc (Alpine and other minimal images): it has no configuration file; the hostname it sends is
// the `-x hostname:<name>` given when it starts, which ifupdown (busybox's or Debian's) builds from the
// `hostname <name>` option of the interface's `iface <if> inet dhcp` stanza in /etc/network/interfaces.
// So the name goes into that stanza, and the client is made to send it by `ifdown <if>; ifup <if>` (a renew
// with SIGUSR1 would still send the name it was started with). A udhcpc started some other way (no
// stanza) cannot be told the new name: the caller says so once.
import { readFileSync, statSync } from 'node:fs';
import type { Sysroot } from '../../util/sysroot.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { pidsByName } from '../process.ts';
import { validateHostname } from '../validate.ts';

export const INTERFACES = '/etc/network/interfaces';
const MAX_CONF = 1 << 20;
const STANZA_START = /^\s*(iface|auto|allow-\S+|mapping|source|source-directory|rename)\b/;

export interface StanzaEdit {
  /** The interface has an `iface <if> inet dhcp` stanza. */
  stanza: boolean;
  /** New text (null: unchanged or no stanza). */
  text: string | null;
}

/** Puts `hostname <name>` into the `iface <if> inet dhcp` stanza. Pure, for tests. */
export function interfacesWithHostname(text: string, iface: string, name: string): StanzaEdit {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => { const f = l.trim().split(/\s+/); return f[0] === 'iface' && f[1] === iface && f[2] === 'inet' && f[3] === 'dhcp'; });
  if (start < 0) return { stanza: false, text: null };
  let end = lines.findIndex((l, i) => i > start && STANZA_START.test(l));
  if (end < 0) end = lines.length;
  const body = lines.slice(start + 1, end);
  const existing = body.filter((l) => /^\s*hostname\s/.test(l));
  if (existing.length === 1 && existing[0]!.trim().split(/\s+/)[1] === name) return { stanza: true, text: null };
  const indent = /^(\s+)\S/.exec(body.find((l) => l.trim() !== '') ?? '')?.[1] ?? '\t';
  const kept = body.filter((l) => !/^\s*hostname\s/.test(l));
  const out = [...lines.slice(0, start + 1), `${indent}hostname ${name}`, ...kept, ...lines.slice(end)];
  return { stanza: true, text: out.join('\n') };
}

/** Edits /etc/network/interfaces for the interface (owner and mode kept). */
export function setInterfacesHostname(root: Sysroot, iface: string, name: string): { stanza: boolean; changed: boolean } {
  validateHostname(name);
  if (!/^[A-Za-z0-9_.:@-]{1,15}$/.test(iface)) return { stanza: false, changed: false };
  const host = root.resolve(INTERFACES);
  let text: string;
  let st;
  try {
    st = statSync(host);
    if (!st.isFile() || st.size > MAX_CONF) return { stanza: false, changed: false };
    text = readFileSync(host, 'utf8');
  } catch { return { stanza: false, changed: false }; }
  const r = interfacesWithHostname(text, iface, name);
  if (r.text === null) return { stanza: r.stanza, changed: false };
  writeFileAtomic(host, r.text, { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid });
  return { stanza: true, changed: true };
}

export function udhcpcRunning(root: Sysroot): boolean {
  return pidsByName(root, ['udhcpc']).length > 0;
}
