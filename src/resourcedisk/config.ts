// Maps waagent.conf onto the plain values activateResourceDisk takes (keys and defaults: docs/os.md §2.3;
// ResourceDisk.EnableNvme is ours). Only the Config's public getters are used.
import type { Config } from '../config/config.ts';
import type { ResourceDiskConfig } from './types.ts';

export function resourceDiskConfig(c: Config): ResourceDiskConfig {
  const options = c.str('ResourceDisk.MountOptions');
  return {
    format: c.bool('ResourceDisk.Format'),
    filesystem: c.str('ResourceDisk.Filesystem') ?? 'ext3',
    mountPoint: c.str('ResourceDisk.MountPoint') ?? '/mnt/resource',
    // "None" and an empty value both mean: no -o.
    mountOptions: options ? options : null,
    enableSwap: c.bool('ResourceDisk.EnableSwap'),
    swapSizeMB: c.int('ResourceDisk.SwapSizeMB') ?? 0,
    enableNvme: c.bool('ResourceDisk.EnableNvme'),
  };
}
