// Scale bench: a goal state of N handlers (default 50), each its OWN package (its own name, manifest and zip),
// its own public and protected settings and its own status, processed in the VM-in-a-box from a cold start by
// dist/waagent -daemon and, in the same run, by Debian's waagent 2.7.3 -daemon (the peer). Prints per agent:
//   time to all-enabled  spawn (host clock) -> the simulator's timestamp of the first status upload in which
//                        every handler is Ready and its extension status is success (provisioning included;
//                        also from the Ready health report, i.e. the extensions' part alone);
//   peak RSS             sampled every 200 ms from spawn to all-enabled: (a) the agent's own processes (command
//                        line names the agent: ours one process, Debian's -daemon + its -run-exthandlers child),
//                        (b) those plus every descendant (extension commands, openssl, the shell) at that
//                        instant; and the sum of the agent processes' VmHWM (each process's own peak);
//   status blob size     bytes of the last status upload's blob, and of the last PUT carrying it (HostGAPlugin
//                        envelope: base64 + headers);
//   CPU per idle poll    after all-enabled and --settle s, over --idle s: CPU time of the agent's processes
//                        (schedstat of every thread, ns) divided by the goal-state GETs in that time (the method
//                        of daemon.ts); nothing changes in the goal state meanwhile.
// Then the ratios ours/Debian.
//
//   scripts/node scripts/bench/scale.ts [--handlers 50] [--agents ours,debian] [--idle SEC (60)] [--settle SEC (20)]
//                                       [--timeout SEC (900)] [--dump DIR]
// --dump DIR: write each agent's last status blob to DIR/<agent>-status.json.
// --status-kib N: after enable, each handler replaces its status with a file of about N KiB (success; a 2000-char
//   message and 11000-char substatus texts): 130 or more makes maximal files, the status blob limit's case.
// --node-flags: run ours FROM SOURCE (pinned node, src/main.ts) with these flags, e.g.
//   --cpu-prof,--cpu-prof-dir=/tmp/prof; --collect /tmp/prof then copies that box dir to .tmp/bench-collect/.
//
// The packages are generated into a temp dir from the demo extension (test/fabric/extensions/Waagent.Test.ShellExt:
// on enable it decrypts its protected settings with openssl and writes its status) and served by the simulator
// (Box option fabricExtensionsDir). Needs root, a built dist/waagent, and for the peer test/sandbox/debian-waagent.sh
// (run on demand). Not run by CI. Never touches the host network: everything runs in the box's private netns.
import mri from 'mri';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, PROJECT } from '../../test/sandbox/box.ts';
import type { StatusUpload } from '../../test/fabric/blobstore.ts';
import { debianDaemon, oursDaemon, type BoxFiles } from './agents.ts';

const a = mri(process.argv.slice(2), { string: ['handlers', 'agents', 'idle', 'settle', 'timeout', 'dump', 'node-flags', 'collect', 'status-kib'] });
const STATUS_KIB = Number(a['status-kib'] ?? 0);
const NODE_FLAGS = a['node-flags'] ? String(a['node-flags']).split(',').filter(Boolean) : null;
const HANDLERS = Number(a.handlers ?? 50);
const IDLE = Number(a.idle ?? 60);
const SETTLE = Number(a.settle ?? 20);
const TIMEOUT = Number(a.timeout ?? 900);
const AGENTS = String(a.agents ?? 'ours,debian').split(',').filter(Boolean);
const LABELS: Record<string, string> = { ours: 'waagent-sea', debian: 'Debian waagent 2.7.3' };
for (const n of AGENTS) if (!(n in LABELS)) throw new Error(`--agents: unknown ${JSON.stringify(n)} (ours, debian)`);
if (!Number.isInteger(HANDLERS) || HANDLERS < 1 || HANDLERS > 500) throw new Error('--handlers: 1..500');
const DIST = join(PROJECT, 'dist', 'waagent');
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
const SAMPLE_MS = 200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const handlerName = (i: number): string => `Scale.Test.Ext${String(i).padStart(3, '0')}`;

/** One package dir per handler: the demo extension under its own name, with its own manifest and identity file. */
function makePackages(): string {
  const dir = mkdtempSync(join(tmpdir(), 'bench-scale-'));
  const src = join(PROJECT, 'test/fabric/extensions/Waagent.Test.ShellExt/1.0.0');
  for (let i = 0; i < HANDLERS; i++) {
    const to = join(dir, handlerName(i), '1.0.0');
    cpSync(src, to, { recursive: true, dereference: true });
    const manifest = readFileSync(join(to, 'HandlerManifest.json'), 'utf8').replace('"name": "ShellExt"', `"name": "${handlerName(i)}"`);
    writeFileSync(join(to, 'HandlerManifest.json'), manifest);
    writeFileSync(join(to, 'bin', 'identity'), `${handlerName(i)} package ${i}\n`);
    if (STATUS_KIB > 0) bigStatus(to, i);
  }
  return dir;
}

/** --status-kib: enable goes through bin/enable.sh, which puts bin/status.json (about N KiB) in place after it. */
function bigStatus(to: string, i: number): void {
  const subs = Math.max(0, Math.ceil((STATUS_KIB * 1024 - 2000) / 11_100));
  const status = [{ version: 1.0, timestampUTC: '2026-12-07T00:00:00Z', status: {
    name: handlerName(i), operation: 'Enable', status: 'success', code: 0,
    formattedMessage: { lang: 'en-US', message: `${handlerName(i)} enabled `.padEnd(2000, 'm') },
    substatus: Array.from({ length: subs }, (_, j) => ({ name: `step${j}`, status: 'success', code: 0, formattedMessage: { lang: 'en-US', message: `step ${j} of ${handlerName(i)} `.padEnd(11_000, 's') } })),
  } }];
  writeFileSync(join(to, 'bin', 'status.json'), JSON.stringify(status));
  const script = join(to, 'bin', 'enable.sh');
  writeFileSync(script, [
    '#!/bin/sh', 'dir=$(cd "$(dirname "$0")/.." && pwd)', '"$dir/bin/handler.sh" enable || exit $?', 'seq="${ConfigSequenceNumber:-0}"',
    'cp "$dir/bin/status.json" "$dir/status/.big.$$" && mv -f "$dir/status/.big.$$" "$dir/status/$seq.status"', '',
  ].join('\n'));
  chmodSync(script, 0o755);
  const m = join(to, 'HandlerManifest.json');
  writeFileSync(m, readFileSync(m, 'utf8').replace('"enableCommand": "bin/handler.sh enable"', '"enableCommand": "bin/enable.sh"'));
}

function scenario(): Record<string, unknown> {
  const extensions = Array.from({ length: HANDLERS }, (_, i) => ({
    name: handlerName(i), version: '1.0.0', seqNo: 0,
    publicSettings: { message: `handler-${i}` }, protectedSettings: { secret: `secret-${i}` },
  }));
  return {
    name: 'bench-scale',
    vm: { vmId: '5ca1e000-2222-3333-4444-555555555555', containerId: '5ca1e000-7777-8888-9999-000000000000', roleName: 'benchvm', hostname: 'benchvm' },
    user: { name: 'bench', password: 'Bench-Passw0rd!' },
    sshKeys: [{ id: 'bench-key', ovf: 'inline', imds: true }],
    vmSettings: false,
    extensions,
  };
}


/** The box's processes: pid -> [ppid, command line]. */
function boxProcs(box: Box): Map<number, [number, string]> {
  const ns = readlinkSync(`/proc/${box.initPid}/ns/pid`);
  const out = new Map<number, [number, string]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/pid`) !== ns) continue;
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(d), [ppid, readFileSync(`/proc/${d}/cmdline`, 'latin1')]);
    } catch { /* gone */ }
  }
  return out;
}

/** The agent's own processes (command line names it) and, separately, they plus all their descendants. */
function agentTree(box: Box, marker: string): { own: number[]; tree: number[] } {
  const procs = boxProcs(box);
  const own = [...procs].filter(([, [, cmd]]) => cmd.includes(marker) && !cmd.includes('nsenter')).map(([p]) => p);
  const tree = new Set(own);
  for (let grew = true; grew;) {
    grew = false;
    for (const [p, [pp]] of procs) if (!tree.has(p) && tree.has(pp)) { tree.add(p); grew = true; }
  }
  return { own, tree: [...tree] };
}

function statusField(pid: number, field: string): number {
  try { return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { return 0; }
}
const rssKiB = (pids: number[]): number => pids.reduce((t, p) => t + statusField(p, 'VmRSS'), 0);

/** CPU time (clock ticks, from schedstat ns) of every thread of `pids`. */
function cpuTicks(pids: number[]): number {
  let t = 0;
  for (const p of pids) {
    try {
      for (const th of readdirSync(`/proc/${p}/task`)) {
        try { t += Number(readFileSync(`/proc/${p}/task/${th}/schedstat`, 'utf8').split(' ')[0]) * TICK / 1e9; } catch { /* thread gone */ }
      }
    } catch { /* exited */ }
  }
  return t;
}

interface Blob { aggregateStatus?: { handlerAggregateStatus?: { handlerName: string; status: string; runtimeSettingsStatus?: { settingsStatus?: { status?: { status?: string } } } }[] } }

/** Every one of our handlers Ready with its extension status success. */
function allEnabled(u: StatusUpload): boolean {
  const hs = (u.json as Blob | undefined)?.aggregateStatus?.handlerAggregateStatus ?? [];
  const ok = new Set(hs.filter((h) => h.status === 'Ready' && h.runtimeSettingsStatus?.settingsStatus?.status?.status === 'success').map((h) => h.handlerName));
  for (let i = 0; i < HANDLERS; i++) if (!ok.has(handlerName(i))) return false;
  return true;
}

interface Result {
  toEnabledMs: number; readyToEnabledMs: number | null;
  peakOwnKiB: number; peakTreeKiB: number; hwmKiB: number; maxProcs: number;
  blobBytes: number; putBytes: number; putChannel: string;
  idleCpuMs: number; idlePolls: number; idleRssKiB: number; requests: string; idleMix: string;
}

/** Requests by endpoint, method and path (ids left out), per goal-state GET when `per` is given. */
function mix(reqs: { endpoint: string; method: string; url: string }[], per?: number): string {
  const kinds = new Map<string, number>();
  for (const q of reqs) {
    const path = new URL(q.url, 'http://x.invalid');
    const comp = path.searchParams.get('comp');
    const k = `${q.endpoint} ${q.method}${comp ? ` comp=${comp}` : q.endpoint === 'hgap' ? ` ${path.pathname}` : ''}`;
    kinds.set(k, (kinds.get(k) ?? 0) + 1);
  }
  return [...kinds].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${per ? (v / per).toFixed(2) : v}`).join(', ');
}

async function runAgent(name: string, extDir: string): Promise<Result | string> {
  const launch = name === 'ours' ? oursDaemon(DIST, NODE_FLAGS) : debianDaemon();
  if (typeof launch === 'string') return launch;
  const { argv, env, marker } = launch;
  const files: BoxFiles = { ...launch.files, '/etc/waagent.conf': launch.conf };
  const box = await Box.start({ scenario: scenario(), media: { kind: 'udf' }, mountShim: name === 'debian', files, fabricExtensionsDir: extDir });
  try {
    const fabric = box.fabric!;
    const t0 = Date.now();
    const proc = box.spawn(argv, { env });
    let peakOwn = 0;
    let peakTree = 0;
    let maxProcs = 0;
    let hwm = new Map<number, number>();
    let done: StatusUpload | undefined;
    let seen = 0;
    // Processing: sample memory until an upload shows every handler enabled.
    while (!done) {
      if (proc.exited) return `${name} exited: ${proc.stderr().slice(-500)}`;
      if (Date.now() - t0 > TIMEOUT * 1000) return `${name}: not all enabled within ${TIMEOUT} s`;
      const { own, tree } = agentTree(box, marker);
      peakOwn = Math.max(peakOwn, rssKiB(own));
      peakTree = Math.max(peakTree, rssKiB(tree));
      maxProcs = Math.max(maxProcs, tree.length);
      for (const p of own) hwm.set(p, Math.max(hwm.get(p) ?? 0, statusField(p, 'VmHWM')));
      const ups = await fabric.statusUploads();
      done = ups.slice(seen).find(allEnabled);
      seen = ups.length;
      if (!done) await sleep(SAMPLE_MS);
    }
    const toEnabledMs = Date.parse(done.time) - t0;
    const ready = (await fabric.health()).find((h) => h.state === 'Ready');
    const readyToEnabledMs = ready ? Date.parse(done.time) - Date.parse(ready.time) : null;
    process.stderr.write(`${name}: all ${HANDLERS} enabled after ${(toEnabledMs / 1000).toFixed(1)} s; settling ${SETTLE} s, idle ${IDLE} s\n`);
    const reqsAtEnabled = box.requests().filter((q) => Date.parse(q.time) <= Date.parse(done.time));
    // Idle: nothing changes; CPU of the agent's own processes per goal-state GET.
    await sleep(SETTLE * 1000);
    const goalStates = () => box.requests().filter((q) => q.endpoint === 'wire' && q.url.includes('comp=goalstate')).length;
    const own0 = agentTree(box, marker).own;
    for (const p of own0) hwm.set(p, Math.max(hwm.get(p) ?? 0, statusField(p, 'VmHWM')));
    const c0 = cpuTicks(own0);
    const g0 = goalStates();
    const r0 = box.requests().length;
    await sleep(IDLE * 1000);
    const own1 = agentTree(box, marker).own;
    const c1 = cpuTicks(own1);
    const g1 = goalStates();
    const idleRssKiB = rssKiB(own1);
    const idleReqs = box.requests().slice(r0);
    if (own1.join() !== own0.join()) process.stderr.write(`${name}: agent processes changed during the idle window (${own0} -> ${own1})\n`);
    const last = (await fabric.statusUploads()).at(-1)!;
    const puts = box.requests().filter((q) => q.method === 'PUT' && ((q.endpoint === 'hgap' && q.url.startsWith('/status')) || q.endpoint === 'blob'));
    const lastPut = puts.at(-1);
    if (a.dump) writeFileSync(join(String(a.dump), `${name}-status.json`), last.text);
    const live = agentTree(box, marker).own;
    for (const p of live) { try { process.kill(p, 'SIGTERM'); } catch { /* gone */ } }
    for (let i = 0; i < 300 && agentTree(box, marker).own.length > 0; i++) await sleep(100);
    proc.kill('SIGTERM');
    await proc.wait(30_000);
    if (a.collect && name === 'ours') {
      const to = join(PROJECT, '.tmp', 'bench-collect');
      cpSync(box.hostPath(String(a.collect)), to, { recursive: true });
      process.stderr.write(`copied the box's ${a.collect} to ${to}\n`);
    }
    return {
      toEnabledMs, readyToEnabledMs, peakOwnKiB: peakOwn, peakTreeKiB: peakTree, hwmKiB: [...hwm.values()].reduce((t, x) => t + x, 0), maxProcs,
      blobBytes: Buffer.byteLength(last.text), putBytes: lastPut ? Buffer.byteLength(lastPut.body, lastPut.bodyEncoding) : NaN,
      putChannel: lastPut ? `${lastPut.endpoint} ${last.blobType}` : 'none',
      idleCpuMs: g1 > g0 ? ((c1 - c0) * 1000 / TICK) / (g1 - g0) : NaN, idlePolls: g1 - g0, idleRssKiB,
      requests: mix(reqsAtEnabled), idleMix: mix(idleReqs, g1 - g0),
    };
  } finally {
    await box.close();
  }
}

const extDir = makePackages();
const results: Record<string, Result | string> = {};
try {
  for (const name of AGENTS) results[name] = await runAgent(name, extDir);
} finally {
  rmSync(extDir, { recursive: true, force: true });
}
const mib = (k: number) => (k / 1024).toFixed(1);
console.log(`scale bench: ${HANDLERS} handlers (each its own package, settings, status${STATUS_KIB ? ` of ~${STATUS_KIB} KiB` : ''}), idle ${IDLE} s after ${SETTLE} s settle (CLK_TCK ${TICK})`);
for (const [name, r] of Object.entries(results)) {
  if (typeof r === 'string') { console.log(`${LABELS[name]}: ${r}`); continue; }
  console.log([
    `${LABELS[name]}:`,
    `  time to all-enabled: ${(r.toEnabledMs / 1000).toFixed(2)} s from spawn${r.readyToEnabledMs !== null ? `, ${(r.readyToEnabledMs / 1000).toFixed(2)} s from the Ready report` : ''}`,
    `  peak RSS (200 ms samples): agent processes ${mib(r.peakOwnKiB)} MiB, with descendants ${mib(r.peakTreeKiB)} MiB (up to ${r.maxProcs} processes); sum of VmHWM ${mib(r.hwmKiB)} MiB`,
    `  status blob: ${r.blobBytes} bytes; last PUT ${r.putBytes} bytes (${r.putChannel})`,
    `  CPU per idle goal-state poll: ${r.idleCpuMs.toFixed(2)} ms (${r.idlePolls} polls); RSS after ${mib(r.idleRssKiB)} MiB`,
    `  requests per idle poll: ${r.idleMix}`,
    `  requests up to all-enabled: ${r.requests}`,
  ].join('\n'));
}
const o = results.ours;
const d = results.debian;
if (o && d && typeof o !== 'string' && typeof d !== 'string') {
  const ratio = (x: number, y: number) => (x / y).toFixed(2);
  console.log('ours / Debian:');
  console.log(`  time to all-enabled ${ratio(o.toEnabledMs, d.toEnabledMs)}x; peak RSS agent ${ratio(o.peakOwnKiB, d.peakOwnKiB)}x, with descendants ${ratio(o.peakTreeKiB, d.peakTreeKiB)}x, VmHWM ${ratio(o.hwmKiB, d.hwmKiB)}x; status blob ${ratio(o.blobBytes, d.blobBytes)}x; CPU per idle poll ${ratio(o.idleCpuMs, d.idleCpuMs)}x (target <= 0.4: ${o.idleCpuMs <= 0.4 * d.idleCpuMs ? 'MET' : 'NOT MET'}); idle RSS ${ratio(o.idleRssKiB, d.idleRssKiB)}x (target <= 0.6: ${o.idleRssKiB <= 0.6 * d.idleRssKiB ? 'MET' : 'NOT MET'})`);
}
