// Ready bench: time from process start to the fabric receiving the Ready health report, and the
// platform requests (WireServer + HostGAPlugin + IMDS) made up to it, for:
//   * waagent-sea `dist/waagent -daemon` and `dist/waagent -provision`,
//   * Debian's waagent 2.7.3 `-daemon` (the Python peer, unpacked by test/sandbox/debian-waagent.sh),
// each run in a FRESH VM-in-a-box with the same scenario (test/fabric/scenarios/bench-ready.json: a
// user with a password and an inline SSH key, a hostname, no certificates, no extensions), the same
// /etc/waagent.conf (Debian's, with Provisioning.Agent=waagent and RegenerateSshHostKeyPair=n) and
// the same files (host keys made in advance so key generation is excluded, the mount/eject shim, no-op
// ifdown/ifup, an sshd_config when the host has none). Runs are interleaved (run 1 of every agent,
// then run 2 ...) so that a change of load on the machine hits all agents alike.
//
//   scripts/node scripts/bench/ready.ts [--runs 5] [--agents daemon,provision,debian[,debian-ifupdown]]
//                                       [--timeout 120] [--budget 1500] [--trace] [--regen-host-keys]
//
// Timing: t0 is taken on the host just before the agent is spawned (nsenter's own start is charged to
// every agent alike); the end is the simulator's own timestamp of the Ready report (same host clock,
// millisecond ISO time), so the polling below does not add to the figure. Requests are those the
// simulator recorded up to and including the Ready report (by sequence number): progress reports
// (NotReady/Provisioning) count, the storage endpoint (not a platform endpoint) does not.
//
// Bounded: each run has a timeout (default 120 s); the whole bench has a budget (default 1500 s) after
// which the remaining runs are skipped and said so, and a watchdog ends the process shortly after.
// Needs root and a built dist/waagent. Not run by CI (tests never assert wall time).
// Network safety: agents run only inside the box (private netns with only lo); nothing runs on the host
// but ssh-keygen (host keys) and, on demand, test/sandbox/debian-waagent.sh (apt-get download).
import mri from 'mri';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, PROJECT, type BoxFile, type BoxProcess } from '../../test/sandbox/box.ts';
import type { HealthReport, RecordedRequest } from '../../test/fabric/server.ts';

const USAGE = 'usage: scripts/node scripts/bench/ready.ts [--runs N (5)] [--agents daemon,provision,debian[,debian-ifupdown]] [--timeout SEC (120)] [--budget SEC (1500)] [--trace] [--regen-host-keys]';
const args = mri(process.argv.slice(2), { string: ['runs', 'agents', 'timeout', 'budget'], boolean: ['help', 'trace', 'regen-host-keys'] });
// --regen-host-keys: first boot as it really is, host-key generation included (RegenerateSshHostKeyPair=y,
// no keys made in advance). Not the default: the Ready target excludes key generation.
const REGEN = Boolean(args['regen-host-keys']);
if (args.help) { console.log(USAGE); process.exit(0); }

function intArg(name: string, def: number, min: number, max: number): number {
  const raw = args[name];
  const v = raw === undefined ? def : Number(raw);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`ready bench: --${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(raw)}\n${USAGE}`);
    process.exit(2);
  }
  return v;
}

const RUNS = intArg('runs', 5, 1, 50);
// At most 120 s per run: the peer needs ~1 s here, ~16 s without the no-op ifdown/ifup; more means hung.
const RUN_TIMEOUT_MS = intArg('timeout', 120, 5, 120) * 1000;
const BUDGET_MS = intArg('budget', 1500, 30, 7200) * 1000;
// debian-ifupdown (opt-in): the peer WITHOUT the no-op ifdown/ifup, i.e. with the 3 x 5 s retries this
// host (no ifupdown) costs it when it publishes the host name: where a "17 s" figure comes from.
const AGENT_NAMES = ['daemon', 'provision', 'debian', 'debian-ifupdown'] as const;
const DEFAULT_AGENTS: AgentName[] = ['daemon', 'provision', 'debian'];
type AgentName = typeof AGENT_NAMES[number];
const isPeer = (a: AgentName) => a === 'debian' || a === 'debian-ifupdown';
const AGENTS = String(args.agents ?? DEFAULT_AGENTS.join(',')).split(',').filter(Boolean) as AgentName[];
for (const a of AGENTS) {
  if (!AGENT_NAMES.includes(a)) { console.error(`ready bench: unknown agent ${JSON.stringify(a)} (${AGENT_NAMES.join(', ')})\n${USAGE}`); process.exit(2); }
}

const SCENARIO = join(PROJECT, 'test', 'fabric', 'scenarios', 'bench-ready.json');
const PEER = process.env.WAAGENT_PEER_DIR ?? '/opt/debian-waagent';
const LABEL: Record<AgentName, string> = {
  daemon: 'waagent-sea -daemon',
  provision: 'waagent-sea -provision',
  debian: 'debian waagent 2.7.3 -daemon',
  'debian-ifupdown': 'debian 2.7.3, no ifdown/ifup',
};
const PLATFORM = new Set(['wire', 'hgap', 'imds']);
const started = Date.now();
const deadline = started + BUDGET_MS;

// ---------------------------------------------------------------------------------------------
// What every box gets

/** The same waagent.conf for every agent: Debian's shipped one (both agents read waagent.conf the same way). */
function benchConf(): { text: string; source: string } {
  const debianConf = join(PEER, 'etc', 'waagent.conf');
  let text: string;
  let source: string;
  if (existsSync(debianConf)) {
    text = readFileSync(debianConf, 'utf8');
    source = `${debianConf}, with`;
  } else {
    // Without the peer: the keys that matter here, with Debian's values.
    text = 'Provisioning.DeleteRootPassword=y\nProvisioning.SshHostKeyPairType=auto\nProvisioning.MonitorHostName=y\nResourceDisk.Format=y\nAutoUpdate.Enabled=n\nOS.EnableFirewall=n\n';
    source = 'Debian\'s key values (peer not unpacked), with';
  }
  const set = (key: string, value: string) => {
    const re = new RegExp(`^${key.replace('.', '\\.')}=.*$`, 'm');
    text = re.test(text) ? text.replace(re, `${key}=${value}`) : `${text.replace(/\n?$/, '\n')}${key}=${value}\n`;
  };
  // Debian ships Provisioning.Agent=cloud-init; the agents provision themselves here.
  set('Provisioning.Agent', 'waagent');
  // Host keys are made before the run: key generation is not part of what is measured (unless
  // --regen-host-keys asks for a real first boot).
  set('Provisioning.RegenerateSshHostKeyPair', REGEN ? 'y' : 'n');
  return { text, source: `${source} Provisioning.Agent=waagent, Provisioning.RegenerateSshHostKeyPair=${REGEN ? 'y' : 'n'}` };
}

/** SSH host keys of every type, made once on the host (ssh-keygen -A under a temp prefix). */
function hostKeys(): Record<string, BoxFile> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-ready-keys-'));
  try {
    mkdirSync(join(dir, 'etc', 'ssh'), { recursive: true });
    const r = spawnSync('ssh-keygen', ['-A', '-f', dir], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0) throw new Error(`ssh-keygen -A failed: ${(r.stderr || r.stdout).trim()}`);
    const out: Record<string, BoxFile> = {};
    for (const n of readdirSync(join(dir, 'etc', 'ssh'))) {
      if (!n.startsWith('ssh_host_')) continue;
      out[`/etc/ssh/${n}`] = { content: readFileSync(join(dir, 'etc', 'ssh', n)), mode: n.endsWith('.pub') ? 0o644 : 0o600 };
    }
    if (!out['/etc/ssh/ssh_host_rsa_key.pub']) throw new Error('ssh-keygen -A made no RSA host key');
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const SSHD_CONFIG = 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n';
const NOOP: BoxFile = { content: '#!/bin/sh\nexit 0\n', mode: 0o755 };

/** Unpacks the peer on demand; undefined when it is ready, else the reason it cannot run. */
function preparePeer(): string | undefined {
  // The box sees the host's / through its overlay, except these, which it mounts afresh.
  if (/^\/(tmp|run|dev|proc|sys)(\/|$)/.test(PEER)) return `Debian waagent cannot run: ${PEER} is not visible inside the box (its /tmp, /run, /dev, /proc, /sys are its own); set WAAGENT_PEER_DIR elsewhere`;
  if (!existsSync(join(PEER, 'usr/sbin/waagent'))) {
    const r = spawnSync('bash', [join(PROJECT, 'test/sandbox/debian-waagent.sh'), PEER], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) return `Debian waagent not available (test/sandbox/debian-waagent.sh): ${(r.stderr || r.stdout).trim().slice(-300)}`;
  }
  if (!existsSync(join(PEER, 'usr/lib/python3/dist-packages/azurelinuxagent/agent.py'))) return `Debian waagent cannot run: ${PEER} has usr/sbin/waagent but no usr/lib/python3/dist-packages/azurelinuxagent (not an unpacked waagent .deb)`;
  // The box is an overlay of this host's /, so the box runs the host's /usr/bin/python3.
  const py = spawnSync('/usr/bin/python3', ['-c', 'import distro'], { encoding: 'utf8' });
  if (py.status !== 0) return `Debian waagent cannot run: /usr/bin/python3 lacks the distro module (apt-get install python3-distro): ${(py.stderr || '').trim().slice(-200)}`;
  // An installed Debian package has its bytecode compiled (py3compile in postinst); the box sees the
  // host's /opt through its overlay, so compile once here and no run pays for compiling sources.
  const c = spawnSync('/usr/bin/python3', ['-m', 'compileall', '-q', join(PEER, 'usr/lib/python3/dist-packages')], { encoding: 'utf8', timeout: 120_000 });
  if (c.status !== 0) return `Debian waagent: compileall failed: ${(c.stderr || c.stdout).trim().slice(-200)}`;
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// One run

interface RunResult {
  agent: AgentName;
  run: number;
  readyMs?: number;
  /** Spawn to the first platform request: start-up before any protocol work. */
  firstRequestMs?: number;
  requests?: RecordedRequest[];
  /** Why there is no figure. */
  failure?: string;
  /** Provisioning checked in the box after Ready (user in /etc/passwd, host name). */
  provisioned?: string;
  /** --trace: the agent's log lines up to Ready, as ms from spawn. */
  trace?: string[];
}

function agentArgv(agent: AgentName, binary: string): { argv: string[]; env: Record<string, string> } {
  if (agent === 'debian' || agent === 'debian-ifupdown') {
    return {
      // Debian's python3 (what the package's #! names), unbuffered as in the peer e2e test. The .pyc
      // files were compiled on the host beforehand (preparePeer), as py3compile does at install time.
      argv: ['/usr/bin/python3', '-u', join(PEER, 'usr/sbin/waagent'), '-daemon'],
      env: { PYTHONPATH: join(PEER, 'usr/lib/python3/dist-packages') },
    };
  }
  return { argv: [binary, agent === 'daemon' ? '-daemon' : '-provision'], env: {} };
}

const tail = (s: string, n: number) => s.trim().split('\n').slice(-n).map((l) => `      ${l}`).join('\n');

async function oneRun(agent: AgentName, run: number, binary: string, files: Record<string, BoxFile>): Promise<RunResult> {
  const result: RunResult = { agent, run };
  const timeoutMs = Math.min(RUN_TIMEOUT_MS, deadline - Date.now());
  if (timeoutMs < 5000) return { ...result, failure: 'skipped: bench budget used up' };
  const boxFiles = { ...files };
  if (agent === 'debian-ifupdown') { delete boxFiles['/usr/local/sbin/ifdown']; delete boxFiles['/usr/local/sbin/ifup']; }
  const box = await Box.start({ scenario: SCENARIO, media: { kind: 'udf' }, mountShim: true, files: boxFiles });
  let proc: BoxProcess | undefined;
  try {
    const fabric = box.fabric!;
    const { argv, env } = agentArgv(agent, binary);
    const t0 = Date.now();
    proc = box.spawn(argv, { env });
    const p = proc;
    let health: HealthReport[] = [];
    const end = t0 + timeoutMs;
    for (;;) {
      health = await fabric.health();
      if (health.some((h) => h.state === 'Ready')) break;
      // -provision exits after Ready: one more look at the record after the exit.
      if (p.exited) { health = await fabric.health(); break; }
      if (Date.now() > end) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const ready = health.find((h) => h.state === 'Ready');
    if (!ready) {
      const why = p.exited ? `exited (code ${(await p.wait()).code}) without Ready` : `no Ready within ${Math.round(timeoutMs / 1000)} s`;
      const states = health.map((h) => `${h.state}${h.subStatus ? `/${h.subStatus}` : ''}`).join(', ') || 'none';
      const stderr = p.stderr().trim();
      result.failure = `${why}; health reports: ${states}${stderr ? `\n    stderr:\n${tail(stderr, 5)}` : ''}\n    waagent.log:\n${tail(box.agentLog(), 8)}`;
      return result;
    }
    result.readyMs = Date.parse(ready.time) - t0;
    result.requests = box.requests().filter((q) => PLATFORM.has(q.endpoint) && q.seq <= ready.seq);
    const first = result.requests[0];
    if (first) result.firstRequestMs = Date.parse(first.time) - t0;
    const passwd = box.exists('/etc/passwd') ? box.readFile('/etc/passwd') : '';
    const hostname = box.exists('/etc/hostname') ? box.readFile('/etc/hostname').trim() : '';
    if (args.trace) result.trace = traceLines(box.agentLog(), t0, Date.parse(ready.time));
    result.provisioned = `${/^benchuser:/m.test(passwd) ? 'user benchuser' : 'NO USER'}, hostname ${hostname || '(none)'}`;
    if (agent === 'provision') {
      // -provision is one-shot: it must end by itself, with 0, once Ready is reported.
      const end = await p.wait(15_000);
      result.provisioned += end.timedOut ? ', did NOT exit within 15 s' : `, exit ${end.code}`;
    }
    return result;
  } finally {
    if (proc && !proc.exited) {
      proc.kill('SIGTERM');
      await proc.wait(10_000);
    }
    await box.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Report

/**
 * Both agents start log lines with an ISO UTC time (2026-01-01T00:00:00.123456Z); lines up to the
 * Ready report, as "+ms" from spawn, and at most 60 of them (the rest elided in the middle).
 */
function traceLines(log: string, t0: number, readyAt: number): string[] {
  const out: string[] = [];
  for (const line of log.split('\n')) {
    const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?)\d*Z\s+(.*)$/.exec(line);
    if (!m) continue;
    const at = Date.parse(`${m[1]}Z`);
    if (at > readyAt + 5) break;
    out.push(`+${String(at - t0).padStart(5)}  ${m[2]!.slice(0, 140)}`);
  }
  return out.length > 60 ? [...out.slice(0, 30), `... ${out.length - 60} lines ...`, ...out.slice(-30)] : out;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function requestLine(q: RecordedRequest): string {
  // Container and role-instance ids make lines long and say nothing here; SAS parts are dropped.
  const path = q.url.replace(/[?&](sig|se|sp|sv|sr|st)=[^&]*/g, '').replace(/^\/machine\/[^/?]+\/[^/?]+\?/, '/machine/<container>/<instance>?');
  return `${q.method.padEnd(4)} ${q.endpoint.padEnd(4)} ${path.length > 100 ? `${path.slice(0, 97)}...` : path}`;
}

function report(results: RunResult[], notes: string[]): void {
  console.log(`\nready bench: ${RUNS} run(s) per agent, each in a fresh box; scenario ${SCENARIO.slice(PROJECT.length + 1)}`);
  for (const n of notes) console.log(`  ${n}`);
  console.log(`  machine: ${cpus().length} CPUs, load average at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')} (other work on the machine slows every agent alike: runs are interleaved)`);
  console.log('');
  console.log(`${'start -> Ready'.padEnd(30)} ${'ok'.padStart(5)} ${'median'.padStart(9)} ${'min'.padStart(9)} ${'max'.padStart(9)} ${'1st req'.padStart(9)}   requests incl. Ready (wire+hgap+imds)`);
  const medians: Partial<Record<AgentName, number>> = {};
  const reqMedians: Partial<Record<AgentName, number>> = {};
  for (const agent of AGENTS) {
    const rs = results.filter((r) => r.agent === agent);
    const ok = rs.filter((r) => r.readyMs !== undefined);
    if (!ok.length) { console.log(`${LABEL[agent].padEnd(30)} ${`0/${rs.length}`.padStart(5)}   no Ready in any run`); continue; }
    const ms = ok.map((r) => r.readyMs!);
    const counts = ok.map((r) => r.requests!.length);
    const perEp = (ep: string) => median(ok.map((r) => r.requests!.filter((q) => q.endpoint === ep).length));
    medians[agent] = median(ms);
    reqMedians[agent] = median(counts);
    const f = (v: number) => `${v.toFixed(0)} ms`.padStart(9);
    const countText = Math.min(...counts) === Math.max(...counts) ? `${counts[0]}` : `${median(counts)} (${Math.min(...counts)}-${Math.max(...counts)})`;
    console.log(`${LABEL[agent].padEnd(30)} ${`${ok.length}/${rs.length}`.padStart(5)} ${f(median(ms))} ${f(Math.min(...ms))} ${f(Math.max(...ms))} ${f(median(ok.map((r) => r.firstRequestMs ?? NaN)))}   ${countText} (${perEp('wire')}+${perEp('hgap')}+${perEp('imds')})`);
  }
  console.log('  (ms from spawn; 1st req = median ms from spawn to the first platform request, i.e. start-up)');
  const peer = medians.debian;
  console.log('');
  for (const agent of ['daemon', 'provision'] as const) {
    const ours = medians[agent];
    if (ours === undefined) continue;
    const ratio = peer !== undefined ? `; debian waagent / ${LABEL[agent]}: ${(peer / ours).toFixed(1)}x time, ${reqMedians.debian} vs ${reqMedians[agent]} requests` : '';
    const verdict = REGEN ? 'n/a with --regen-host-keys (the target excludes key generation)' : ours <= 500 && reqMedians[agent]! <= 4 ? 'MET' : 'NOT MET';
    console.log(`target start -> Ready <= 500 ms with <= 4 requests, ${LABEL[agent]}: ${verdict} (${ours.toFixed(0)} ms, ${reqMedians[agent]} requests)${ratio}`);
  }
  if (peer === undefined && AGENTS.includes('debian')) console.log('debian waagent: no figure (see below), no ratio');
  if (medians['debian-ifupdown'] !== undefined && peer !== undefined) console.log(`debian waagent without no-op ifdown/ifup: ${(medians['debian-ifupdown'] / 1000).toFixed(1)} s (${((medians['debian-ifupdown'] - peer) / 1000).toFixed(1)} s more)`);

  console.log('\nper run (ms to Ready, requests):');
  for (const agent of AGENTS) {
    const rs = results.filter((r) => r.agent === agent);
    console.log(`  ${LABEL[agent].padEnd(30)} ${rs.map((r) => (r.readyMs !== undefined ? `${r.readyMs}/${r.requests!.length}` : 'fail')).join('  ')}`);
  }
  console.log('\nrequests up to and including Ready (first successful run of each agent):');
  for (const agent of AGENTS) {
    const r = results.find((x) => x.agent === agent && x.requests);
    if (!r) continue;
    console.log(`  ${LABEL[agent]} (run ${r.run}; provisioned: ${r.provisioned}):`);
    for (const q of r.requests!) console.log(`    ${requestLine(q)}`);
  }
  const failures = results.filter((r) => r.failure);
  if (failures.length) {
    console.log('\nruns without a figure:');
    for (const r of failures) console.log(`  ${LABEL[r.agent]} ${r.run ? `run ${r.run}` : '(not run)'}: ${r.failure}`);
  }
  const bad = results.filter((r) => r.provisioned && !/^user benchuser, hostname benchvm(, exit 0)?$/.test(r.provisioned));
  for (const r of bad) console.log(`WARNING: ${LABEL[r.agent]} run ${r.run} reported Ready but the box shows: ${r.provisioned}`);
  for (const agent of AGENTS) {
    const r = results.find((x) => x.agent === agent && x.trace);
    if (!r) continue;
    console.log(`\n--trace: /var/log/waagent.log of ${LABEL[agent]} run ${r.run} up to Ready (+ms from spawn; Ready at +${r.readyMs}):`);
    for (const l of r.trace!) console.log(`  ${l}`);
  }
  console.log(`\nbench took ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) { console.error('ready bench: needs root (namespaces, mounts, loop devices)'); return 2; }
  const dist = join(PROJECT, 'dist', 'waagent');
  const ours = AGENTS.filter((a) => a === 'daemon' || a === 'provision');
  const notes: string[] = [];
  // A private copy, visible in the box (the project is bind-mounted read-only there): a parallel
  // `npm test` may rebuild dist/waagent while we run.
  const copyDir = join(PROJECT, '.tmp', `bench-ready-${process.pid}`);
  let binary = '';
  if (ours.length) {
    if (!existsSync(dist)) { console.error('ready bench: dist/waagent is missing: scripts/node build.mjs'); return 2; }
    mkdirSync(copyDir, { recursive: true });
    binary = join(copyDir, 'waagent');
    copyFileSync(dist, binary);
    notes.push(`waagent-sea: copy of dist/waagent (${statSync(binary).size} bytes, built ${statSync(dist).mtime.toISOString()})`);
  }
  const cleanup = () => rmSync(copyDir, { recursive: true, force: true });
  process.once('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { cleanup(); process.exit(130); });
  // The bench stops by itself even if a box hangs in close(): the watchdog fires after the budget.
  setTimeout(() => { console.error('ready bench: budget exceeded by 120 s, stopping'); cleanup(); process.exit(1); }, BUDGET_MS + 120_000).unref();

  let agents = [...AGENTS];
  if (agents.some(isPeer)) {
    const why = preparePeer();
    if (why) { notes.push(why); agents = agents.filter((a) => !isPeer(a)); }
  }
  const conf = benchConf();
  notes.push(`waagent.conf: ${conf.source}`);
  const files: Record<string, BoxFile> = {
    '/etc/waagent.conf': { content: conf.text, mode: 0o644 },
    ...(REGEN ? {} : hostKeys()),
    // 2.7.3 restarts the primary interface (here lo) to publish the host name: without ifdown/ifup
    // it retries 3 x 5 s. Given to every agent alike; ours does not call them.
    '/usr/local/sbin/ifdown': NOOP,
    '/usr/local/sbin/ifup': NOOP,
  };
  if (!existsSync('/etc/ssh/sshd_config')) files['/etc/ssh/sshd_config'] = { content: SSHD_CONFIG, mode: 0o644 };
  notes.push(`every box: UDF DVD with ovf-env.xml + mount/eject shim (this kernel has no udf), ${REGEN ? 'host keys made by the agent (--regen-host-keys; the host\'s own, if any, are in the overlay)' : 'host keys made in advance'}, no-op ifdown/ifup, no resource disk`);

  const results: RunResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    for (const agent of agents) {
      process.stderr.write(`run ${run}/${RUNS} ${LABEL[agent]} ... `);
      let r: RunResult;
      try {
        r = await oneRun(agent, run, binary, files);
      } catch (e) {
        r = { agent, run, failure: `box failed: ${e instanceof Error ? e.message : String(e)}` };
      }
      results.push(r);
      process.stderr.write(r.readyMs !== undefined ? `Ready after ${r.readyMs} ms, ${r.requests!.length} requests\n` : `${r.failure!.split('\n')[0]}\n`);
    }
  }
  for (const a of AGENTS) if (!agents.includes(a)) results.push({ agent: a, run: 0, failure: notes.find((n) => n.startsWith('Debian')) ?? 'not run' });
  report(results, notes);
  return results.some((r) => r.readyMs !== undefined) ? 0 : 1;
}

main().then((code) => process.exit(code), (e) => { console.error(`ready bench failed: ${e instanceof Error ? e.stack : e}`); process.exit(1); });
