// Daemon bench: dist/waagent -daemon (and Debian's waagent 2.7.3, the peer) in the VM-in-a-box for a while,
// against a scenario whose extensions goal state changes every minute. Samples the RSS of every agent
// process of the box and their CPU time, and prints: the RSS curve (per minute), its growth, and the CPU
// per IDLE goal-state poll (CPU time of all their threads from schedstat, in ns, over sample windows in which the incarnation did not change
// and the platform saw only poll requests, divided by the goal-state GETs in those windows), and which requests make up an idle poll.
//
//   scripts/node scripts/bench/daemon.ts [--duration SEC (600)] [--agents ours,debian,bare,floor[,floorh]] [--sample SEC (5)]
//                                        [--change SEC (60)] [--ours-bin PATH] [--node-flags '--flag,--flag'] [--smaps] [--parallel]
//                                        [--status-bytes N] [--settle SEC (20)] [--ours-env K=V,...]
//
// Idle windows: no incarnation change in them, and the last change seen at least --settle s before they began.
//
// Two floors, measured the same way, say how much of the cost is irreducible for ANY Node-based agent:
//   bare   the pinned Node, stripped as build.mjs strips it, with the V8 flags build.mjs bakes into the SEA,
//          running one 6 s interval timer (bare-timer.cjs): the runtime's own RSS.
//   floor  the same Node and flags running floor-client.cjs: per period exactly the requests of our idle poll
//          (goal state GET, vmSettings GET while supported, status PUT of our size), node:net only, a new
//          connection with Connection: close each (docs/protocol.md §1.2).
//   floorh the same client over Node's TCP handle instead of net.Socket (floor-client.cjs `handle`), as ours
//          since src/platform/tcplink.ts: printed for information; the targets stay against `floor`.
// --status-bytes: the size of the floor's status PUT body; default the median of ours' status PUTs when ours
//   ran before it in this run, else DEFAULT_STATUS_BYTES (measured from ours in this scenario).
// --ours-bin: another build of ours (e.g. a copy of the previous dist/waagent) instead of dist/waagent.
// --node-flags: run ours FROM SOURCE (pinned node, src/main.ts) with these V8/Node flags (e.g.
//   --cpu-prof,--cpu-prof-dir=/tmp/prof or --max-semi-space-size=1): where the CPU and memory go, and
//   what a flag would buy before it is baked into the SEA.
// --collect DIR: after ours stopped, copy the box's DIR (e.g. the --cpu-prof-dir) to .tmp/bench-collect/.
// --parallel: all agents at once, each in its own box (a change of the machine's speed hits all alike).
// --smaps: at the end, where ours' RSS is (anonymous/heap vs the binary's file pages, by mapping) and
//   its thread count.
//
// Needs root, a built dist/waagent, and for the peer test/sandbox/debian-waagent.sh (run on demand).
// Not run by CI. Never touches the host network: everything runs in the box's private netns.
import mri from 'mri';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { Box, PINNED_NODE, PROJECT } from '../../test/sandbox/box.ts';
import { debianDaemon, dropPageCache, oursDaemon, seaV8Flags, type AgentLaunch, type BoxFiles } from './agents.ts';
import type { RecordedRequest } from '../../test/fabric/server.ts';

const a = mri(process.argv.slice(2), { string: ['duration', 'agents', 'sample', 'change', 'ours-bin', 'node-flags', 'collect', 'status-bytes', 'settle', 'ours-env'], boolean: ['smaps', 'parallel'] });
const DURATION = Number(a.duration ?? 600);
const SAMPLE = Number(a.sample ?? 5);
const CHANGE = Number(a.change ?? 60);
const SETTLE = Number(a.settle ?? 20);
const AGENTS = String(a.agents ?? 'ours,debian,bare,floor').split(',').filter(Boolean);
const LABELS: Record<string, string> = { ours: 'waagent-sea', debian: 'Debian waagent 2.7.3', bare: 'bare node (one 6 s timer)', floor: 'floor (node:net client)', floorh: 'floor over the TCP handle' };
for (const n of AGENTS) if (!(n in LABELS)) throw new Error(`--agents: unknown ${JSON.stringify(n)} (ours, debian, bare, floor, floorh)`);
const DIST = a['ours-bin'] ? resolve(String(a['ours-bin'])) : join(PROJECT, 'dist', 'waagent');
const NODE_FLAGS = a['node-flags'] ? String(a['node-flags']).split(',').filter(Boolean) : null;
/** Body bytes of ours' HGAP status PUT in this scenario (one extension), measured 2026-11-23 with dist/waagent. */
const DEFAULT_STATUS_BYTES = 2178;
let statusBytes = a['status-bytes'] ? Number(a['status-bytes']) : 0;
/** What the floor was started with, and why (ours' median is known only when ours ran first). */
let floorStatusBytes = 0;
let floorStatusWhy = '';
const TICK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);

function extension(n: number): Record<string, unknown> {
  return { name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: n, publicSettings: { message: `goal-state-${n}` }, protectedSettings: { secret: `s${n}` } };
}

function scenario(): Record<string, unknown> {
  const timeline = [];
  for (let t = CHANGE, n = 1; t < DURATION + 60; t += CHANGE, n++) timeline.push({ afterSeconds: t, patch: { extensions: [extension(n)] } });
  return {
    name: 'bench-daemon',
    vm: { vmId: '11111111-2222-3333-4444-555555555555', containerId: '66666666-7777-8888-9999-000000000000', roleName: 'benchvm', hostname: 'benchvm' },
    user: { name: 'bench', password: 'Bench-Passw0rd!' },
    sshKeys: [{ id: 'bench-key', ovf: 'inline', imds: true }],
    vmSettings: false,
    extensions: [extension(0)],
    timeline,
  };
}


interface Sample { t: number; rssKiB: number; cpuTicks: number; polls: number; incarnation: number; procs: number; reqs: number; wakes: number; switches: number; lastPid: number }

/**
 * Wake-ups, counted from outside: every WAKE_MS the summed run time of the agent's threads is read; a wake-up is a
 * reading that grew after one that did not (activity closer together than WAKE_MS, e.g. one poll's connect, answer
 * and status PUT, is one wake-up). Also the voluntary context switches of all threads (each time a thread slept and
 * was woken, e.g. for every network answer inside a poll).
 */
const WAKE_MS = 20;
function runNs(pids: number[]): number {
  let ns = 0;
  for (const p of pids) {
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        try { ns += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]); } catch { /* thread gone */ }
      }
    } catch { /* gone */ }
  }
  return ns;
}
/**
 * The last PID handed out in the box's PID namespace (only the agent runs there). ns_last_pid answers for the
 * reader's namespace, so it is read by a process in the box: that reader takes one PID itself (subtracted).
 */
async function lastPid(box: Box): Promise<number> {
  const r = await box.run(['cat', '/proc/sys/kernel/ns_last_pid']);
  return r.code === 0 ? Number(r.stdout.trim()) - 1 : NaN;
}
function voluntarySwitches(pids: number[]): number {
  let n = 0;
  for (const p of pids) {
    try {
      for (const t of readdirSync(`/proc/${p}/task`)) {
        try { n += Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${p}/task/${t}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
      }
    } catch { /* gone */ }
  }
  return n;
}
interface Run { samples: Sample[]; requests: RecordedRequest[] }

/**
 * The pinned Node stripped as build.mjs strips the SEA's copy (`strip --strip-all`), i.e. dist/waagent without
 * the blob. Kept on the project's disk (.tmp/bench, visible read-only in the box) rather than on a tmpfs:
 * tmpfs pages can never leave the page cache, so the fault-around would map cached neighbours and the floors
 * would read higher than dist/waagent, whose pages the bench drops from the cache before each start.
 */
/**
 * The stripped pinned Node, one file per floor agent: with --parallel, two agents running the same file would
 * share its page cache, and each would count pages the other faulted in.
 */
function strippedNode(agent: string): string {
  const base = strippedBase();
  const out = `${base}-${agent}`;
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(base).mtimeMs) return out;
  copyFileSync(base, `${out}.tmp-${process.pid}`);
  renameSync(`${out}.tmp-${process.pid}`, out);
  return out;
}

function strippedBase(): string {
  const out = join(PROJECT, '.tmp', 'bench', 'node-stripped');
  if (existsSync(out) && statSync(out).mtimeMs >= statSync(PINNED_NODE).mtimeMs) return out;
  mkdirSync(dirname(out), { recursive: true });
  const work = `${out}.tmp-${process.pid}`;
  copyFileSync(PINNED_NODE, work);
  const r = spawnSync('strip', ['--strip-all', work], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`strip --strip-all ${work} failed: ${r.stderr}`);
  renameSync(work, out);
  return out;
}

/** Host pids of the box's processes whose command line names the agent. */
function agentPids(box: Box, marker: string): number[] {
  const ns = readlinkSync(`/proc/${box.initPid}/ns/pid`);
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/pid`) !== ns) continue;
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'latin1');
      if (cmd.includes(marker) && !cmd.includes('nsenter')) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function usage(pids: number[]): { rssKiB: number; cpuTicks: number } {
  let rssKiB = 0;
  let cpuTicks = 0;
  for (const p of pids) {
    try {
      rssKiB += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0);
      // CPU time from schedstat (ns, every thread, counted once they ran) rather than utime+stime of /stat:
      // those come in clock ticks (10 ms), too coarse for the few ms of an idle poll.
      for (const t of readdirSync(`/proc/${p}/task`)) {
        try { cpuTicks += Number(readFileSync(`/proc/${p}/task/${t}/schedstat`, 'utf8').split(' ')[0]) * TICK / 1e9; } catch { /* thread gone */ }
      }
    } catch { /* exited between listing and reading */ }
  }
  return { rssKiB, cpuTicks };
}

async function runAgent(name: string): Promise<Run | string> {
  let launch: AgentLaunch | string;
  if (name === 'ours') {
    // --ours-env K=V,K=V: environment of ours only (e.g. UV_THREADPOOL_SIZE=1, what a variable would buy).
    const env = a['ours-env'] ? Object.fromEntries(String(a['ours-env']).split(',').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) : {};
    launch = oursDaemon(DIST, NODE_FLAGS, env);
  } else if (name === 'bare' || name === 'floor' || name === 'floorh') {
    const node = strippedNode(name);
    dropPageCache(node);
    const argv = [node, ...seaV8Flags(), join(PROJECT, 'scripts', 'bench', name === 'bare' ? 'bare-timer.cjs' : 'floor-client.cjs')];
    if (name === 'floor' || name === 'floorh') {
      floorStatusBytes = statusBytes || DEFAULT_STATUS_BYTES;
      floorStatusWhy = a['status-bytes'] ? '--status-bytes' : statusBytes ? 'median of ours' : 'DEFAULT_STATUS_BYTES';
      argv.push(String(floorStatusBytes));
      if (name === 'floorh') argv.push('handle');
    }
    launch = { argv, env: {}, conf: '', marker: node, files: {} };
  } else {
    launch = debianDaemon();
  }
  if (typeof launch === 'string') return launch;
  const { argv, env, marker } = launch;
  const files: BoxFiles = { ...launch.files };
  if (launch.conf) files['/etc/waagent.conf'] = launch.conf;
  const box = await Box.start({ scenario: scenario(), media: { kind: 'udf' }, mountShim: name === 'debian', files });
  const samples: Sample[] = [];
  try {
    const proc = box.spawn(argv, { env });
    const fabric = box.fabric!;
    if (name === 'bare') {
      // Nothing to wait for but the process and its start-up.
      for (let i = 0; i < 300 && !proc.exited && agentPids(box, marker).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      await new Promise((r) => setTimeout(r, 2000));
    } else {
      await fabric.waitFor(() => fabric.statusUploads(), (u) => u.length > 0 || proc.exited, 180_000);
    }
    if (proc.exited) return `${name} exited: ${proc.stderr().slice(-500)}`;
    const t0 = Date.now();
    let wakes = 0;
    let readers = 0; // PIDs taken by the ns_last_pid readers before this sample's
    let lastNs = runNs(agentPids(box, marker));
    let active = false;
    process.stderr.write(`${name}: running for ${DURATION} s\n`);
    while (Date.now() - t0 < DURATION * 1000 && !proc.exited) {
      // The incarnation first: a change after this read shows in the next sample and keeps its window out.
      const incarnation = (await fabric.state()).incarnation;
      const pids = agentPids(box, marker);
      const u = usage(pids);
      const reqs = box.requests();
      const polls = reqs.filter((q) => q.endpoint === 'wire' && q.url.includes('comp=goalstate')).length;
      samples.push({ t: (Date.now() - t0) / 1000, ...u, polls, incarnation, procs: pids.length, reqs: reqs.length, wakes, switches: voluntarySwitches(pids), lastPid: await lastPid(box) - readers++ });
      const until = Date.now() + SAMPLE * 1000;
      while (Date.now() < until) {
        await new Promise((r) => setTimeout(r, WAKE_MS));
        const ns = runNs(pids);
        if (ns > lastNs && !active) wakes++;
        active = ns > lastNs;
        lastNs = ns;
      }
    }
    if (a.smaps && name !== "debian") memoryReport(name, agentPids(box, marker));
    // SIGTERM to the agent itself (the box's wrapper may stand in between), then wait until it is gone:
    // a --cpu-prof profile is written at its exit, before the box is torn down.
    const live = agentPids(box, marker);
    for (const p of live) { try { process.kill(p, 'SIGTERM'); } catch { /* gone */ } }
    for (let i = 0; i < 300 && agentPids(box, marker).length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    proc.kill('SIGTERM');
    const end = await proc.wait(30_000);
    if (end.code !== 0) process.stderr.write(`${name} stopped with code ${end.code} signal ${end.signal}${end.timedOut ? ' (killed after 30 s)' : ''}: ${end.stderr.slice(-400)}\n`);
    if (a.collect && name === 'ours') {
      const to = join(PROJECT, '.tmp', 'bench-collect');
      cpSync(box.hostPath(String(a.collect)), to, { recursive: true });
      process.stderr.write(`copied the box's ${a.collect} to ${to}\n`);
    }
    const requests = box.requests();
    if (name === 'ours' && !statusBytes) {
      // The floor's status PUT is as large as ours (the median: an upload after a change may differ).
      const sizes = requests.filter((q) => q.endpoint === 'hgap' && q.method === 'PUT' && q.url.startsWith('/status'))
        .map((q) => Buffer.byteLength(q.body, q.bodyEncoding)).sort((x, y) => x - y);
      if (sizes.length) statusBytes = sizes[sizes.length >> 1]!;
    }
    return { samples, requests };
  } finally {
    await box.close();
  }
}

/** Where the RSS is: smaps_rollup, and the Rss of each mapping summed by path (anonymous = heap, stacks...). */
function memoryReport(name: string, pids: number[]): void {
  for (const p of pids) {
    try {
      const byPath = new Map<string, number>();
      let current = '';
      for (const line of readFileSync(`/proc/${p}/smaps`, 'utf8').split('\n')) {
        // The binary's segments are told apart by permissions (text, read-only data, ...).
        const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
        if (head) {
          const path = head[4] || '[anon]';
          const size = (parseInt(head[2]!, 16) - parseInt(head[1]!, 16)) >> 20;
          current = path.startsWith('/') && !path.includes('.so') ? `${path} ${head[3]} (${size} MiB mapped)` : path;
          continue;
        }
        const m = /^Rss:\s+(\d+) kB/.exec(line);
        if (m) byPath.set(current, (byPath.get(current) ?? 0) + Number(m[1]));
      }
      const top = [...byPath].sort((x, y) => y[1] - x[1]).slice(0, 12).map(([k, v]) => `${(v / 1024).toFixed(1)} MiB ${k}`);
      const roll = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8').split('\n').filter((l) => /^(Rss|Pss|Anonymous|Private_Clean|Private_Dirty|Shared_Clean):/.test(l)).map((l) => l.replace(/\s+/g, ' ')).join('; ');
      const threads = /Threads:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1];
      process.stderr.write(`${name} pid ${p}: ${threads} threads; ${roll}\n  ${top.join('\n  ')}\n`);
    } catch (e) { process.stderr.write(`smaps of ${p}: ${(e as Error).message}\n`); }
  }
}

/** A request named without its varying parts (ids, incarnation): endpoint, method, path and comp/type. */
function requestKind(q: RecordedRequest): string {
  const u = new URL(q.url, 'http://x.invalid');
  const kept = ['comp', 'type'].filter((k) => u.searchParams.has(k)).map((k) => `${k}=${u.searchParams.get(k)}`);
  const path = q.endpoint === 'wire' && u.pathname.startsWith('/machine/') && u.pathname.length > 9 ? '/machine/<id>' : u.pathname;
  return `${q.endpoint} ${q.method} ${path}${kept.length ? `?${kept.join('&')}` : ''}`;
}

/** The requests of an idle goal-state poll (and of the floor client). */
const POLL_KINDS = /^(wire GET \/machine\/\?comp=goalstate|hgap PUT \/status|hgap GET \/vmSettings)$/;

interface Summary { text: string; cpuMs: number; quietCpuMs: number; cpuPer6sMs: number; rssLastMiB: number; wakesPer6s: number; spawnsPerPoll: number; slopeMiBh: number }

function summarize(name: string, run: Run): Summary {
  const s = run.samples;
  if (s.length < 3) return { text: `${name}: not enough samples`, cpuMs: NaN, quietCpuMs: NaN, cpuPer6sMs: NaN, rssLastMiB: NaN, wakesPer6s: NaN, spawnsPerPoll: NaN, slopeMiBh: NaN };
  const mib = (k: number) => (k / 1024).toFixed(1);
  let idleTicks = 0;
  let idlePolls = 0;
  let idleSeconds = 0;
  const mix = new Map<string, number>();
  // A window is idle when the incarnation did not change in it AND the last change was seen at least SETTLE s
  // before it began: the agent notices a change up to one period (6 s) late and then fetches and handles it,
  // which must not count as idle polling (the request mix below shows whether any of it slipped in).
  const firstSeen = new Map<number, number>();
  for (const x of s) if (!firstSeen.has(x.incarnation)) firstSeen.set(x.incarnation, x.t);
  let choreWindows = 0;
  let idleWakes = 0;
  let idleSwitches = 0;
  let idleSpawns = 0;
  let quietTicks = 0;
  let quietPolls = 0;
  let choreSpawns = 0;
  let choreSeconds = 0;
  for (let i = 1; i < s.length; i++) {
    if (s[i]!.incarnation !== s[i - 1]!.incarnation || s[i - 1]!.t - firstSeen.get(s[i]!.incarnation)! < SETTLE) continue;
    // Only the poll's own requests (what the floor client sends): a window in which a periodic chore talked to
    // the platform too (health reports, telemetry, IMDS) measures that chore, not the poll.
    if (run.requests.slice(s[i - 1]!.reqs, s[i]!.reqs).some((q) => !POLL_KINDS.test(requestKind(q)))) {
      choreWindows++;
      choreSpawns += s[i]!.lastPid - s[i - 1]!.lastPid;
      choreSeconds += s[i]!.t - s[i - 1]!.t;
      continue;
    }
    idleTicks += s[i]!.cpuTicks - s[i - 1]!.cpuTicks;
    idlePolls += s[i]!.polls - s[i - 1]!.polls;
    idleWakes += s[i]!.wakes - s[i - 1]!.wakes;
    idleSwitches += s[i]!.switches - s[i - 1]!.switches;
    idleSpawns += s[i]!.lastPid - s[i - 1]!.lastPid;
    idleSeconds += s[i]!.t - s[i - 1]!.t;
    // The same without windows in which a process was created (a chore that runs a tool, e.g. the firewall
    // check every OS.EnableFirewallPeriod): what the poll itself costs. The figure above keeps them.
    if (s[i]!.lastPid === s[i - 1]!.lastPid) {
      quietTicks += s[i]!.cpuTicks - s[i - 1]!.cpuTicks;
      quietPolls += s[i]!.polls - s[i - 1]!.polls;
    }
    for (const q of run.requests.slice(s[i - 1]!.reqs, s[i]!.reqs)) mix.set(requestKind(q), (mix.get(requestKind(q)) ?? 0) + 1);
  }
  const perMinute: string[] = [];
  for (let m = 0; m * 60 <= s.at(-1)!.t; m++) {
    const w = s.filter((x) => x.t >= m * 60 && x.t < (m + 1) * 60);
    if (w.length) perMinute.push(mib(Math.max(...w.map((x) => x.rssKiB))));
  }
  const firstMin = s.filter((x) => x.t < 60).map((x) => x.rssKiB);
  const lastMin = s.filter((x) => x.t >= s.at(-1)!.t - 60).map((x) => x.rssKiB);
  const avg = (v: number[]) => v.reduce((p, q) => p + q, 0) / Math.max(1, v.length);
  const cpuMs = idlePolls ? (idleTicks * 1000 / TICK) / idlePolls : NaN;
  // RSS growth from minute 10 on (least squares over the samples), MiB per hour; NaN for runs under 20 minutes.
  const late = s.filter((x) => x.t >= 600);
  let slopeMiBh = NaN;
  if (s.at(-1)!.t >= 1200 && late.length > 2) {
    const mt = avg(late.map((x) => x.t));
    const mr = avg(late.map((x) => x.rssKiB));
    const num = late.reduce((p, x) => p + (x.t - mt) * (x.rssKiB - mr), 0);
    const den = late.reduce((p, x) => p + (x.t - mt) ** 2, 0);
    slopeMiBh = (num / den) * 3600 / 1024;
  }
  const wakesPer6s = idleSeconds ? idleWakes / (idleSeconds / 6) : NaN;
  const allWakesPer6s = (s.at(-1)!.wakes - s[0]!.wakes) / ((s.at(-1)!.t - s[0]!.t) / 6);
  // For the bare floor, which never polls: CPU per goal-state period (6 s) of idle time.
  const cpuPer6sMs = idleSeconds ? (idleTicks * 1000 / TICK) / (idleSeconds / 6) : NaN;
  const totalCpuS = (s.at(-1)!.cpuTicks - s[0]!.cpuTicks) / TICK;
  const quietCpuMs = quietPolls ? (quietTicks * 1000 / TICK) / quietPolls : NaN;
  const mixText = idlePolls ? [...mix].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${(v / idlePolls).toFixed(2)}`).join(', ') : 'none';
  const text = [
    `${name}: ${s.length} samples over ${s.at(-1)!.t.toFixed(0)} s, ${s.at(-1)!.incarnation} goal states, up to ${Math.max(...s.map((x) => x.procs))} agent process(es)`,
    `  RSS MiB (max per minute): ${perMinute.join(' ')}`,
    `  RSS slope from minute 10: ${Number.isNaN(slopeMiBh) ? 'n/a (run shorter than 20 min)' : `${slopeMiBh.toFixed(2)} MiB/hour`}`,
    `  RSS first minute avg ${mib(avg(firstMin))} MiB, last minute avg ${mib(avg(lastMin))} MiB, max ${mib(Math.max(...s.map((x) => x.rssKiB)))} MiB`,
    `  CPU per idle goal-state poll: ${cpuMs.toFixed(2)} ms (${idlePolls} idle polls); CPU per idle 6 s: ${cpuPer6sMs.toFixed(2)} ms; CPU total ${totalCpuS.toFixed(1)} s`,
    `    in idle windows without a process created: ${quietCpuMs.toFixed(2)} ms per poll (${quietPolls} polls)`,
    `  wake-ups per 6 s: ${wakesPer6s.toFixed(2)} in idle windows (${idleWakes} in ${idleSeconds.toFixed(0)} s), ${allWakesPer6s.toFixed(2)} over the whole run; voluntary context switches per idle 6 s: ${(idleSeconds ? idleSwitches / (idleSeconds / 6) : NaN).toFixed(1)}`,
    `  processes created per idle poll: ${(idlePolls ? idleSpawns / idlePolls : NaN).toFixed(2)} (${idleSpawns} in ${idlePolls} idle polls); in the left-out chore windows ${choreSpawns} in ${choreSeconds.toFixed(0)} s; over the whole run ${s.at(-1)!.lastPid - s[0]!.lastPid} in ${(s.at(-1)!.t - s[0]!.t).toFixed(0)} s`,
    `  requests per idle poll: ${mixText} (${choreWindows} idle windows with other requests left out)`,
  ].join('\n');
  return { text, cpuMs, quietCpuMs, cpuPer6sMs, rssLastMiB: avg(lastMin) / 1024, wakesPer6s, spawnsPerPoll: idlePolls ? idleSpawns / idlePolls : NaN, slopeMiBh };
}

const results: Record<string, Run | string> = {};
if (a.parallel) {
  // All agents at the same time, each in its own box: a change of the machine's speed during the run (other
  // work, frequency, a noisy neighbour) hits every agent alike, which run after run it does not. An idle
  // agent uses ~0.05 % of a core, so they hardly disturb each other; the floor's status size cannot come
  // from ours' then (--status-bytes, else the default).
  const runs = await Promise.all(AGENTS.map((n) => runAgent(n)));
  AGENTS.forEach((n, i) => { results[n] = runs[i]!; });
} else {
  for (const name of AGENTS) results[name] = await runAgent(name);
}
console.log(`daemon bench: duration ${DURATION} s, sample every ${SAMPLE} s, goal state changes every ${CHANGE} s (CLK_TCK ${TICK})`);
if (AGENTS.includes('floor') || AGENTS.includes('floorh')) console.log(`floor status PUT body: ${floorStatusBytes} bytes (${floorStatusWhy})${AGENTS.includes('ours') && statusBytes && !a['status-bytes'] ? `; ours' median ${statusBytes} bytes` : ''}`);
const sums: Record<string, Summary> = {};
for (const [name, r] of Object.entries(results)) {
  if (typeof r === 'string') { console.log(`${name}: ${r}`); continue; }
  sums[name] = summarize(LABELS[name]!, r);
  console.log(sums[name].text);
}
const row = (pick: (x: Summary) => number, digits: number, names: string[]) => names.filter((n) => sums[n])
  .map((n) => `${LABELS[n]} ${pick(sums[n]!).toFixed(digits)}`).join(' | ');
console.log('against the floors:');
console.log(`  CPU ms per idle goal-state poll: ${row((x) => x.cpuMs, 2, ['ours', 'debian', 'floor', 'floorh'])}${sums.bare ? ` (bare node: ${sums.bare.cpuPer6sMs.toFixed(2)} ms per 6 s)` : ''}`);
console.log(`  RSS MiB, last minute avg: ${row((x) => x.rssLastMiB, 1, ['ours', 'debian', 'bare', 'floor', 'floorh'])}`);

// The targets of issue 17, each a ratio to a peer measured in this run.
const verdict = (ok: boolean | null) => (ok === null ? 'n/a' : ok ? 'MET' : 'NOT MET');
const o = sums.ours;
const fl = sums.floor;
const deb = sums.debian;
console.log('targets (issue 17):');
if (o && fl) {
  const r = o.cpuMs / fl.cpuMs;
  console.log(`  CPU per idle poll <= 1.25 x floor: ${o.cpuMs.toFixed(2)} / ${fl.cpuMs.toFixed(2)} ms = ${r.toFixed(2)}x  ${verdict(Number.isNaN(r) ? null : r <= 1.25)}` +
    ` (without process windows: ${o.quietCpuMs.toFixed(2)} / ${fl.quietCpuMs.toFixed(2)} = ${(o.quietCpuMs / fl.quietCpuMs).toFixed(2)}x)`);
  const d = o.rssLastMiB - fl.rssLastMiB;
  console.log(`  RSS <= floor + 4 MiB: ${o.rssLastMiB.toFixed(1)} - ${fl.rssLastMiB.toFixed(1)} = +${d.toFixed(1)} MiB  ${verdict(d <= 4)}`);
  console.log(`  wake-ups per 6 s <= 2 (floor: ${fl.wakesPer6s.toFixed(2)}): ${o.wakesPer6s.toFixed(2)}  ${verdict(Number.isNaN(o.wakesPer6s) ? null : o.wakesPer6s <= 2)}`);
}
// Information, not a target: ours reads and writes through Node's TCP handle, below net.Socket (src/platform/
// tcplink.ts); the floor over the same handle says how far ours is from that lower floor.
const fh = sums.floorh;
if (o && fh) console.log(`  (information) CPU per idle poll vs the floor over the TCP handle: ${o.cpuMs.toFixed(2)} / ${fh.cpuMs.toFixed(2)} ms = ${(o.cpuMs / fh.cpuMs).toFixed(2)}x (without process windows ${(o.quietCpuMs / fh.quietCpuMs).toFixed(2)}x)`);
if (o) {
  console.log(`  RSS slope from minute 10 <= 0.5 MiB/hour: ${Number.isNaN(o.slopeMiBh) ? 'n/a (run shorter than 20 min)' : `${o.slopeMiBh.toFixed(2)} MiB/hour`}  ${verdict(Number.isNaN(o.slopeMiBh) ? null : o.slopeMiBh <= 0.5)}`);
  console.log(`  no child process per idle poll: ${o.spawnsPerPoll.toFixed(2)} per poll  ${verdict(Number.isNaN(o.spawnsPerPoll) ? null : o.spawnsPerPoll === 0)}`);
}
if (o && deb) {
  const rc = o.cpuMs / deb.cpuMs;
  const rr = o.rssLastMiB / deb.rssLastMiB;
  console.log(`  CPU per idle poll <= 0.4 x Debian's waagent: ${o.cpuMs.toFixed(2)} / ${deb.cpuMs.toFixed(2)} ms = ${rc.toFixed(2)}x  ${verdict(Number.isNaN(rc) ? null : rc <= 0.4)}`);
  console.log(`  RSS <= 0.6 x Debian's waagent: ${o.rssLastMiB.toFixed(1)} / ${deb.rssLastMiB.toFixed(1)} MiB = ${rr.toFixed(2)}x  ${verdict(rr <= 0.6)}`);
}
