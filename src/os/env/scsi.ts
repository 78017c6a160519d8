// SCSI command timeout (docs/os.md §6.7, OS.RootDeviceScsiTimeout): every /sys/block/sd*/device/timeout
// that differs from the configured value is set. NVMe is left alone (azure-vm-utils sets its own).
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Sysroot } from '../../util/sysroot.ts';
import { errorText } from '../../util/errors.ts';

/** Returns the devices changed. A device that refuses the write is reported by the thrown error. */
export function setScsiTimeouts(root: Sysroot, value: string): string[] {
  if (!/^\d{1,6}$/.test(value.trim())) throw new Error(`OS.RootDeviceScsiTimeout: not a number of seconds: ${JSON.stringify(value)}`);
  const want = String(Number(value.trim()));
  let devs: string[] = [];
  try { devs = readdirSync(root.path('/sys/block')).filter((d) => /^sd[a-z]+$/.test(d)); } catch { return []; }
  const changed: string[] = [];
  const errors: string[] = [];
  for (const dev of devs.slice(0, 256)) {
    const p = root.path(`/sys/block/${dev}/device/timeout`);
    let cur: string;
    try { cur = readFileSync(p, 'utf8').split('\n')[0]!.trim(); } catch { continue; }
    if (cur === want) continue;
    try {
      writeFileSync(p, want);
      changed.push(dev);
    } catch (e) {
      errors.push(`${dev}: ${errorText(e)}`);
    }
  }
  if (errors.length) throw new Error(`setting SCSI timeouts: ${errors.join('; ')}`);
  return changed;
}
