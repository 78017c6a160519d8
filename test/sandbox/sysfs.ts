// The fake part of a box's /sys: directories and symlinks laid (read-only, by overlayfs) over the
// box's real sysfs, so a loop device looks like an Azure disk to anything that walks sysfs:
//   - SCSI resource disk (docs/os.md §5.1): /sys/bus/vmbus/devices/<GUID> -> the VMBus device, whose
//     device_id names the IDE port 1 controller (Gen1) or the synthetic SCSI controller (Gen2), with
//     host/target/H:C:T:L/block/<sdX> below it (Gen2: LUN 1 = resource, LUN 0 OS, LUN 2 DVD);
//   - NVMe temp disk: /sys/class/nvme/nvmeN with model "Microsoft NVMe Direct Disk" and its
//     namespace nvmeNn1 (plus a remote OS disk controller "MSFT NVMe Accelerator v1.0");
//   - the DVD (sr0): SCSI LUN 2 on Gen2, an ata_piix (emulated IDE) CD-ROM on Gen1.
// /sys/block/<name>, /sys/class/block/<name> and /sys/dev/block/<maj:min> point at these fake device
// directories, so lsblk and friends see the Azure names. The tree is static: partitions created
// later in the box are mirrored into /dev (see devmirror.ts) but not into this tree.
import { lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';

export type DiskKind = 'scsi-gen1' | 'scsi-gen2' | 'nvme';

export interface FakeBlock {
  /** Kernel name inside the box: sdb, sr0, nvme1n1. */
  name: string;
  /** The real device numbers (of the loop device standing in). */
  major: number;
  minor: number;
  sizeBytes: number;
  readOnly?: boolean;
}

/** Fake device ids as on Azure (docs/os.md §5.1). */
export const VMBUS = {
  gen1Ide0: '00000000-0000-8899-0000-000000000000',
  gen1Ide1: '00000000-0001-8899-0000-000000000000',
  gen2Scsi: 'f8b3781a-1e82-4818-a1c3-63d806ec15bb',
  ideClass: '32412632-86cb-44a2-9b5c-50d1417354f5',
  scsiClass: 'ba6163d9-04a1-4d29-b605-72e2ffb1dc7f',
} as const;

const VMBUS_ROOT = '/devices/LNXSYSTM:00/LNXSYBUS:00/ACPI0004:00/VMBUS:00';
const PCI_ROOT = '/devices/pci0000:00';

/** Builds the fake tree under `dir` (which becomes an overlay lower layer above the real sysfs). */
export class FakeSysfs {
  readonly dir: string;
  private used = false;
  constructor(dir: string) { this.dir = dir; }

  get isEmpty(): boolean { return !this.used; }

  /** sysfs paths to hide (made whiteouts by init.sh: overlayfs then shows nothing there). */
  readonly hidden: string[] = [];

  /**
   * Hides the host's block devices (its own disk, zram, every loop device including the ones
   * standing in for our disks) so the box's /sys/block lists only what an Azure VM would show.
   * Fake entries added later with the same names take precedence over the whiteouts.
   */
  hideHostBlockDevices(): void {
    let names: string[] = [];
    try { names = readdirSync('/sys/block'); } catch { return; }
    for (const n of names) {
      const ids = [n];
      try {
        for (const e of readdirSync(`/sys/block/${n}`)) if (e.startsWith(n)) ids.push(e);
      } catch { /* vanished */ }
      for (const id of ids) {
        if (id === n) this.hide(`/block/${id}`);
        this.hide(`/class/block/${id}`);
        try {
          const dev = readFileSync(`/sys/class/block/${id}/dev`, 'utf8').trim();
          this.hide(`/dev/block/${dev}`);
        } catch { /* vanished */ }
      }
    }
  }

  private hide(p: string): void {
    try { lstatSync(join(this.dir, p)); return; } catch { /* not faked: hide */ }
    this.used = true;
    mkdirSync(dirname(join(this.dir, p)), { recursive: true });
    this.hidden.push(p);
  }

  private unhide(p: string): void {
    const i = this.hidden.indexOf(p);
    if (i >= 0) this.hidden.splice(i, 1);
  }

  private file(p: string, content: string): void {
    this.used = true;
    this.unhide(p);
    const host = join(this.dir, p);
    mkdirSync(dirname(host), { recursive: true });
    writeFileSync(host, content);
  }

  /** Symlink at sysfs path `p` pointing (relatively, as the kernel does) at sysfs path `target`. */
  private link(p: string, target: string): void {
    this.used = true;
    this.unhide(p);
    const host = join(this.dir, p);
    mkdirSync(dirname(host), { recursive: true });
    const rel = posix.relative(posix.dirname(p), target);
    try { symlinkSync(rel, host); } catch (e) {
      // The same controller can be announced twice (resource disk and DVD on one SCSI controller).
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || readlinkSync(host) !== rel) throw e;
    }
  }

  private vmbusDevice(guid: string, classId: string): string {
    const dev = `${VMBUS_ROOT}/${guid}`;
    this.file(`${dev}/device_id`, `{${guid}}\n`);
    this.file(`${dev}/class_id`, `{${classId}}\n`);
    this.link(`/bus/vmbus/devices/${guid}`, dev);
    return dev;
  }

  /** The block device directory of a disk and the links every kernel makes to it. */
  private blockDir(parentDev: string, b: FakeBlock | { name: string; major: number; minor: number; sizeBytes: number; readOnly?: boolean }, withDevLink: boolean): string {
    const dir = `${parentDev}/block/${b.name}`;
    this.file(`${dir}/dev`, `${b.major}:${b.minor}\n`);
    this.file(`${dir}/size`, `${Math.floor(b.sizeBytes / 512)}\n`);
    this.file(`${dir}/ro`, b.readOnly ? '1\n' : '0\n');
    this.file(`${dir}/removable`, '0\n');
    this.file(`${dir}/uevent`, `MAJOR=${b.major}\nMINOR=${b.minor}\nDEVNAME=${b.name}\nDEVTYPE=disk\n`);
    this.link(`${dir}/device`, parentDev);
    this.link(`/block/${b.name}`, dir);
    this.link(`/class/block/${b.name}`, dir);
    // Only for devices that really exist (the loop devices): a fake number could shadow a real one.
    if (withDevLink) this.link(`/dev/block/${b.major}:${b.minor}`, dir);
    return dir;
  }

  private scsiLun(ctrl: string, host: number, lun: number, type: 'disk' | 'rom'): string {
    const lunDir = `${ctrl}/host${host}/target${host}:0:0/${host}:0:0:${lun}`;
    this.file(`${lunDir}/vendor`, 'Msft    \n');
    this.file(`${lunDir}/model`, type === 'rom' ? 'Virtual DVD-ROM \n' : 'Virtual Disk    \n');
    this.file(`${lunDir}/type`, type === 'rom' ? '5\n' : '0\n');
    this.file(`${lunDir}/timeout`, '30\n');
    return lunDir;
  }

  /** The resource disk, plus the OS disk next to it (sysfs only: it has no node in the box's /dev). */
  addResourceDisk(kind: DiskKind, disk: FakeBlock): void {
    const osDisk = { name: 'sda', major: 8, minor: 0, sizeBytes: 30 * 2 ** 30 };
    if (kind === 'scsi-gen1') {
      const ide0 = this.vmbusDevice(VMBUS.gen1Ide0, VMBUS.ideClass);
      this.blockDir(this.scsiLun(ide0, 0, 0, 'disk'), osDisk, false);
      const ide1 = this.vmbusDevice(VMBUS.gen1Ide1, VMBUS.ideClass);
      this.blockDir(this.scsiLun(ide1, 1, 0, 'disk'), disk, true);
    } else if (kind === 'scsi-gen2') {
      const scsi = this.vmbusDevice(VMBUS.gen2Scsi, VMBUS.scsiClass);
      this.blockDir(this.scsiLun(scsi, 0, 0, 'disk'), osDisk, false);
      this.blockDir(this.scsiLun(scsi, 0, 1, 'disk'), disk, true);
    } else {
      // NVMe VM sizes: the OS disk is a remote NVMe namespace, the temp disk a local one.
      this.nvmeController(0, '0000:00:04.0', 'MSFT NVMe Accelerator v1.0', { name: 'nvme0n1', major: 259, minor: 0, sizeBytes: 30 * 2 ** 30 }, false);
      this.nvmeController(1, '0000:00:05.0', 'Microsoft NVMe Direct Disk', disk, true);
    }
  }

  private nvmeController(n: number, pciAddr: string, model: string, ns: FakeBlock, real: boolean): void {
    const ctrl = `${PCI_ROOT}/${pciAddr}/nvme/nvme${n}`;
    // The kernel pads model to 40 and serial to 20 characters.
    this.file(`${ctrl}/model`, `${model.padEnd(40)}\n`);
    this.file(`${ctrl}/serial`, `${`box${n}`.padEnd(20)}\n`);
    this.file(`${ctrl}/firmware_rev`, '1.0     \n');
    this.file(`${ctrl}/transport`, 'pcie\n');
    this.file(`${ctrl}/state`, 'live\n');
    this.link(`/class/nvme/nvme${n}`, ctrl);
    const nsDir = `${ctrl}/${ns.name}`;
    this.file(`${nsDir}/dev`, `${ns.major}:${ns.minor}\n`);
    this.file(`${nsDir}/size`, `${Math.floor(ns.sizeBytes / 512)}\n`);
    this.file(`${nsDir}/ro`, '0\n');
    this.file(`${nsDir}/removable`, '0\n');
    this.file(`${nsDir}/nsid`, '1\n');
    this.file(`${nsDir}/uevent`, `MAJOR=${ns.major}\nMINOR=${ns.minor}\nDEVNAME=${ns.name}\nDEVTYPE=disk\n`);
    this.link(`${nsDir}/device`, ctrl);
    this.link(`/block/${ns.name}`, nsDir);
    this.link(`/class/block/${ns.name}`, nsDir);
    if (real) this.link(`/dev/block/${ns.major}:${ns.minor}`, nsDir);
  }

  /** The provisioning DVD: on the SCSI controller (LUN 2) for Gen2/NVMe, emulated IDE on Gen1. */
  addDvd(kind: DiskKind | undefined, dvd: FakeBlock): void {
    let lun: string;
    if (kind === 'scsi-gen1') {
      lun = `${PCI_ROOT}/0000:00:07.1/ata2/host1/target1:0:0/1:0:0:0`;
      this.file(`${lun}/vendor`, 'Msft    \n');
      this.file(`${lun}/model`, 'Virtual CD/ROM  \n');
      this.file(`${lun}/type`, '5\n');
    } else {
      const scsi = this.vmbusDevice(VMBUS.gen2Scsi, VMBUS.scsiClass);
      lun = this.scsiLun(scsi, 0, 2, 'rom');
    }
    const dir = this.blockDir(lun, { ...dvd, readOnly: true }, true);
    this.file(`${dir}/removable`, '1\n');
  }
}
