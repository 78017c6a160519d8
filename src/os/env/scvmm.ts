// SCVMM (System Center VMM) detection (docs/os.md §8.4, only with DetectScvmmEnv=y): a VMM-managed VM gets
// an ISO with linuxosconfiguration.xml and an `install` script. Done properly here: the CD driver is
// loaded with modprobe (not insmod of a guessed path), each candidate drive is mounted read-only ONCE
// (upstream's retry loop ran zero times and never mounted anything), and a drive without the file is
// unmounted again.
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { posix } from 'node:path';
import type { Runner } from '../../util/exec.ts';
import type { Sysroot } from '../../util/sysroot.ts';

export const SCVMM_CONFIG = 'linuxosconfiguration.xml';
const DRIVE_RE = /^(sr[0-9]|hd[c-z]|cdrom[0-9]?|cd[0-9]+)$/;

export interface ScvmmResult {
  found: boolean;
  device?: string;
  mountPoint: string;
}

export async function detectScvmm(root: Sysroot, runner: Runner, mountPoint: string): Promise<ScvmmResult> {
  // ata_piix provides the IDE CD drive on Gen1 Hyper-V; an error only means it is built in or absent.
  await runner.run(['modprobe', 'ata_piix'], { timeoutMs: 30_000 });
  let devs: string[] = [];
  try { devs = readdirSync(root.path('/dev')).filter((d) => DRIVE_RE.test(d)).sort(); } catch { /* no /dev */ }
  const mp = root.path(mountPoint);
  const marker = posix.join(mountPoint, SCVMM_CONFIG);
  // Already mounted by someone (or a previous run): look first.
  if (existsSync(root.path(marker))) return { found: true, mountPoint };
  for (const d of devs) {
    mkdirSync(mp, { recursive: true, mode: 0o755 });
    const m = await runner.run(['mount', '-o', 'ro', `/dev/${d}`, mountPoint], { timeoutMs: 30_000 });
    if (m.code !== 0) continue;
    if (existsSync(root.path(marker))) return { found: true, device: `/dev/${d}`, mountPoint };
    await runner.run(['umount', mountPoint], { timeoutMs: 30_000 });
  }
  return { found: false, mountPoint };
}

/** The VMM agent bootstrap as upstream starts it: `/bin/bash <mp>/install "-p <mp>"` (ONE argument, kept for the script). */
export function scvmmInstallArgv(mountPoint: string): string[] {
  return ['/bin/bash', posix.join(mountPoint, 'install'), `-p ${mountPoint}`];
}
