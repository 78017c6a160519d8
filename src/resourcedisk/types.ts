// The resource disk feature's inputs and outputs. Plain values, so the daemon maps its config onto
// them and tests build them by hand.
import type { Runner } from '../util/exec.ts';
import type { Logger } from '../util/logger.ts';
import type { Sysroot } from '../util/sysroot.ts';

/** The waagent.conf values this feature reads (docs/os.md §2.3 names; defaults are the config table's). */
export interface ResourceDiskConfig {
  /** ResourceDisk.Format: n = the disk is neither formatted nor mounted (nothing is touched). */
  format: boolean;
  /** ResourceDisk.Filesystem (table default ext3; shipped confs say ext4). */
  filesystem: string;
  /** ResourceDisk.MountPoint (default /mnt/resource). */
  mountPoint: string;
  /** ResourceDisk.MountOptions; null or '' = no -o. */
  mountOptions: string | null;
  /** ResourceDisk.EnableSwap. */
  enableSwap: boolean;
  /** ResourceDisk.SwapSizeMB. */
  swapSizeMB: number;
  /** ResourceDisk.EnableNvme (ours, default n): also use local NVMe temporary disks, which are raw. */
  enableNvme: boolean;
}

export interface ResourceDiskContext {
  root: Sysroot;
  runner: Runner;
  log: Logger;
  config: ResourceDiskConfig;
  /** Host path of /proc (default '/proc'). */
  proc?: string;
  /** Injected by unit tests to make waits instant. */
  sleep?: (ms: number) => Promise<void>;
}

export type DiskOutcome =
  | 'disabled'        // ResourceDisk.Format=n
  | 'no-disk'         // this VM size has no temporary disk
  | 'not-enabled'     // only an NVMe temporary disk, and ResourceDisk.EnableNvme=n
  | 'already-mounted' // nothing to do
  | 'mounted'         // an existing filesystem was mounted
  | 'formatted'       // partitioned/formatted and mounted
  | 'refused'         // the disk holds something else: left alone
  | 'failed';

export type SwapOutcome = 'disabled' | 'unchanged' | 'enabled' | 'created' | 'resized' | 'refused' | 'failed';

export interface SwapResult { outcome: SwapOutcome; file?: string; sizeBytes?: number; message: string }

export interface ResourceDiskResult {
  outcome: DiskOutcome;
  kind?: 'scsi' | 'nvme';
  /** Inner path of the whole disk, e.g. /dev/sdb or /dev/nvme0n1. */
  device?: string;
  mountPoint?: string;
  fsType?: string;
  /** One line saying what happened (already logged). */
  message: string;
  swap?: SwapResult;
}
