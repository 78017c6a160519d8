// Extension package bench: a 200 MiB package of incompressible entries (one of 150 MiB, ten of 5 MiB, the
// probe extension's manifest and script), deflated as real packages are.
//
// 1. extraction (host, no network): the agent's own code path (extract-child.ts: extractPackage) in a
//    process of its own, its peak RSS increase over the extraction (VmHWM after clear_refs) and time,
//    next to Info-ZIP `unzip` on the same file (time, and its max RSS from /usr/bin/time). Interleaved runs.
// 2. daemon (the VM-in-a-box, its private netns only): `dist/waagent -run-exthandlers` (the daemon's
//    goal-state loop) idles, then the fabric simulator's goal state adds the big package; RSS sampled
//    every 200 ms during the install and over a window after it, compared to the idle window before.
//
//   scripts/node scripts/bench/extract.ts [--runs 3] [--only extract|daemon] [--settle 30] [--window 10] [--small]
//
// Needs root for part 2 (namespaces) and a built dist/waagent. Not run by CI; tests never assert time.
import mri from 'mri';
import { spawnSync } from 'node:child_process';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ZipWriter } from '../../src/util/zipwrite.ts';
import { Box, PINNED_NODE, PROJECT } from '../../test/sandbox/box.ts';
import { BOX_CONF } from '../../test/e2e/ext-helpers.ts';

const a = mri(process.argv.slice(2), { string: ['runs', 'only', 'settle', 'window'], boolean: ['small'] });
const RUNS = Number(a.runs ?? 3);
const ONLY = a.only ? String(a.only) : '';
const SETTLE = Number(a.settle ?? 30);
const WINDOW = Number(a.window ?? 10);
const MiB = 1 << 20;
const NAME = 'Waagent.Bench.Big';
const PROBE = join(PROJECT, 'test', 'fabric', 'extensions', 'Waagent.Test.Probe');

/** The V8 flags build.mjs bakes into the binary (the child runs from source with the same ones). */
const V8_FLAGS = (JSON.parse((/const V8_FLAGS = (\[[^\]]*\])/.exec(readFileSync(join(PROJECT, 'build.mjs'), 'utf8'))?.[1] ?? '[]').replace(/'/g, '"')) as string[])
  .filter((f) => f !== '--disable-sigusr1');
if (!V8_FLAGS.includes('--expose-gc')) throw new Error('build.mjs V8_FLAGS not found or without --expose-gc');

const work = mkdtempSync(join(tmpdir(), 'bench-extract-'));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => [...xs].sort((p, q) => p - q)[Math.floor(xs.length / 2)]!;
const mib = (kib: number) => (kib / 1024).toFixed(1);

/** The package dir (for the simulator) and the zip (for part 1), made of random bytes. */
function makePackage(): { dir: string; zip: string; bytes: number } {
  const dir = join(work, 'extensions', NAME, '1.0.0');
  mkdirSync(join(dir, 'big'), { recursive: true });
  cpSync(join(PROBE, '1.0.0', 'HandlerManifest.json'), join(dir, 'HandlerManifest.json'));
  mkdirSync(join(dir, 'bin'));
  copyFileSync(join(PROBE, 'probe.sh'), join(dir, 'bin', 'probe.sh'));
  // --small: the same package without its big entries (what installing any package costs the daemon).
  const files: [string, number][] = a.small ? [] : [['big/blob150', 150 * MiB], ...Array.from({ length: 10 }, (_, i) => [`big/part${i}`, 5 * MiB] as [string, number])];
  const chunk = Buffer.alloc(MiB);
  for (const [name, size] of files) {
    const fd = openSync(join(dir, name), 'w', 0o644);
    for (let off = 0; off < size; off += chunk.length) { randomFillSync(chunk); writeSync(fd, chunk); }
    closeSync(fd);
  }
  const zip = join(work, 'big.zip');
  const fd = openSync(zip, 'w', 0o600);
  let bytes = 0;
  const w = new ZipWriter((b) => { writeSync(fd, b); bytes += b.length; });
  w.add({ name: 'HandlerManifest.json', data: readFileSync(join(dir, 'HandlerManifest.json')) });
  w.add({ name: 'bin/probe.sh', data: readFileSync(join(dir, 'bin', 'probe.sh')), mode: 0o755 });
  for (const [name, size] of files) {
    // Deflated in 1 MiB pieces (random data stays ~the same size, as a real package's binaries do).
    const f = openSync(join(dir, name), 'r');
    function* pieces() { const b = Buffer.alloc(MiB); for (let off = 0; off < size; off += MiB) { const n = readFileSyncAt(f, b, off); yield Buffer.from(b.subarray(0, n)); } }
    w.addChunks(name, pieces(), 0o644);
    closeSync(f);
  }
  w.finish();
  closeSync(fd);
  return { dir: join(work, 'extensions'), zip, bytes };
}

function readFileSyncAt(fd: number, b: Buffer, pos: number): number {
  return (process.getBuiltinModule('node:fs') as typeof import('node:fs')).readSync(fd, b, 0, b.length, pos);
}

function extractionBench(zip: string, bytes: number): void {
  console.log(`\n== extraction of a ${(bytes / MiB).toFixed(1)} MiB package (11 incompressible entries, the largest 150 MiB), ${RUNS} interleaved runs`);
  const ours: { ms: number; incKiB: number }[] = [];
  const unzip: { ms: number; maxKiB: number }[] = [];
  for (let i = 0; i < RUNS; i++) {
    const lib = join(work, `lib-${i}`);
    mkdirSync(lib);
    const copy = join(lib, `${NAME}__1.0.0.zip`);
    copyFileSync(zip, copy);
    const r = spawnSync(PINNED_NODE, [...V8_FLAGS, join(PROJECT, 'scripts', 'bench', 'extract-child.ts'), copy, lib], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`extract-child failed: ${r.stderr}`);
    const o = JSON.parse(r.stdout.trim()) as { ms: number; rssBeforeKiB: number; hwmKiB: number };
    ours.push({ ms: o.ms, incKiB: o.hwmKiB - o.rssBeforeKiB });
    rmSync(lib, { recursive: true, force: true });

    const dest = join(work, `unzip-${i}`);
    const t0 = process.hrtime.bigint();
    const u = spawnSync('/usr/bin/time', ['-f', '%M', 'unzip', '-q', zip, '-d', dest], { encoding: 'utf8' });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (u.status !== 0) throw new Error(`unzip failed: ${u.stderr}`);
    unzip.push({ ms, maxKiB: Number(u.stderr.trim().split('\n').at(-1)) });
    rmSync(dest, { recursive: true, force: true });
    console.log(`run ${i + 1}: ours ${o.ms.toFixed(0)} ms, peak RSS +${mib(o.hwmKiB - o.rssBeforeKiB)} MiB (${mib(o.rssBeforeKiB)} -> ${mib(o.hwmKiB)}); unzip ${ms.toFixed(0)} ms, max RSS ${mib(unzip.at(-1)!.maxKiB)} MiB`);
  }
  const inc = Math.max(...ours.map((o) => o.incKiB));
  console.log(`ours:  median ${median(ours.map((o) => o.ms)).toFixed(0)} ms, peak RSS increase max ${mib(inc)} MiB (limit 16: ${inc <= 16 * 1024 ? 'ok' : 'EXCEEDED'})`);
  console.log(`unzip: median ${median(unzip.map((o) => o.ms)).toFixed(0)} ms, max RSS ${mib(Math.max(...unzip.map((o) => o.maxKiB)))} MiB`);
}

function rssKiB(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const get = (f: string) => Number(new RegExp(`^${f}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
  return { rss: get('VmRSS'), hwm: get('VmHWM') };
}

/** RSS by kind of mapping (malloc heap, other anonymous memory incl. V8's heap, files): where growth sits. */
function rssByKind(pid: number): string {
  const kinds = { heap: 0, anon: 0, file: 0 };
  let kind: keyof typeof kinds = 'anon';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (m) { kind = m[2] === '[heap]' ? 'heap' : m[1] !== '0' || m[2]!.startsWith('/') ? 'file' : 'anon'; continue; }
    const r = /^Rss:\s+(\d+) kB/.exec(line);
    if (r) kinds[kind] += Number(r[1]);
  }
  return `malloc heap ${mib(kinds.heap)}, anon ${mib(kinds.anon)}, file ${mib(kinds.file)} MiB`;
}

async function windowMedian(pid: number, seconds: number): Promise<number> {
  const xs: number[] = [];
  for (let i = 0; i < seconds * 2; i++) { xs.push(rssKiB(pid).rss); await sleep(500); }
  return median(xs);
}

async function daemonBench(extDir: string): Promise<void> {
  console.log(`\n== daemon (dist/waagent -run-exthandlers in the box): RSS idle, during and after installing the package`);
  const bin = join(PROJECT, 'dist', 'waagent');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: scripts/node build.mjs`);
  const scenario = {
    name: 'bench-extract', vm: { vmId: '3c2b1a09-8f7e-4d6c-9b5a-49382716a5b4', containerId: '7f6e5d4c-3b2a-4190-8877-665544332211', roleName: 'benchvm', hostname: 'benchvm' },
    user: { name: 'azureuser' }, vmSettings: false, extensions: [],
  };
  const box = await Box.start({ scenario, fabricExtensionsDir: extDir, tmpSizeMiB: 64, files: { '/etc/waagent.conf': { content: BOX_CONF, mode: 0o644 } } });
  try {
    const p = box.spawn([bin, '-run-exthandlers']);
    const end = Date.now() + 60_000;
    while ((await box.fabric!.statusUploads()).length === 0 && Date.now() < end) await sleep(200);
    const pid = p.innerPid();
    if (!pid) throw new Error('agent not running');
    await sleep(SETTLE * 1000);
    const idle = await windowMedian(pid, WINDOW);
    const idleKinds = rssByKind(pid);
    const startHwm = rssKiB(pid).hwm;
    const t0 = Date.now();
    await box.fabric!.update({ extensions: [{ name: NAME, version: '1.0.0', seqNo: 0, publicSettings: { message: 'big' } }] });
    let peak = 0;
    let ready = false;
    while (!ready && Date.now() - t0 < 600_000) {
      peak = Math.max(peak, rssKiB(pid).rss);
      const ups = await box.fabric!.statusUploads();
      const last = ups.at(-1)?.json as { aggregateStatus?: { handlerAggregateStatus?: { handlerName: string; status: string }[] } } | undefined;
      ready = last?.aggregateStatus?.handlerAggregateStatus?.some((h) => h.handlerName === NAME && h.status === 'Ready') ?? false;
      await sleep(200);
    }
    if (!ready) throw new Error(`the package was not enabled in 10 minutes:\n${box.agentLog().slice(-3000)}`);
    const installMs = Date.now() - t0;
    const hwm = rssKiB(pid).hwm;
    await sleep(SETTLE * 1000);
    const after = await windowMedian(pid, WINDOW);
    const diff = after - idle;
    console.log(`RSS by mapping: idle ${idleKinds}; after ${rssByKind(pid)}`);
    console.log(`idle ${mib(idle)} MiB; during the install: sampled peak ${mib(peak)} MiB, VmHWM ${mib(hwm)} MiB (was ${mib(startHwm)}); enabled after ${(installMs / 1000).toFixed(1)} s`);
    console.log(`after (${SETTLE} s settle, ${WINDOW} s median): ${mib(after)} MiB = idle ${diff >= 0 ? '+' : ''}${mib(diff)} MiB (limit 4: ${Math.abs(diff) <= 4 * 1024 ? 'ok' : 'EXCEEDED'})`);
    p.kill('SIGTERM');
    await p.wait(30_000);
  } finally {
    await box.close();
  }
}

try {
  const { dir, zip, bytes } = makePackage();
  if (ONLY !== 'daemon') extractionBench(zip, bytes);
  if (ONLY !== 'extract') await daemonBench(dir);
} finally {
  rmSync(work, { recursive: true, force: true });
}
