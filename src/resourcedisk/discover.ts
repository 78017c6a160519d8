// Which disk is the temporary one: the SCSI/IDE resource disk (always used when Format=y), else a
// local NVMe disk when the operator opted in with ResourceDisk.EnableNvme.
import type { Logger } from '../util/logger.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { findNvmeTempDisks, findScsiResourceDisk } from '../os/disk/sysfs.ts';

export type TempDisk =
  | { kind: 'scsi'; name: string; generation: 1 | 2 }
  | { kind: 'nvme'; name: string };

export type Discovery =
  | { found: TempDisk }
  | { found: null; nvmeNotEnabled: string[] };

export function discoverTempDisk(root: Sysroot, enableNvme: boolean, log: Logger): Discovery {
  const scsi = findScsiResourceDisk(root);
  if (scsi) return { found: { kind: 'scsi', ...scsi } };
  const nvme = findNvmeTempDisks(root);
  if (nvme.length === 0) return { found: null, nvmeNotEnabled: [] };
  if (!enableNvme) return { found: null, nvmeNotEnabled: nvme };
  // Several local NVMe disks are striped by azure-vm-utils (mdadm RAID 0); we keep it simple and safe:
  // the first one becomes the resource disk, the others stay untouched.
  if (nvme.length > 1) log.info(`Several NVMe temporary disks (${nvme.join(', ')}): using ${nvme[0]}, leaving the others untouched`);
  return { found: { kind: 'nvme', name: nvme[0]! } };
}
