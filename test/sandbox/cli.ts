// scripts/box: run any command in a fresh VM-in-a-box and print what happened.
//   scripts/box [--scenario FILE] [--conf FILE] [--media udf|iso9660] [--resource-disk SIZE[:KIND[:CONTENT]]]
//               [--mount-shim] [--hostname NAME] [--file BOXPATH=HOSTFILE]... [--timeout SEC]
//               [--until ready|status] [--log-lines N] [--json] -- COMMAND...
// SIZE is MiB (or with a G/M suffix); KIND scsi-gen1|scsi-gen2|nvme (default scsi-gen2);
// CONTENT blank|ntfs|data. --until stops the command once the simulator saw a Ready health report
// (or a status upload): a daemon never exits by itself. Exit code: the command's (124 on timeout).
import mri from 'mri';
import { readFileSync, statSync } from 'node:fs';
import { Box, type BoxOptions, type RunResult } from './box.ts';
import type { DiskContent } from './disks.ts';
import type { DiskKind } from './sysfs.ts';

const USAGE = `usage: scripts/box [--scenario FILE] [--conf FILE] [--media udf|iso9660] [--resource-disk SIZE[:KIND[:CONTENT]]]
                   [--mount-shim] [--hostname NAME] [--file BOXPATH=HOSTFILE]... [--timeout SEC]
                   [--until ready|status] [--log-lines N] [--json] -- COMMAND...`;

class UsageError extends Error {}

function parseSize(s: string): number {
  const m = /^(\d+)([MmGg]?)$/.exec(s);
  if (!m) throw new UsageError(`--resource-disk: bad size ${JSON.stringify(s)} (MiB, or with M/G suffix)`);
  return Number(m[1]) * (m[2]?.toLowerCase() === 'g' ? 1024 : 1);
}

function list(v: unknown): string[] {
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

function parseArgs(argv: string[]): { opts: BoxOptions; command: string[]; timeoutSec: number; until?: 'ready' | 'status'; logLines: number; json: boolean } {
  const a = mri(argv, {
    string: ['scenario', 'conf', 'media', 'resource-disk', 'hostname', 'file', 'timeout', 'until', 'log-lines'],
    boolean: ['mount-shim', 'json', 'help'],
  });
  if (a.help) throw new UsageError('');
  const command = a._.map(String);
  if (command.length === 0) throw new UsageError('no command given (put it after --)');
  const opts: BoxOptions = {};
  if (a.scenario) opts.scenario = String(a.scenario);
  if (a.hostname) opts.hostname = String(a.hostname);
  if (a['mount-shim']) opts.mountShim = true;
  const files: NonNullable<BoxOptions['files']> = {};
  if (a.conf) files['/etc/waagent.conf'] = { content: readFileSync(String(a.conf)), mode: 0o644 };
  for (const f of list(a.file)) {
    const i = f.indexOf('=');
    if (i <= 0 || !f.startsWith('/')) throw new UsageError(`--file wants BOXPATH=HOSTFILE with an absolute BOXPATH, got ${JSON.stringify(f)}`);
    // The host file's mode comes along (scripts stay executable).
    files[f.slice(0, i)] = { content: readFileSync(f.slice(i + 1)), mode: statSync(f.slice(i + 1)).mode & 0o7777 };
  }
  opts.files = files;
  if (a.media) {
    if (a.media !== 'udf' && a.media !== 'iso9660') throw new UsageError('--media must be udf or iso9660');
    opts.media = { kind: a.media };
  }
  if (a['resource-disk']) {
    const [size, kind = 'scsi-gen2', content] = String(a['resource-disk']).split(':');
    if (!['scsi-gen1', 'scsi-gen2', 'nvme'].includes(kind)) throw new UsageError(`--resource-disk: kind must be scsi-gen1, scsi-gen2 or nvme, got ${kind}`);
    if (content !== undefined && !['blank', 'ntfs', 'data'].includes(content)) throw new UsageError(`--resource-disk: content must be blank, ntfs or data, got ${content}`);
    opts.resourceDisk = { sizeMiB: parseSize(size!), kind: kind as DiskKind, ...(content ? { content: content as DiskContent } : {}) };
  }
  const until = a.until === undefined ? undefined : String(a.until);
  if (until !== undefined && until !== 'ready' && until !== 'status') throw new UsageError('--until must be ready or status');
  if (until && !opts.scenario) throw new UsageError('--until needs --scenario');
  const timeoutSec = a.timeout === undefined ? 300 : Number(a.timeout);
  if (!Number.isFinite(timeoutSec) || timeoutSec <= 0) throw new UsageError('--timeout must be a positive number of seconds');
  const logLines = a['log-lines'] === undefined ? 40 : Number(a['log-lines']);
  return { opts, command, timeoutSec, until: until as 'ready' | 'status' | undefined, logLines, json: Boolean(a.json) };
}

async function waitUntil(box: Box, until: 'ready' | 'status', deadline: number, exited: () => boolean): Promise<boolean> {
  while (Date.now() < deadline && !exited()) {
    try {
      if (until === 'ready' && (await box.fabric!.health()).some((h) => h.state === 'Ready')) return true;
      if (until === 'status' && (await box.fabric!.statusUploads()).length > 0) return true;
    } catch { /* simulator busy: ask again */ }
    await new Promise((r) => setTimeout(r, 250));
  }
  return false;
}

async function main(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message ? `box: ${e.message}\n` : ''}${USAGE}\n`);
      return e.message ? 2 : 0;
    }
    throw e;
  }
  const { opts, command, timeoutSec, until, logLines, json } = parsed;
  const t0 = Date.now();
  const box = await Box.start(opts);
  const onSignal = () => { void box.close().then(() => process.exit(130)); };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: RunResult;
  let reached: boolean | undefined;
  try {
    const started = Date.now();
    const proc = box.spawn(command);
    const deadline = started + timeoutSec * 1000;
    if (until) {
      reached = await waitUntil(box, until, deadline, () => proc.exited);
      if (!proc.exited) {
        proc.kill('SIGTERM');
        result = await proc.wait(5000);
      } else result = await proc.wait();
    } else {
      result = await proc.wait(timeoutSec * 1000);
    }
    const elapsed = Date.now() - started;
    const health = box.fabric ? await box.fabric.health().catch(() => []) : [];
    const uploads = box.fabric ? await box.fabric.statusUploads().catch(() => []) : [];
    const summary = box.fabric ? await box.fabric.summary().catch(() => [] as string[]) : [];
    const requests = box.requests();
    const changes = box.changes();
    const log = box.agentLog();
    if (json) {
      process.stdout.write(`${JSON.stringify({
        code: result.code, signal: result.signal, timedOut: result.timedOut, untilReached: reached, elapsedMs: elapsed,
        startMs: started - t0, timings: box.timings, stdout: result.stdout, stderr: result.stderr, agentLog: log,
        requests: requests.map((q) => ({ seq: q.seq, endpoint: q.endpoint, method: q.method, url: q.url, status: q.status })),
        health, statusUploads: uploads.length, changes,
      }, null, 2)}\n`);
    } else {
      const out: string[] = [];
      out.push(`== box: ${command.join(' ')}`);
      out.push(`exit code: ${result.timedOut ? 'timed out' : result.code ?? `signal ${result.signal}`}` +
        `${until ? ` (stopped ${reached ? `after ${until}` : `without ${until}`})` : ''}; ran ${elapsed} ms; box start ${started - t0} ms`);
      if (result.stdout.trim()) out.push('== stdout (tail)', ...result.stdout.trimEnd().split('\n').slice(-logLines));
      if (result.stderr.trim()) out.push('== stderr (tail)', ...result.stderr.trimEnd().split('\n').slice(-logLines));
      out.push(`== agent log /var/log/waagent.log (last ${logLines} lines)`, ...(log ? log.trimEnd().split('\n').slice(-logLines) : ['(none)']));
      if (box.fabric) {
        out.push('== fabric', ...summary);
        const counts = new Map<string, number>();
        for (const q of requests) {
          const k = `${q.endpoint} ${q.method} ${q.url.replace(/[?&](sv|sig|se|st|sp|sr)=[^&]*/g, '')} -> ${q.status}`;
          counts.set(k, (counts.get(k) ?? 0) + 1);
        }
        for (const [k, n] of counts) out.push(`  ${String(n).padStart(3)} x ${k}`);
        for (const h of health) out.push(`  health: ${h.state}${h.subStatus ? ` ${h.subStatus}` : ''}${h.description ? ` (${h.description})` : ''}`);
        out.push(`  status uploads: ${uploads.length}`);
      }
      out.push(`== changed files (${changes.length})`, ...changes.map((c) => `  ${c.kind.padEnd(8)} ${c.type.padEnd(7)} ${(c.mode & 0o7777).toString(8).padStart(4, '0')} ${c.uid}:${c.gid} ${c.path}`));
      process.stdout.write(`${out.join('\n')}\n`);
    }
  } finally {
    await box.close();
  }
  if (result.timedOut) return 124;
  if (until) return reached ? 0 : 1;
  return result.code ?? 128;
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`box: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
