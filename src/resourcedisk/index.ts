// Entry point of the resource disk feature (docs/os.md §5): the daemon calls activateResourceDisk once
// per start, before provisioning; tests call it with a temp Sysroot. It never throws: every
// problem becomes a logged line and an outcome, so the daemon carries on.
import { posix } from 'node:path';
import { errorText } from '../util/errors.ts';
import { realSleep } from '../os/disk/env.ts';
import type { DiskEnv } from '../os/disk/env.ts';
import { isValidFsName } from '../os/disk/mkfs.ts';
import { discoverTempDisk } from './discover.ts';
import { mountOrFormat } from './mount-or-format.ts';
import type { PartitionWait } from './mount-or-format.ts';
import { ensureSwap } from './swap.ts';
import type { ResourceDiskConfig, ResourceDiskContext, ResourceDiskResult } from './types.ts';
import { writeDataLossWarning } from './warning.ts';

export type { ResourceDiskConfig, ResourceDiskContext, ResourceDiskResult, SwapResult, DiskOutcome, SwapOutcome } from './types.ts';
export { resourceDiskConfig } from './config.ts';

/** Up to 5 × 2 s for a new partition's node (the Python agent waits 5 × 5 s). */
const PARTITION_WAIT: PartitionWait = { tries: 5, intervalMs: 2000 };

/** Paths where mounting a disk would hide the system itself. */
const FORBIDDEN_MOUNT_POINTS = /^\/(|proc|sys|dev|run|boot|etc|usr|var|bin|sbin|lib|lib64)(\/|$)/;

function normalizeMountPoint(p: string): string { return posix.normalize(p).replace(/(.)\/+$/, '$1'); }

function configProblem(c: ResourceDiskConfig): string | null {
  if (!isValidFsName(c.filesystem)) return `ResourceDisk.Filesystem "${c.filesystem.slice(0, 40)}" is not a filesystem name`;
  if (!c.mountPoint.startsWith('/')) return `ResourceDisk.MountPoint "${c.mountPoint.slice(0, 200)}" must be an absolute path`;
  const mp = normalizeMountPoint(c.mountPoint);
  if (FORBIDDEN_MOUNT_POINTS.test(mp) && !/^\/(run|var)\/./.test(mp)) {
    return `ResourceDisk.MountPoint "${mp.slice(0, 200)}" would hide a system directory`;
  }
  return null;
}

export async function activateResourceDisk(ctx: ResourceDiskContext): Promise<ResourceDiskResult> {
  const { config: c, log } = ctx;
  if (!c.format) {
    // "Format=n" means hands off entirely: no discovery, no mount, no command.
    log.verbose('ResourceDisk.Format=n: the resource disk is not managed');
    return { outcome: 'disabled', message: 'ResourceDisk.Format=n' };
  }
  const problem = configProblem(c);
  if (problem) {
    log.error(`Resource disk not activated: ${problem}`);
    return { outcome: 'failed', message: problem };
  }
  const env: DiskEnv = { root: ctx.root, runner: ctx.runner, proc: ctx.proc ?? '/proc', log, sleep: ctx.sleep ?? realSleep };
  try {
    const d = discoverTempDisk(ctx.root, c.enableNvme, log);
    if (!d.found) {
      if (d.nvmeNotEnabled.length) {
        const message = `NVMe temporary disk ${d.nvmeNotEnabled.join(', ')} left raw: set ResourceDisk.EnableNvme=y to format and mount it at ${c.mountPoint}`;
        log.info(message);
        return { outcome: 'not-enabled', kind: 'nvme', device: `/dev/${d.nvmeNotEnabled[0]}`, message };
      }
      const message = 'No resource disk: this VM size has no temporary disk';
      log.info(message);
      return { outcome: 'no-disk', message };
    }
    const disk = d.found;
    const device = `/dev/${disk.name}`;
    const mountPoint = ctx.root.resolveInner(normalizeMountPoint(c.mountPoint));
    const m = await mountOrFormat(env, disk, { filesystem: c.filesystem, mountPoint, mountOptions: c.mountOptions || null }, PARTITION_WAIT);
    if (m.outcome === 'refused') return { outcome: 'refused', kind: disk.kind, device, message: m.message };
    writeDataLossWarning(env, m.mountPoint);
    const swap = await ensureSwap(env, m.mountPoint, m.fsType, c);
    return { outcome: m.outcome, kind: disk.kind, device, mountPoint: m.mountPoint, fsType: m.fsType, message: m.message, swap };
  } catch (e) {
    const message = `Failed to mount resource disk: ${errorText(e)}`;
    log.error(message);
    return { outcome: 'failed', message };
  }
}
