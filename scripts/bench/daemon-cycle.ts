// Micro-bench of ONE idle goal-state cycle (poll + status upload, what the daemon does every 6 s when
// nothing changes) against the fabric simulator on 127.0.0.1, from source on the pinned Node. The
// simulator runs in this process; the client runs in a child process, so its CPU time is its own.
//
//   scripts/node scripts/bench/daemon-cycle.ts [--cycles 300] [--warmup 30] [--flags '--a,--b'] [--delay MS (5)]
//
// Prints CPU (user+sys) per cycle after the warm-up, RSS and heap of the client. Loopback only.
import mri from 'mri';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const a = mri(process.argv.slice(2), { string: ['cycles', 'warmup', 'flags', 'delay', 'wire', 'hgap', 'lib'], boolean: ['client'] });
const CYCLES = Number(a.cycles ?? 300);
const WARMUP = Number(a.warmup ?? 30);
const DELAY = Number(a.delay ?? 5);

async function client(): Promise<void> {
  const { HttpClient } = await import('../../src/platform/http.ts');
  const { AzureProtocol } = await import('../../src/platform/protocol.ts');
  const wire = String(a.wire);
  const hgap = String(a.hgap);
  for (const u of [wire, hgap]) if (new URL(u).hostname !== '127.0.0.1') throw new Error('loopback only');
  const http = new HttpClient({ env: {} });
  const p = new AzureProtocol({ endpoint: wire, hgapUrl: hgap, libDir: String(a.lib), transport: http, fastTrack: true });
  await p.detect();
  const status = JSON.stringify({ version: '1.1', timestampUTC: new Date().toISOString(), aggregateStatus: { guestAgentStatus: { status: 'Ready' }, handlerAggregateStatus: [] } });
  let cpu0 = process.cpuUsage();
  let t0 = 0;
  for (let i = 0; i < WARMUP + CYCLES; i++) {
    if (i === WARMUP) { cpu0 = process.cpuUsage(); t0 = Date.now(); }
    const r = await p.poll();
    if (r.wireChanged && i >= WARMUP) throw new Error('goal state changed during the bench');
    const out = await p.uploadStatus(status);
    if (!out.ok) throw new Error(`upload failed: ${JSON.stringify(out.attempts)}`);
    await new Promise((res) => setTimeout(res, DELAY));
  }
  const c = process.cpuUsage(cpu0);
  const m = process.memoryUsage();
  process.stdout.write(JSON.stringify({
    cpuMsPerCycle: (c.user + c.system) / 1000 / CYCLES, userMs: c.user / 1000 / CYCLES, sysMs: c.system / 1000 / CYCLES, wallMs: Date.now() - t0,
    rssMiB: m.rss / 1048576, heapUsedMiB: m.heapUsed / 1048576, heapTotalMiB: m.heapTotal / 1048576, externalMiB: m.external / 1048576, arrayBuffersMiB: m.arrayBuffers / 1048576,
  }) + '\n');
  await http.close();
}

async function parent(): Promise<void> {
  const { startFabric } = await import('../../test/fabric/server.ts');
  const { baseScenario } = await import('../../test/fabric/testing.ts');
  const f = await startFabric({ scenario: baseScenario(), bind: 'loopback', quiet: true });
  const lib = mkdtempSync(join(tmpdir(), 'bench-cycle-'));
  try {
    const flags = a.flags ? String(a.flags).split(',').filter(Boolean) : [];
    const child = spawn(process.execPath, [...flags, fileURLToPath(import.meta.url), '--client', '--wire', f.urls.wire, '--hgap', f.urls.hgap, '--lib', lib,
      '--cycles', String(CYCLES), '--warmup', String(WARMUP), '--delay', String(DELAY)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    const code = await new Promise<number | null>((r) => child.once('close', r));
    if (code !== 0) throw new Error(`client exited ${code}`);
    const r = JSON.parse(out.trim().split('\n').at(-1)!) as Record<string, number>;
    const reqs = f.requests().length;
    console.log(`flags [${flags.join(' ')}] ${CYCLES} cycles (+${WARMUP} warm-up), ${reqs} requests in all: CPU ${r.cpuMsPerCycle!.toFixed(3)} ms/cycle (user ${r.userMs!.toFixed(3)}, sys ${r.sysMs!.toFixed(3)}); RSS ${r.rssMiB!.toFixed(1)} MiB, heap used ${r.heapUsedMiB!.toFixed(1)} / total ${r.heapTotalMiB!.toFixed(1)} MiB, external ${r.externalMiB!.toFixed(1)} MiB (array buffers ${r.arrayBuffersMiB!.toFixed(1)})`);
  } finally {
    await f.close();
    rmSync(lib, { recursive: true, force: true });
  }
}

await (a.client ? client() : parent());
