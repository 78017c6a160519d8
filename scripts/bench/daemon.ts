// Daemon bench: dist/waagent -daemon (and Debian's waagent 2.7.3, the peer) in the VM-in-a-box for a while,
// against a scenario whose extensions goal state changes every minute. Samples the RSS of every agent
// process of the box and their CPU time, and prints: the RSS curve (per minute), its growth, and the CPU
// per IDLE goal-state poll (CPU time of all their threads from schedstat, in ns, over sample windows in which the incarnation did not change,
// divided by the goal-state GETs the simulator saw in those windows).
//
//   scripts/node scripts/bench/daemon.ts [--duration SEC (600)] [--agents ours,debian] [--sample SEC (5)] [--change SEC (60)]
//                                        [--ours-bin PATH] [--node-flags '--flag,--flag'] [--smaps]
//
// --ours-bin: another build of ours (e.g. a copy of the previous dist/waagent) instead of dist/waagent.
// --node-flags: run ours FROM SOURCE (pinned node, src/main.ts) with these V8/Node flags (e.g.
//   --cpu-prof,--cpu-prof-dir=/tmp/prof or --max-semi-space-size=1): where the CPU and memory go, and
//   what a flag would buy before it is baked into the SEA.
// --collect DIR: after ours stopped, copy the box's DIR (e.g. the --cpu-prof-dir) to .tmp/bench-collect/.
// --smaps: at the end, where ours' RSS is (anonymous/heap vs the binary's file pages, by mapping) and
//   its thread count.
//
// Needs root, a built dist/waagent, and for the peer test/sandbox/debian-waagent.sh (run on demand).
// Not run by CI. Never touches the host network: everything runs in the box's private netns.
import mri from 'mri';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Box, PINNED_NODE, PROJECT } from '../../test/sandbox/box.ts';

const a = mri(process.argv.slice(2), { string: ['duration', 'agents', 'sample', 'change', 'ours-bin', 'node-flags', 'collect'], boolean: ['smaps'] });
const DURATION = Number(a.duration ?? 600);
const SAMPLE = Number(a.sample ?? 5);
const CHANGE = Number(a.change ?? 60);
const AGENTS = String(a.agents ?? 'ours,debian').split(',').filter(Boolean);
const DIST = a['ours-bin'] ? resolve(String(a['ours-bin'])) : join(PROJECT, 'dist', 'waagent');
const NODE_FLAGS = a['node-flags'] ? String(a['node-flags']).split(',').filter(Boolean) : null;
const PEER = process.env.WAAGENT_PEER_DIR ?? '/opt/debian-waagent';
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

const OURS_CONF = ['Provisioning.Agent=waagent', 'OS.EnableFirewall=y', 'Logs.Collect=n', 'Logs.Console=n', ''].join('\n');
const SSHD_CONFIG = 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n';
const NOOP = { content: '#!/bin/sh\nexit 0\n', mode: 0o755 };

interface Sample { t: number; rssKiB: number; cpuTicks: number; polls: number; incarnation: number; procs: number }

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

async function runAgent(name: string): Promise<Sample[] | string> {
  let argv: string[];
  let env: Record<string, string> = {};
  let conf: string;
  let marker: string;
  const files: Record<string, string | { content: string; mode: number }> = {};
  if (name === 'ours') {
    conf = OURS_CONF;
    if (NODE_FLAGS) {
      marker = join(PROJECT, 'src', 'main.ts');
      argv = [PINNED_NODE, ...NODE_FLAGS, marker, '-daemon'];
    } else {
      if (!existsSync(DIST)) return `${DIST} is not built (scripts/node build.mjs)`;
      argv = [DIST, '-daemon'];
      marker = DIST;
      // The binary's clean pages count in RSS when they are in the page cache at a fault (the kernel maps
      // the cached neighbours of a faulting page too): a binary just built is all cached and reads ~15 MiB
      // higher than one read from disk at boot. Start from the boot-like state: this file's pages dropped.
      spawnSync('dd', [`if=${DIST}`, 'iflag=nocache', 'count=0', 'status=none']);
    }
  } else {
    if (!existsSync(join(PEER, 'usr/sbin/waagent'))) {
      const r = spawnSync('bash', [join(PROJECT, 'test/sandbox/debian-waagent.sh'), PEER], { encoding: 'utf8', timeout: 300_000 });
      if (r.status !== 0) return `Debian waagent not available: ${(r.stderr || r.stdout).trim().slice(-300)}`;
    }
    argv = ['python3', '-u', join(PEER, 'usr/sbin/waagent'), '-daemon'];
    env = { PYTHONPATH: join(PEER, 'usr/lib/python3/dist-packages'), PYTHONDONTWRITEBYTECODE: '1' };
    conf = readFileSync(join(PEER, 'etc/waagent.conf'), 'utf8')
      .replace(/^Provisioning\.Agent=.*$/m, 'Provisioning.Agent=waagent')
      .replace(/^AutoUpdate\.Enabled=.*$/m, 'AutoUpdate.Enabled=n')
      .replace(/^OS\.EnableFirewall=.*$/m, 'OS.EnableFirewall=y')
      .replace(/^Logs\.Collect=.*$/m, 'Logs.Collect=n');
    marker = join(PEER, 'usr/sbin/waagent');
    if (!existsSync('/etc/ssh/sshd_config')) files['/etc/ssh/sshd_config'] = SSHD_CONFIG;
    files['/usr/local/sbin/ifdown'] = NOOP;
    files['/usr/local/sbin/ifup'] = NOOP;
  }
  files['/etc/waagent.conf'] = conf;
  const box = await Box.start({ scenario: scenario(), media: { kind: 'udf' }, mountShim: name !== 'ours', files });
  const samples: Sample[] = [];
  try {
    const proc = box.spawn(argv, { env });
    const fabric = box.fabric!;
    await fabric.waitFor(() => fabric.statusUploads(), (u) => u.length > 0 || proc.exited, 180_000);
    if (proc.exited) return `${name} exited: ${proc.stderr().slice(-500)}`;
    const t0 = Date.now();
    process.stderr.write(`${name}: running for ${DURATION} s\n`);
    while (Date.now() - t0 < DURATION * 1000 && !proc.exited) {
      const pids = agentPids(box, marker);
      const u = usage(pids);
      const polls = box.requests().filter((q) => q.endpoint === 'wire' && q.url.includes('comp=goalstate')).length;
      const incarnation = (await fabric.state()).incarnation;
      samples.push({ t: (Date.now() - t0) / 1000, ...u, polls, incarnation, procs: pids.length });
      await new Promise((r) => setTimeout(r, SAMPLE * 1000));
    }
    if (a.smaps && name === 'ours') memoryReport(agentPids(box, marker));
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
    return samples;
  } finally {
    await box.close();
  }
}

/** Where the RSS is: smaps_rollup, and the Rss of each mapping summed by path (anonymous = heap, stacks...). */
function memoryReport(pids: number[]): void {
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
      process.stderr.write(`ours pid ${p}: ${threads} threads; ${roll}\n  ${top.join('\n  ')}\n`);
    } catch (e) { process.stderr.write(`smaps of ${p}: ${(e as Error).message}\n`); }
  }
}

function summarize(name: string, s: Sample[]): string {
  if (s.length < 3) return `${name}: not enough samples`;
  const mib = (k: number) => (k / 1024).toFixed(1);
  let idleTicks = 0;
  let idlePolls = 0;
  for (let i = 1; i < s.length; i++) {
    if (s[i]!.incarnation !== s[i - 1]!.incarnation) continue;
    idleTicks += s[i]!.cpuTicks - s[i - 1]!.cpuTicks;
    idlePolls += s[i]!.polls - s[i - 1]!.polls;
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
  const totalCpuS = (s.at(-1)!.cpuTicks - s[0]!.cpuTicks) / TICK;
  return [
    `${name}: ${s.length} samples over ${s.at(-1)!.t.toFixed(0)} s, ${s.at(-1)!.incarnation} goal states, up to ${Math.max(...s.map((x) => x.procs))} agent process(es)`,
    `  RSS MiB (max per minute): ${perMinute.join(' ')}`,
    `  RSS first minute avg ${mib(avg(firstMin))} MiB, last minute avg ${mib(avg(lastMin))} MiB, max ${mib(Math.max(...s.map((x) => x.rssKiB)))} MiB`,
    `  CPU per idle goal-state poll: ${cpuMs.toFixed(2)} ms (${idlePolls} idle polls); CPU total ${totalCpuS.toFixed(1)} s`,
  ].join('\n');
}

const results: Record<string, Sample[] | string> = {};
for (const name of AGENTS) results[name] = await runAgent(name);
console.log(`daemon bench: duration ${DURATION} s, sample every ${SAMPLE} s, goal state changes every ${CHANGE} s (CLK_TCK ${TICK})`);
for (const [name, r] of Object.entries(results)) console.log(typeof r === 'string' ? `${name}: ${r}` : summarize(name === 'ours' ? 'waagent-sea' : 'Debian waagent 2.7.3', r));
