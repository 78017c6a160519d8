// Shared scaffolding for the resource disk unit tests: a temp Sysroot with a fake sysfs, a fake
// /proc, a scripted Runner that can also act (like udev creating a partition node), and a logger.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RecordingRunner } from '../../src/util/exec.ts';
import type { ExecOptions, ExecResult } from '../../src/util/exec.ts';
import { Logger, MemoryAppender } from '../../src/util/logger.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import type { ResourceDiskConfig } from '../../src/resourcedisk/index.ts';

export class ActingRunner extends RecordingRunner {
  private readonly acts: { match: (argv: string[]) => boolean; act: (argv: string[]) => void }[] = [];
  onRun(match: (argv: string[]) => boolean, act: (argv: string[]) => void): this {
    this.acts.push({ match, act });
    return this;
  }
  override async run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
    for (const a of this.acts) if (a.match(argv)) a.act(argv);
    return super.run(argv, opts);
  }
  commands(): string[] { return this.calls.map((c) => c.argv.join(' ')); }
}

export interface Box {
  dir: string;
  root: Sysroot;
  proc: string;
  runner: ActingRunner;
  log: Logger;
  mem: MemoryAppender;
  /** Writes a file inside the root (parents created). */
  put(inner: string, content: string | Buffer): void;
  host(inner: string): string;
  cleanup(): void;
}

export function makeBox(): Box {
  const dir = mkdtempSync(join(tmpdir(), 'rd-unit-'));
  const rootDir = join(dir, 'root');
  const proc = join(dir, 'proc');
  mkdirSync(rootDir);
  mkdirSync(join(proc, 'self'), { recursive: true });
  writeFileSync(join(proc, 'self', 'mountinfo'), '22 1 0:21 / /proc rw,relatime - proc proc rw\n');
  writeFileSync(join(proc, 'swaps'), 'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n');
  writeFileSync(join(proc, 'partitions'), 'major minor  #blocks  name\n\n');
  const root = new Sysroot(rootDir);
  const mem = new MemoryAppender('VERBOSE');
  const log = new Logger();
  log.appenders.push(mem);
  const put = (inner: string, content: string | Buffer) => {
    const p = root.path(inner);
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, content);
  };
  return {
    dir, root, proc, runner: new ActingRunner(), log, mem, put,
    host: (inner: string) => root.path(inner),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A Gen2 vmbus tree: controller 0 with LUN 0 (OS, sda), LUN 1 (resource), LUN 2 (DVD, sr0). */
export function gen2Tree(b: Box, resource = 'sdb'): void {
  const dev = '/sys/devices/LNXSYSTM:00/VMBUS:00/f8b3781a-1e82-4818-a1c3-63d806ec15bb';
  b.put(`${dev}/device_id`, '{f8b3781a-1e82-4818-a1c3-63d806ec15bb}\n');
  b.put(`${dev}/host0/target0:0:0/0:0:0:0/block/sda/size`, '60000000\n');
  b.put(`${dev}/host0/target0:0:1/0:0:0:1/block/${resource}/size`, '30000000\n');
  b.put(`${dev}/host0/target0:0:2/0:0:0:2/block/sr0/size`, '0\n');
  mkdirSync(b.host('/sys/bus/vmbus/devices'), { recursive: true });
  // Real sysfs: the bus entry is a symlink to the device directory.
  symlinkSync(b.host(dev), b.host('/sys/bus/vmbus/devices/f8b3781a-1e82-4818-a1c3-63d806ec15bb'));
}

/** NVMe controller with a namespace and the given model, as /sys/block/<ns>/device/model shows it. */
export function nvmeTree(b: Box, ctrl: string, model: string): void {
  const ns = `${ctrl}n1`;
  b.put(`/sys/devices/pci0000:00/nvme/${ctrl}/model`, model.padEnd(40, ' ') + '\n');
  b.put(`/sys/devices/pci0000:00/nvme/${ctrl}/${ns}/size`, '1000\n');
  mkdirSync(b.host('/sys/block'), { recursive: true });
  symlinkSync(b.host(`/sys/devices/pci0000:00/nvme/${ctrl}/${ns}`), b.host(`/sys/block/${ns}`));
  symlinkSync(b.host(`/sys/devices/pci0000:00/nvme/${ctrl}`), b.host(`/sys/devices/pci0000:00/nvme/${ctrl}/${ns}/device`));
}

export function config(over: Partial<ResourceDiskConfig> = {}): ResourceDiskConfig {
  return {
    format: true, filesystem: 'ext4', mountPoint: '/mnt/resource', mountOptions: null,
    enableSwap: false, swapSizeMB: 0, enableNvme: false, ...over,
  };
}

/** Lines the logger wrote, without the timestamp: "INFO MainThread message". */
export function lines(b: Box): string[] {
  return b.mem.lines.map((l) => l.replace(/^\S+ /, '').trimEnd());
}

/** blkid -p -o export answer for a path. */
export function blkid(r: ActingRunner, hostPath: string, fields: Record<string, string> | null): void {
  r.answer((a) => a[0] === 'blkid' && a[a.length - 1] === hostPath,
    fields ? { code: 0, stdout: Object.entries(fields).map(([k, v]) => `${k}=${v}`).join('\n') + '\n' } : { code: 2 });
}

export const MUTATING = /^(sfdisk (?!--json)|mkfs|mount|umount|mkswap|swapon|swapoff|fallocate|wipefs|mknod|chattr|dd|blockdev --rereadpt|partx)/;
