// Where the CPU of an idle goal-state cycle goes, in-process: the agent's own modules (GoalStateLoop with the
// real AzureProtocol, ExtensionsExecutor and HTTP client, from source on the pinned Node with the SEA's V8 flags)
// against the fabric simulator on 127.0.0.1 in another process, N idle cycles timed with process.cpuUsage(), then
// each phase alone, then a minimal node:net client doing the same two requests (the daemon bench's floor) in the
// same process, and the same over Node's TCP handle (the lower floor of a client without net.Socket, as ours).
// No timers, no wake-ups: what the code itself costs per poll, next to the floor.
// --alloc: instead of CPU, the V8 heap bytes each phase allocates per call (50 calls with a young generation
// large enough that no collection runs in between): garbage per poll is what the scavenger pays for later.
//
//   scripts/node scripts/bench/poll-cost.ts [--cycles 400] [--alloc] [--only PREFIX] [--cold MIB] [--rounds N] [--node-flags '--f,--g'] [--cpu-prof-dir DIR (a V8 CPU profile of the measuring process)]
//
// Network safety: the simulator binds 127.0.0.1 (test/fabric, bind 'loopback'); nothing else is contacted.
// The extension's commands run from a temp Lib.Dir (as the integration tests do).
import mri from 'mri';
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PINNED_NODE, PROJECT } from '../../test/sandbox/box.ts';
import { seaV8Flags } from './agents.ts';

const a = mri(process.argv.slice(2), { string: ['cycles', 'child', 'cpu-prof-dir', 'only', 'node-flags', 'cold', 'rounds'], boolean: ['alloc'] });
const ALLOC = Boolean(a.alloc);
const CYCLES = Number(a.cycles ?? 400);
// --only PREFIX: time only the phases whose name starts with it (e.g. `cycle` or `floor`), so that a
// --cpu-prof-dir profile holds that phase alone.
const ONLY = a.only ? String(a.only) : '';
// --cold MIB: before each timed call, write MIB MiB of other memory (CPU caches and TLB cold, as in the daemon,
// whose poll comes after 6 s of sleep and costs ~3x a warm in-process cycle); each call is then timed alone.
const COLD = a.cold ? Number(a.cold) : 0;
if (!Number.isFinite(COLD) || COLD < 0 || COLD > 1024) throw new Error('--cold: MiB, 0..1024');
// --rounds N: every phase N times, interleaved (phase 1, 2, ..., then again), and the median of the N: a
// machine whose speed changes during the run (other work) moves all phases alike, and one slow stretch does
// not decide a phase. Use it to compare two builds of a phase: a few % is within one round's noise.
const ROUNDS = Number(a.rounds ?? 1);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1 || ROUNDS > 99) throw new Error('--rounds: 1..99');
// --node-flags '--flag,--flag': more flags for the measuring process (e.g. --trace-gc; its output goes to stderr).
const EXTRA_FLAGS = a['node-flags'] ? String(a['node-flags']).split(',').filter(Boolean) : [];

function cpuUs(): number { const u = process.cpuUsage(); return u.user + u.system; }

async function child(wire: string, hgap: string): Promise<void> {
  const { HttpClient } = await import('../../src/platform/http.ts');
  const { AzureProtocol } = await import('../../src/platform/protocol.ts');
  const { OpenSsl } = await import('../../src/crypto/openssl.ts');
  const { ExtensionsExecutor } = await import('../../src/extensions/executor.ts');
  const { platformArtifactSource } = await import('../../src/extensions/artifacts.ts');
  const { GoalStateLoop } = await import('../../src/agent/loop.ts');
  const { GoalStateHistory } = await import('../../src/agent/history.ts');
  const { StatusTextMemo, aggregateStatusJson, crpSupportedFeatures } = await import('../../src/extensions/aggregate.ts');
  const dir = mkdtempSync(join(tmpdir(), 'poll-cost-'));
  const roots = { libDir: join(dir, 'lib'), extLogDir: join(dir, 'log') };
  mkdirSync(roots.libDir, { mode: 0o700 });
  const http = new HttpClient({ env: {} });
  const clock = { now: () => Date.now(), random: Math.random, sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 2))) };
  const protocol = new AzureProtocol({ endpoint: wire, hgapUrl: hgap, libDir: roots.libDir, transport: http, clock, openssl: new OpenSsl('openssl'), fastTrack: true });
  const executor = new ExtensionsExecutor({
    roots, wireServer: '127.0.0.1', extensionsEnabled: true, artifacts: platformArtifactSource(protocol.artifacts),
    baseEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, statusRead: { retryDelayMs: 0 },
  });
  const guestOS = () => ({ computerName: 'vm', osName: 'debian', osVersion: '12' });
  const loop = new GoalStateLoop({ protocol, executor, history: new GoalStateHistory(roots.libDir), guestOS });
  const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);
  try {
    await loop.cycle();
    // Status files settle (the report cache keeps only files older than 2 s), then warm up.
    await new Promise((r) => setTimeout(r, 2500));
    for (let i = 0; i < 30; i++) await loop.cycle();
    const egs = loop.extensionsGoalState!;
    const rounds: Record<string, number[]> = {};
    const evict = new Float64Array(COLD * 131072);
    const time = async (name: string, fn: () => Promise<unknown> | unknown) => {
      if (ONLY && !name.trim().startsWith(ONLY)) return;
      const out: Record<string, number> = {};
      await measure(out, name, fn);
      (rounds[name] ??= []).push(out[name]!);
    };
    const measure = async (out: Record<string, number>, name: string, fn: () => Promise<unknown> | unknown) => {
      gc();
      if (ALLOC) {
        const h0 = process.memoryUsage().heapUsed;
        for (let i = 0; i < 50; i++) await fn();
        out[name] = (process.memoryUsage().heapUsed - h0) / 50;
        return;
      }
      if (COLD) {
        // Each call timed alone after the CPU caches were flushed by writing COLD MiB elsewhere (not timed).
        let sum = 0;
        for (let i = 0; i < CYCLES; i++) {
          for (let j = 0; j < evict.length; j += 8) evict[j] = i;
          const t = cpuUs();
          await fn();
          sum += cpuUs() - t;
        }
        out[name] = sum / CYCLES;
        return;
      }
      const t0 = cpuUs();
      for (let i = 0; i < CYCLES; i++) await fn();
      out[name] = (cpuUs() - t0) / CYCLES;
    };
    const handlers = await executor.report(egs);
    const text = aggregateStatusJson({ handlers, guestOS: guestOS(), features: crpSupportedFeatures({ fastTrack: false }) });
    const memo = new StatusTextMemo();
    // The floor: the same two requests with node:net, nothing parsed.
    const hg = new URL(hgap);
    const wu = new URL(wire);
    const body = Buffer.from(JSON.stringify({ content: Buffer.from(text).toString('base64'), headers: [] }));
    const raw = (port: number, req: Buffer) => new Promise<void>((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port, noDelay: true });
      let got: Buffer = Buffer.alloc(0);
      s.on('connect', () => s.write(req));
      s.on('data', (c: Buffer) => {
        got = got.length ? Buffer.concat([got, c]) : c;
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        const len = Number(/content-length:\s*(\d+)/i.exec(got.toString('latin1', 0, end))?.[1] ?? 0);
        if (got.length >= end + 4 + len) { s.destroy(); resolve(); }
      });
      s.on('error', reject);
    });
    const get = Buffer.from(`GET /machine/?comp=goalstate HTTP/1.1\r\nHost: 127.0.0.1\r\nx-ms-version: 2012-11-30\r\nx-ms-agent-name: WALinuxAgent\r\nConnection: close\r\n\r\n`);
    const put = Buffer.concat([Buffer.from(`PUT /status HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nx-ms-version: 2015-09-01\r\nConnection: close\r\n\r\n`), body]);
    // The same two requests over Node's TCP handle (as src/platform/tcplink.ts, without its error handling and
    // timeouts): the floor of a client without net.Socket, which ours is for requests to an IP address.
    type Binding = Record<string, any>;
    const tcpWrap = (process as unknown as { binding(n: string): Binding }).binding('tcp_wrap');
    const streamWrap = (process as unknown as { binding(n: string): Binding }).binding('stream_wrap');
    const handleBuf = Buffer.allocUnsafeSlow(16 << 10);
    const rawHandle = (port: number, req: Buffer) => new Promise<void>((resolve, reject) => {
      const h = new tcpWrap['TCP'](tcpWrap['constants'].SOCKET);
      const cr = new tcpWrap['TCPConnectWrap']();
      let got: Buffer = Buffer.alloc(0);
      let done = false;
      const end = (e: Error | null) => { if (done) return; done = true; h.onread = () => undefined; h.close(); if (e) reject(e); else resolve(); };
      cr.oncomplete = (status: number) => {
        if (status < 0) { end(new Error(`connect ${status}`)); return; }
        h.setNoDelay(true);
        h.useUserBuffer(handleBuf);
        h.onread = () => {
          const n = (streamWrap['streamBaseState'] as Int32Array)[streamWrap['kReadBytesOrError'] as number]!;
          if (n < 0) { end(new Error(`read ${n}`)); return; }
          got = got.length ? Buffer.concat([got, handleBuf.subarray(0, n)]) : Buffer.from(handleBuf.subarray(0, n));
          const e = got.indexOf('\r\n\r\n');
          if (e < 0) return;
          const len = Number(/content-length:\s*(\d+)/i.exec(got.toString('latin1', 0, e))?.[1] ?? 0);
          if (got.length >= e + 4 + len) end(null);
        };
        h.readStart();
        const w = new streamWrap['WriteWrap']();
        w.handle = h;
        w.oncomplete = () => undefined;
        if (h.writeBuffer(w, req)) end(new Error('write failed'));
      };
      if (h.connect(cr, '127.0.0.1', port)) end(new Error('connect failed'));
    });
    for (let round = 0; round < ROUNDS; round++) {
      await time('cycle (poll + report + upload)', () => loop.cycle());
      await time('  loop.report: report + JSON + upload', () => loop.report(egs));
      await time('  poll: goal-state GET, compare', () => protocol.poll());
      await time('  retryDownloads check', () => executor.retryDownloads(egs));
      await time('  report: status files -> entries', () => executor.report(egs));
      await time('  aggregate JSON, built in full', () => aggregateStatusJson({ handlers, guestOS: guestOS(), features: crpSupportedFeatures({ fastTrack: false }) }));
      await time('  aggregate JSON, same input (memo)', () => aggregateStatusJson({ handlers, guestOS: guestOS(), features: crpSupportedFeatures({ fastTrack: false }) }, memo));
      await time('  upload: HGAP PUT /status', () => protocol.uploadStatus(text));
      await time('floor over the TCP handle: GET + PUT', async () => { await rawHandle(Number(wu.port), get); await rawHandle(Number(hg.port), put); });
      await time('floor: the same GET + PUT, node:net', async () => { await raw(Number(wu.port), get); await raw(Number(hg.port), put); });
    }
    // The median of the rounds (the value itself with one round).
    const out: Record<string, number> = {};
    for (const [k, v] of Object.entries(rounds)) out[k] = [...v].sort((x, y) => x - y)[v.length >> 1]!;
    process.stdout.write(`${JSON.stringify({ out, statusBytes: text.length })}\n`);
  } finally {
    await http.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function parent(): Promise<void> {
  const { baseScenario } = await import('../../test/fabric/testing.ts');
  const dir = mkdtempSync(join(tmpdir(), 'poll-cost-fabric-'));
  // One handler, as daemon.ts; scripts/bench/scale.ts measures many handlers in the box.
  const exts = [{ name: 'Waagent.Test.ShellExt', version: '1.0.0', seqNo: 0, publicSettings: { message: 'idle' }, protectedSettings: { secret: 's' } }];
  writeFileSync(join(dir, 'scenario.json'), JSON.stringify(baseScenario({ vmSettings: false, extensions: exts })));
  const fabric = spawn(PINNED_NODE, [join(PROJECT, 'test', 'fabric', 'cli.ts'), join(dir, 'scenario.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const urls: Record<string, string> = {};
    await new Promise<void>((resolve, reject) => {
      let buf = '';
      fabric.stdout.on('data', (c: Buffer) => {
        buf += c.toString();
        for (const m of buf.matchAll(/^fabric: (wire|hgap) (http:\/\/127\.0\.0\.1:\d+)/gm)) urls[m[1]!] = m[2]!;
        if (buf.includes('fabric: ready')) resolve();
      });
      fabric.once('exit', () => reject(new Error('the simulator exited')));
    });
    const prof = a['cpu-prof-dir'] ? ['--cpu-prof', `--cpu-prof-dir=${String(a['cpu-prof-dir'])}`, '--cpu-prof-interval=50'] : [];
    // --alloc: 64 MiB semi-spaces (after the SEA's flags, so they win): 50 calls allocate far less.
    const alloc = ALLOC ? ['--max-semi-space-size=64', '--min-semi-space-size=64'] : [];
    const kid = spawn(PINNED_NODE, [...seaV8Flags(), ...alloc, ...prof, ...EXTRA_FLAGS, join(PROJECT, 'scripts', 'bench', 'poll-cost.ts'), '--child', urls['wire']!, urls['hgap']!, '--cycles', String(CYCLES), ...(ALLOC ? ['--alloc'] : []), ...(ONLY ? ['--only', ONLY] : []), ...(COLD ? ['--cold', String(COLD)] : []), '--rounds', String(ROUNDS)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let text = '';
    kid.stdout.on('data', (c: Buffer) => { text += c.toString(); });
    const code = await new Promise<number | null>((r) => kid.once('exit', r));
    if (code !== 0) throw new Error(`the measuring process exited with ${code}`);
    // Extra flags (e.g. --trace-gc) may print on the measuring process's stdout: passed on to stderr.
    if (EXTRA_FLAGS.length) process.stderr.write(text.trim().split('\n').slice(0, -1).map((l) => `${l}\n`).join(''));
    const { out, statusBytes } = JSON.parse(text.trim().split('\n').at(-1)!) as { out: Record<string, number>; statusBytes: number };
    const floor = out['floor: the same GET + PUT, node:net'] ?? NaN;
    console.log(`poll cost: ${CYCLES} idle cycles in-process${ROUNDS > 1 ? `, median of ${ROUNDS} interleaved rounds` : ''} (pinned Node, SEA V8 flags ${seaV8Flags().join(' ')}), status ${statusBytes} bytes`);
    for (const [k, v] of Object.entries(out)) {
      // With --only, the floor may not have run: no ratio then.
      const ratio = Number.isNaN(floor) ? '' : `  (${(v / floor).toFixed(2)}x floor)`;
      console.log(ALLOC ? `  ${k.padEnd(40)} ${(v / 1024).toFixed(1)} KiB allocated${ratio}` : `  ${k.padEnd(40)} ${(v / 1000).toFixed(3)} ms CPU${ratio}`);
    }
  } finally {
    fabric.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

if (a.child !== undefined) await child(String(a.child), String(a._[0]));
else await parent();
