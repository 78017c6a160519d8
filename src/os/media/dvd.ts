// The provisioning DVD (docs/os.md §4.4, docs/protocol.md §5.1): find the device, get ovf-env.xml off it.
// Order per device: already mounted somewhere -> read it there (upstream would wrongly read
// DVD.MountPoint); else mount read-only (udf, then iso9660) at DVD.MountPoint; else read the file in
// user space with our own UDF and ISO9660 readers, so hardened kernels without the udf module (or a
// process without the privilege to mount) still provision. Bounded retries with an injectable delay
// (upstream: 5 tries 5 s apart) because the virtual CD may appear a little after boot.
// Nothing is unmounted or ejected here: the caller releases the medium after reporting Ready (the
// "DVD ejected before provisioning finished" lesson).
import { lstatSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import type { Runner } from '../../util/exec.ts';
import { log } from '../../util/logger.ts';
import { errorText } from '../../util/errors.ts';
import type { Sysroot } from '../../util/sysroot.ts';
import { readIsoFile, looksLikeIso9660 } from './iso9660.ts';
import { MediaError, openSource } from './source.ts';
import { looksLikeUdf, readUdfFile } from './udf.ts';
import { naturalCompare } from '../../util/natsort.ts';
import { readMounts } from '../mounts.ts';
import { delay } from '../../util/builtins.ts';
import { openAsync } from '../../util/fsasync.ts';
import { AgentError } from '../../util/errors.ts';

export const DEFAULT_MOUNT_POINT = '/mnt/cdrom/secure';
export const OVF_FILE = 'ovf-env.xml';
const MAX_BYTES = 1 << 20;

/** Device names that are CD/DVD drives by name (upstream's list minus vd[b-z], which are disks). */
const CDROM_NAME = /^(sr\d+|hd[c-z]|cdrom\d*|cd\d+)$/;
/** Never probed: RAM disks hold no media, and reading them is pointless. */
const NEVER_PROBE = /^(ram\d+|zram\d+)$/;

export type MediaVia = 'mounted' | 'already-mounted' | 'udf' | 'iso9660';

export interface ProvisioningMedia {
  /** Inner path of the device, e.g. /dev/sr0. */
  device: string;
  /** ovf-env.xml as text (UTF-8, BOM removed). */
  text: string;
  via: MediaVia;
  /** Where the file was read from when mounted (ours or pre-existing), inner path. */
  mountPoint?: string;
  /**
   * True when it is mounted at DVD.MountPoint by us (this run, or an earlier run killed before it
   * released the medium): releaseProvisioningMedia() unmounts only then, never someone else's mount.
   */
  mountedByUs: boolean;
  fsType?: 'udf' | 'iso9660';
}

export interface DvdOptions {
  root: Sysroot;
  runner: Runner;
  /** DVD.MountPoint. */
  mountPoint?: string;
  /** Rounds over all candidate devices. Default 5. */
  attempts?: number;
  /** Pause between rounds. Default 5000 ms (upstream). */
  delayMs?: number;
  /** No new round starts after this much time. Default 60 s. */
  maxTotalMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Try `mount` before reading in user space. Default true. */
  tryMount?: boolean;
  /** Only these devices (inner paths) instead of discovery. */
  devices?: string[];
}

export class DvdError extends AgentError {
  static override readonly errorName: string = 'DvdError';
  /** One line per device and method tried in the last round. */
  readonly tried: string[];
  constructor(message: string, tried: string[]) {
    super(tried.length ? `${message}: ${tried.join('; ')}` : message);
    this.tried = tried;
  }
}

function readSectors(root: Sysroot, file: string): number | undefined {
  try {
    const sectors = Number.parseInt(readFileSync(root.path(file), 'utf8').trim(), 10);
    return Number.isSafeInteger(sectors) && sectors >= 0 ? sectors * 512 : undefined;
  } catch { return undefined; }
}

/**
 * Size of a block device in bytes from sysfs (a device node reports 0 in stat). By major:minor first,
 * so a node named sr0 that is really a loop device (the sandbox's fake DVD) still gets its size;
 * then by name (which is also how tests give an image file standing in for a device a size).
 * Undefined when sysfs does not know the device: reads are then bounded by what the device returns.
 */
function sysfsSize(root: Sysroot, name: string): number | undefined {
  try {
    const st = statSync(root.path(`/dev/${name}`));
    if (st.isBlockDevice()) {
      // Linux dev_t (12-bit major, 20-bit minor): minor low byte, major, then the minor's high bits.
      const lo = st.rdev % 2 ** 32;
      const major = (lo >>> 8) & 0xfff;
      const minor = (lo & 0xff) | ((lo >>> 12) & 0xfff00);
      const size = readSectors(root, `/sys/dev/block/${major}:${minor}/size`);
      if (size !== undefined) return size;
    }
  } catch { /* fall back to the name */ }
  return readSectors(root, `/sys/class/block/${name}/size`) ?? readSectors(root, `/sys/block/${name}/size`);
}

function exists(root: Sysroot, p: string): boolean {
  try { lstatSync(root.pathNoFollow(p)); return true; } catch { return false; }
}

/** Does the device carry a UDF or ISO9660 signature? A few KiB read, never throws. */
async function probe(root: Sysroot, name: string): Promise<boolean> {
  const size = sysfsSize(root, name);
  if (size === 0) return false;
  let src;
  try { src = await openSource(root.path(`/dev/${name}`), size === undefined ? {} : { size }); } catch { return false; }
  try { return (await looksLikeUdf(src)) || (await looksLikeIso9660(src)); } finally { await src.close(); }
}

/**
 * Candidate devices, best first: /dev/sr0, other CD-ROM names (sorted), then any block device under
 * /sys/block whose content carries a UDF/ISO9660 signature (a vd* DVD on some hypervisors, a loop
 * device in tests). Links such as /dev/cdrom -> sr0 are folded into their target. No label check:
 * whether Azure's DVD label is stable is UNCONFIRMED (docs/protocol.md §5.1) and no client relies on it.
 */
export async function findDvdCandidates(root: Sysroot): Promise<string[]> {
  let devNames: string[] = [];
  try { devNames = readdirSync(root.path('/dev')); } catch { /* no /dev: nothing to find */ }
  const named = devNames.filter((n) => CDROM_NAME.test(n)).sort((a, b) => (a === 'sr0' ? -1 : b === 'sr0' ? 1 : naturalCompare(a, b)));
  let blockNames: string[] = [];
  try { blockNames = readdirSync(root.path('/sys/block')).sort(naturalCompare); } catch { /* no sysfs */ }
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (name: string) => {
    const dev = `/dev/${name}`;
    let real = dev;
    try { real = root.resolveInner(dev); } catch { /* keep the name */ }
    if (seen.has(real)) return;
    seen.add(real);
    out.push(dev);
  };
  for (const n of named) add(n);
  for (const n of blockNames) {
    if (CDROM_NAME.test(n) || NEVER_PROBE.test(n) || seen.has(`/dev/${n}`) || !exists(root, `/dev/${n}`)) continue;
    if (await probe(root, n)) add(n);
  }
  return out;
}

function decodeText(buf: Buffer, where: string): string {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    throw new MediaError(where, OVF_FILE, 'is not valid UTF-8');
  }
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** Reads ovf-env.xml from a mounted directory: regular file only, size-capped. */
async function readFromDir(root: Sysroot, dir: string): Promise<string> {
  const inner = posix.join(dir, OVF_FILE);
  const fh = await openAsync(root.path(inner), 'r');
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new MediaError(inner, OVF_FILE, 'is not a regular file');
    if (st.size > MAX_BYTES) throw new MediaError(inner, OVF_FILE, `is ${st.size} bytes, over the limit of ${MAX_BYTES}`);
    const buf = Buffer.alloc(st.size);
    let got = 0;
    while (got < st.size) {
      const { bytesRead } = await fh.read(buf, got, st.size - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return decodeText(buf.subarray(0, got), inner);
  } finally {
    await fh.close();
  }
}

/** User-space read: UDF first (Azure's DVD is UDF; bridges carry both), then ISO9660. */
async function readUserSpace(root: Sysroot, dev: string, tried: string[]): Promise<{ text: string; via: 'udf' | 'iso9660' } | undefined> {
  let name = posix.basename(dev);
  try { name = posix.basename(root.resolveInner(dev)); } catch { /* keep the link name */ }
  const size = sysfsSize(root, name);
  if (size === 0) { tried.push(`${dev}: no medium (size 0)`); return undefined; }
  let src;
  try {
    src = await openSource(root.path(dev), { name: dev, ...(size === undefined ? {} : { size }) });
  } catch (e) {
    tried.push(`${dev}: cannot open: ${errorText(e)}`);
    return undefined;
  }
  try {
    for (const [via, read] of [['udf', readUdfFile], ['iso9660', readIsoFile]] as const) {
      try {
        return { text: decodeText(await read(src, OVF_FILE), dev), via };
      } catch (e) {
        tried.push(`${dev} (${via} reader): ${errorText(e)}`);
      }
    }
    return undefined;
  } finally {
    await src.close();
  }
}

async function tryDevice(opts: DvdOptions, dev: string, mp: string, tried: string[]): Promise<ProvisioningMedia | undefined> {
  const { root, runner } = opts;
  // Already mounted (an automounter, a previous run killed before release): read it where it is.
  let real = dev;
  try { real = root.resolveInner(dev); } catch { /* keep */ }
  const m = readMounts(root).find((x) => x.device === dev || x.device === real);
  if (m) {
    try {
      const ours = posix.normalize(m.mountPoint) === posix.normalize(mp);
      return { device: dev, text: await readFromDir(root, m.mountPoint), via: 'already-mounted', mountPoint: m.mountPoint, mountedByUs: ours };
    } catch (e) {
      tried.push(`${dev} (mounted at ${m.mountPoint}): ${errorText(e)}`);
    }
  }
  if (!m && opts.tryMount !== false) {
    try { mkdirSync(root.path(mp), { recursive: true, mode: 0o700 }); } catch (e) { tried.push(`${mp}: ${errorText(e)}`); }
    for (const fsType of ['udf', 'iso9660'] as const) {
      const r = await runner.run(['mount', '-o', 'ro', '-t', fsType, root.path(dev), root.path(mp)], { timeoutMs: 30_000 });
      if (r.code !== 0) {
        tried.push(`${dev} (mount -t ${fsType}): ${(r.stderr.trim() || `exit ${r.code}`).slice(0, 200)}`);
        continue;
      }
      try {
        return { device: dev, text: await readFromDir(root, mp), via: 'mounted', mountPoint: mp, mountedByUs: true, fsType };
      } catch (e) {
        tried.push(`${dev} (mounted ${fsType}): ${errorText(e)}`);
        // Not our medium (or no file on it): leave the mount point as we found it.
        await runner.run(['umount', root.path(mp)], { timeoutMs: 30_000 });
        break;
      }
    }
  }
  const us = await readUserSpace(root, dev, tried);
  return us ? { device: dev, text: us.text, via: us.via, mountedByUs: false } : undefined;
}

/** Finds the provisioning medium and returns ovf-env.xml, or throws DvdError listing what was tried. */
export async function readProvisioningMedia(opts: DvdOptions): Promise<ProvisioningMedia> {
  const attempts = Math.max(1, Math.min(opts.attempts ?? 5, 100));
  const delayMs = opts.delayMs ?? 5_000;
  const maxTotal = opts.maxTotalMs ?? 60_000;
  const sleep = opts.sleep ?? delay;
  const now = opts.now ?? Date.now;
  const mp = opts.mountPoint ?? DEFAULT_MOUNT_POINT;
  const started = now();
  let tried: string[] = [];
  for (let i = 1; i <= attempts; i++) {
    tried = [];
    const devices = opts.devices ?? (await findDvdCandidates(opts.root));
    if (devices.length === 0) tried.push('no provisioning device found (looked for /dev/sr*, hd[c-z], cdrom*, cd* and UDF/ISO9660 block devices)');
    for (const dev of devices) {
      const got = await tryDevice(opts, dev, mp, tried);
      if (got) {
        log.info(`Read ${OVF_FILE} from ${dev} (${got.via}${got.mountPoint ? ` at ${got.mountPoint}` : ''})`);
        return got;
      }
    }
    if (i === attempts || now() - started + delayMs > maxTotal) break;
    log.warn(`Reading the provisioning medium failed [retry ${i}/${attempts}, sleeping ${delayMs} ms]: ${tried.join('; ')}`);
    await sleep(delayMs);
  }
  throw new DvdError(`[CopyOvfEnv] cannot read ${OVF_FILE} from the provisioning medium`, tried);
}

/** Only real CD/DVD drives are ejected (upstream skips vd[b-z]; a probed loop device is not a drive). */
export function isEjectable(device: string): boolean {
  return CDROM_NAME.test(posix.basename(device));
}

/**
 * After Ready: unmount what we mounted, then eject the drive (when asked). Failures are warnings:
 * provisioning is done, and Flatcar's `eject` is /usr/bin/true anyway.
 */
export async function releaseProvisioningMedia(
  media: ProvisioningMedia,
  opts: { root: Sysroot; runner: Runner; eject?: boolean },
): Promise<void> {
  if (media.mountedByUs && media.mountPoint) {
    const r = await opts.runner.run(['umount', opts.root.path(media.mountPoint)], { timeoutMs: 30_000 });
    if (r.code !== 0) log.warn(`umount ${media.mountPoint} failed: ${r.stderr.trim().slice(0, 200) || `exit ${r.code}`}`);
  }
  if ((opts.eject ?? true) && isEjectable(media.device)) {
    const r = await opts.runner.run(['eject', opts.root.path(media.device)], { timeoutMs: 30_000 });
    if (r.code !== 0) log.warn(`eject ${media.device} failed: ${r.stderr.trim().slice(0, 200) || `exit ${r.code}`}`);
  }
}
