// The VM's unique id as the provisioned marker records it (docs/os.md §4.3): the SMBIOS system UUID with
// its first three fields byte-swapped, which is what IMDS calls vmId (docs/protocol.md §3). Read through
// the Sysroot from sysfs; `dmidecode` only when sysfs has no DMI (as upstream).
import { readFileSync } from 'node:fs';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';

const UUID_RE = /^\s*[A-F0-9]{8}(-[A-F0-9]{4}){3}-[A-F0-9]{12}\s*$/i;

export function isUuid(s: string): boolean {
  return UUID_RE.test(s);
}

/** Pairs of hex digits in reverse order: `544CDFD0` -> `D0DF4C54`. */
function reverseBytes(hex: string): string {
  const pairs = hex.match(/../g) ?? [];
  return pairs.reverse().join('');
}

/**
 * `544CDFD0-CB4E-4B4A-9954-5BDF3ED5C3B8` -> `D0DF4C54-4ECB-4A4B-9954-5BDF3ED5C3B8`: the first three
 * groups byte-reversed, the last two unchanged, case preserved. Anything that is not a UUID is
 * returned trimmed and otherwise untouched (upstream's `_correct_instance_id`).
 */
export function swapUuid(id: string): string {
  const t = id.trim();
  if (!isUuid(t)) return t;
  const g = t.split('-');
  return [reverseBytes(g[0]!), reverseBytes(g[1]!), reverseBytes(g[2]!), g[3], g[4]].join('-');
}

/**
 * Same VM? Case-insensitive, and the stored value may be in either byte order (older agents and
 * Gen2 VMs, where SMBIOS already shows the swapped form).
 */
export function sameVmId(stored: string, current: string): boolean {
  const a = stored.trim().toLowerCase();
  const b = current.trim().toLowerCase();
  return a === b || swapUuid(a) === b;
}

/**
 * The vmId of this machine from /sys/class/dmi/id/product_uuid (or `dmidecode --string system-uuid`
 * when sysfs has no DMI), byte-swapped; '' when neither yields a UUID. Never throws.
 */
export async function readVmId(root: Sysroot, runner: Runner): Promise<string> {
  let raw = '';
  try {
    raw = readFileSync(root.path('/sys/class/dmi/id/product_uuid'), 'utf8').slice(0, 256).trim();
  } catch {
    if (root.isHost) {
      // dmidecode reads the firmware tables of THIS machine: meaningless for another root.
      try {
        const r = await runner.run(['dmidecode', '--string', 'system-uuid'], { timeoutMs: 10_000 });
        if (r.code === 0) raw = r.stdout.trim().split('\n').pop()?.trim() ?? '';
      } catch { /* no dmidecode */ }
    }
  }
  return isUuid(raw) ? swapUuid(raw) : '';
}
