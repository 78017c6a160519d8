// A tiny udev for the box's resource disk. On Azure, when the agent writes a partition table the
// kernel announces the partitions and udev creates /dev/sdb1 and /dev/disk/azure/resource-part1.
// Here the kernel cannot parse partition tables and the box has no udev, so the host polls:
//   - when the first sectors of the disk (MBR, GPT header and entries) change, or the kernel's
//     partitions (/sys/block/loopN/loopNpK) no longer match what we announced (an agent's BLKRRPART
//     makes this kernel drop them all), run `partx --update` on the loop device;
//   - make the box's /dev match the kernel: node <disk><sep>K with the partition's major:minor,
//     plus the udev-style links, and remove nodes of partitions that went away.
// Polling every 50 ms reads 17 KiB and one sysfs directory: cheap, and well under the agent's own
// wait for a partition (the Python agent waits up to 25 s).
//
// A real kernel re-creates partitions inside the BLKRRPART ioctl, so after `sfdisk` or
// `blockdev --rereadpt` returns, /dev/sdb1 is there (udev permitting). To keep that promise the box
// wraps the partitioning tools (shim.ts): after the real tool, the wrapper drops a request file in
// `settleDir` and waits until a tick has handled it — `udevadm settle` semantics.
import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { exec } from '../../src/util/exec.ts';
import { updatePartitions, type LoopDevice } from './disks.ts';

const HEAD_BYTES = 34 * 512;

/** Splits a Linux dev_t (as in fs.Stats.rdev) into major and minor. */
export function devNumbers(rdev: number): { major: number; minor: number } {
  const hi = Math.floor(rdev / 2 ** 32);
  const lo = rdev >>> 0;
  return {
    major: ((lo >>> 8) & 0xfff) | ((hi & 0xfffff000) >>> 0),
    minor: (lo & 0xff) | ((lo >>> 12) & 0xfff00),
  };
}

export interface MirrorTarget {
  loop: LoopDevice;
  /** Disk name inside the box: sdb or nvme1n1. */
  boxName: string;
  /** Links (relative to /dev) to the disk and to its partitions, e.g. disk/azure/resource. */
  diskLinks: string[];
  /** Group of the nodes (disk). */
  group: string;
}

export class DevMirror {
  private readonly t: MirrorTarget;
  private readonly devDir: string;
  private fd = -1;
  private head = Buffer.alloc(0);
  private announced = '';
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  private stopped = false;
  /** Errors are kept (not thrown from a timer) and shown by Box.close() callers who ask. */
  readonly errors: string[] = [];

  private readonly settleDir: string | undefined;

  /**
   * `devDir` is the box's /dev as seen from the host (/proc/<init>/root/dev); `settleDir` the host
   * path of the directory where the box's settle requests appear.
   */
  constructor(target: MirrorTarget, devDir: string, settleDir?: string) {
    this.t = target;
    this.devDir = devDir;
    this.settleDir = settleDir;
  }

  /** Settle requests present now (answered after this tick, never before it looked). */
  private pendingRequests(): string[] {
    if (!this.settleDir) return [];
    try { return readdirSync(this.settleDir).filter((n) => n.startsWith('settle-')).slice(0, 100); } catch { return []; }
  }

  private get sep(): string { return /\d$/.test(this.t.boxName) ? 'p' : ''; }

  /**
   * Opens the disk, runs the first pass (announces the table: partx may renumber partitions that
   * exist already, so this must happen before the box is handed out), then polls.
   */
  async start(everyMs = 50): Promise<void> {
    this.fd = openSync(this.t.loop.path, 'r');
    await this.tick();
    this.timer = setInterval(() => { if (!this.busy) this.busy = this.tick().finally(() => { this.busy = null; }); }, everyMs);
    this.timer.unref();
  }

  /** One synchronisation pass (also used by tests and by Box.settle()). */
  async tick(): Promise<void> {
    if (this.stopped || this.fd < 0) return;
    const requests = this.pendingRequests();
    try {
      const head = Buffer.alloc(HEAD_BYTES);
      const n = readSync(this.fd, head, 0, HEAD_BYTES, 0);
      const kernel = this.kernelPartitions();
      const kernelKey = kernel.map((p) => `${p.n}=${p.dev}`).join(',');
      if (!head.subarray(0, n).equals(this.head) || kernelKey !== this.announced) {
        this.head = Buffer.from(head.subarray(0, n));
        await updatePartitions(this.t.loop.path);
        this.announced = this.kernelPartitions().map((p) => `${p.n}=${p.dev}`).join(',');
      }
      await this.syncNodes(this.kernelPartitions());
    } catch (e) {
      if (this.errors.length < 20) this.errors.push((e as Error).message);
    }
    for (const r of requests) rmSync(`${this.settleDir}/${r}`, { force: true });
  }

  private kernelPartitions(): { n: number; dev: string }[] {
    const base = `/sys/block/${this.t.loop.name}`;
    const out: { n: number; dev: string }[] = [];
    let entries: string[] = [];
    try { entries = readdirSync(base); } catch { return out; }
    for (const e of entries) {
      const m = new RegExp(`^${this.t.loop.name}p(\\d+)$`).exec(e);
      if (!m) continue;
      try { out.push({ n: Number(m[1]), dev: readFileSync(`${base}/${e}/dev`, 'utf8').trim() }); } catch { /* vanishing */ }
    }
    return out.sort((a, b) => a.n - b.n);
  }

  private async syncNodes(parts: { n: number; dev: string }[]): Promise<void> {
    const want = new Map(parts.map((p) => [`${this.t.boxName}${this.sep}${p.n}`, p]));
    // Create or fix nodes.
    for (const [name, p] of want) {
      const node = `${this.devDir}/${name}`;
      const [maj, min] = p.dev.split(':').map(Number);
      let ok = false;
      try {
        const st = statSync(node);
        const d = devNumbers(st.rdev);
        ok = st.isBlockDevice() && d.major === maj && d.minor === min;
        if (!ok) rmSync(node, { force: true });
      } catch { /* missing */ }
      if (!ok) {
        const r = await exec(['mknod', '-m', '660', node, 'b', String(maj), String(min)], { timeoutMs: 10_000 });
        if (r.code !== 0) throw new Error(`mknod ${name}: ${r.stderr.trim()}`);
        await exec(['chgrp', this.t.group, node], { timeoutMs: 10_000 });
      }
      for (const l of this.t.diskLinks) this.ensureLink(`${l}-part${p.n}`, name);
    }
    // Remove nodes and links of partitions the kernel no longer has.
    let entries: string[] = [];
    try { entries = readdirSync(this.devDir); } catch { return; }
    const re = new RegExp(`^${this.t.boxName}${this.sep}(\\d+)$`);
    for (const e of entries) {
      const m = re.exec(e);
      if (!m || want.has(e)) continue;
      rmSync(`${this.devDir}/${e}`, { force: true });
      for (const l of this.t.diskLinks) rmSync(`${this.devDir}/${l}-part${m[1]}`, { force: true });
    }
  }

  private ensureLink(rel: string, targetName: string): void {
    const p = `${this.devDir}/${rel}`;
    const depth = rel.split('/').length - 1;
    const target = `${'../'.repeat(depth)}${targetName}`;
    try { if (lstatSync(p).isSymbolicLink()) return; } catch { /* missing */ }
    if (!existsSync(dirname(p))) mkdirSync(dirname(p), { recursive: true });
    symlinkSync(target, p);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.busy) await this.busy.catch(() => undefined);
    if (this.fd >= 0) { try { closeSync(this.fd); } catch { /* closed */ } }
    this.fd = -1;
  }
}
