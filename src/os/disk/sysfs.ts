// Finding the temporary disk in sysfs (docs/os.md §5.1). Only reads files under the Sysroot, so a fake
// /sys tree in a temp root or in the sandbox is just another root.
import { lstatSync, readFileSync, readdirSync } from 'node:fs';
import type { Sysroot } from '../../util/sysroot.ts';
import { naturalCompare } from '../../util/natsort.ts';

/** vmbus device id prefix of IDE port 1 on Gen1 VMs: the resource disk sits there. */
export const GEN1_IDE_PORT1_PREFIX = '00000000-0001';
/** Gen2 (UEFI) VMs: the synthetic SCSI controller 0; the resource disk is its LUN 1. */
export const GEN2_SCSI_CONTROLLER = 'f8b3781a-1e82-4818-a1c3-63d806ec15bb';
/** Models of local (temporary) NVMe disks. Remote disks say "MSFT NVMe Accelerator v1.0". */
export const NVME_TEMP_MODELS: readonly string[] = ['Microsoft NVMe Direct Disk', 'Microsoft NVMe Direct Disk v2'];

// The vmbus tree is small; these bounds only stop a malicious or looping fake tree.
const MAX_DEPTH = 12;
const MAX_ENTRIES = 20_000;

function readSmall(path: string): string | null {
  try { return readFileSync(path, 'utf8').slice(0, 4096); } catch { return null; }
}

function listDir(path: string): string[] {
  try { return readdirSync(path).sort(); } catch { return []; }
}

function isRealDir(path: string): boolean {
  try { return lstatSync(path).isDirectory(); } catch { return false; }
}

/** Kernel block device names are plain: anything else in a fake tree is ignored, never used in a path. */
const DEVICE_NAME = /^[a-z][a-z0-9]{0,31}$/;

interface WalkHit { name: string; parent: string }

/**
 * Walks below a vmbus device like Python's os.walk: the top entry is followed (it is a symlink in
 * real sysfs) but symlinks below it are not. Yields each `block` directory's device names.
 */
function findBlockDirs(top: string): WalkHit[] {
  const hits: WalkHit[] = [];
  let seen = 0;
  const walk = (dir: string, depth: number): void => {
    if (depth > MAX_DEPTH) return;
    for (const name of listDir(dir)) {
      if (++seen > MAX_ENTRIES) return;
      const p = `${dir}/${name}`;
      if (name.startsWith('block:')) { // old kernels: block:sdb
        const dev = name.slice('block:'.length);
        if (DEVICE_NAME.test(dev)) hits.push({ name: dev, parent: dirNameOf(dir) });
        continue;
      }
      if (!isRealDir(p)) continue;
      if (name === 'block') {
        for (const dev of listDir(p)) if (DEVICE_NAME.test(dev)) hits.push({ name: dev, parent: dirNameOf(dir) });
        continue;
      }
      walk(p, depth + 1);
    }
  };
  walk(top, 0);
  return hits;
}

function dirNameOf(p: string): string { return p.slice(p.lastIndexOf('/') + 1); }

export interface ScsiResourceDisk { name: string; generation: 1 | 2 }

/** The SCSI/IDE resource disk (e.g. `sdb`), or null when this VM has none. */
export function findScsiResourceDisk(root: Sysroot): ScsiResourceDisk | null {
  const base = root.path('/sys/bus/vmbus/devices');
  for (const entry of listDir(base)) {
    const raw = readSmall(`${base}/${entry}/device_id`);
    if (raw === null) continue;
    const guid = raw.replace(/[{}\n\r\s]/g, '').toLowerCase();
    const gen1 = guid.startsWith(GEN1_IDE_PORT1_PREFIX);
    const gen2 = guid === GEN2_SCSI_CONTROLLER;
    if (!gen1 && !gen2) continue;
    for (const hit of findBlockDirs(`${base}/${entry}`)) {
      if (gen1) return { name: hit.name, generation: 1 };
      // Gen2: the block dir sits in the H:C:T:L directory; LUN 0 is the OS disk, 1 the resource disk.
      if (/^\d+:\d+:\d+:1$/.test(hit.parent)) return { name: hit.name, generation: 2 };
    }
  }
  return null;
}

/** sysfs pads the NVMe model to 40 characters with spaces. */
function modelOf(path: string): string | null {
  const m = readSmall(path);
  return m === null ? null : m.replace(/\0/g, '').trim();
}

/** Local NVMe temporary disks (namespace names like `nvme0n1`), sorted, found by model. */
export function findNvmeTempDisks(root: Sysroot): string[] {
  const found = new Set<string>();
  const isTemp = (model: string | null): boolean => model !== null && NVME_TEMP_MODELS.includes(model);
  // /sys/block/<ns>/device is the controller (or, with native multipath, the subsystem): both have `model`.
  const block = root.path('/sys/block');
  for (const ns of listDir(block)) {
    if (/^nvme\d+n\d+$/.test(ns) && isTemp(modelOf(`${block}/${ns}/device/model`))) found.add(ns);
  }
  // /sys/class/nvme/<ctrl>/model, with the namespaces as subdirectories of the controller.
  const cls = root.path('/sys/class/nvme');
  for (const ctrl of listDir(cls)) {
    if (!/^nvme\d+$/.test(ctrl) || !isTemp(modelOf(`${cls}/${ctrl}/model`))) continue;
    for (const ns of listDir(`${cls}/${ctrl}`)) if (new RegExp(`^${ctrl}n\\d+$`).test(ns)) found.add(ns);
  }
  return [...found].sort(naturalCompare);
}
