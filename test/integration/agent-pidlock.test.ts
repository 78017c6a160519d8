// The daemon's single-instance lock (Pid.File): O_EXCL creation, a live agent refuses, a stale or foreign
// file is taken over, release removes only our own file. Real files in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyRunningError, PidLock, looksLikeAgent } from '../../src/agent/pidfile.ts';
import { pidAlive } from '../../src/os/process.ts';
import { waitFor } from '../helpers/wait.ts';

function tmp(): string { return mkdtempSync(join(tmpdir(), 'pidlock-')); }

test('acquire writes our pid (no newline); a second acquire while the first lives is refused', () => {
  const d = tmp();
  try {
    const p = join(d, 'run', 'waagent.pid');
    const a = PidLock.acquire(p, { pid: 4242, alive: (x) => x === 4242 });
    assert.equal(readFileSync(p, 'utf8'), '4242');
    assert.equal(a.valid, true);
    assert.throws(() => PidLock.acquire(p, { pid: 5555, alive: (x) => x === 4242 }), (e: unknown) => e instanceof AlreadyRunningError && e.pid === 4242 && /Daemon is already running: 4242/.test(e.message));
    a.release();
    assert.equal(existsSync(p), false, 'removed on release');
    const b = PidLock.acquire(p, { pid: 5555, alive: () => true });
    assert.equal(readFileSync(p, 'utf8'), '5555');
    b.release();
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('a stale file (dead pid, garbage) is taken over; release leaves a file that is no longer ours', () => {
  const d = tmp();
  try {
    const p = join(d, 'waagent.pid');
    writeFileSync(p, '999999');
    const a = PidLock.acquire(p, { pid: 77, alive: () => false });
    assert.equal(readFileSync(p, 'utf8'), '77');
    writeFileSync(p, '88');
    assert.equal(a.valid, false);
    a.release();
    assert.equal(readFileSync(p, 'utf8'), '88', 'somebody else\'s file is left alone');
    writeFileSync(p, 'not a pid\n');
    const b = PidLock.acquire(p, { pid: 78, alive: () => true });
    assert.equal(readFileSync(p, 'utf8'), '78');
    b.release();
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('real processes: a live non-agent pid (pid reuse) does not block; a process named waagent does', async () => {
  assert.equal(pidAlive(process.pid), true);
  assert.equal(pidAlive(0), false);
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  const fake = spawn('bash', ['-c', 'exec -a waagent sleep 30'], { stdio: 'ignore' });
  const d = tmp();
  try {
    // Poll until both children have exec'd (no fixed sleep): the sleeper's cmdline is sleep's own.
    await waitFor(() => { try { return readFileSync(`/proc/${sleeper.pid}/cmdline`, 'latin1').startsWith('sleep\0'); } catch { return false; } }, { what: 'sleep to start' });
    // Until exec is done: bash's own cmdline ("bash -c exec -a waagent ...") names waagent too, and while it
    // execs, /proc/PID/cmdline may read empty: the likely cause of a failure seen once under load.
    await waitFor(() => { try { return readFileSync(`/proc/${fake.pid}/cmdline`, 'latin1').startsWith('waagent\0'); } catch { return false; } }, { what: 'the process started as "waagent" to exec' });
    assert.equal(looksLikeAgent(fake.pid!), true);
    assert.equal(looksLikeAgent(sleeper.pid!), false);
    const p = join(d, 'waagent.pid');
    writeFileSync(p, String(sleeper.pid));
    PidLock.acquire(p).release();
    writeFileSync(p, String(fake.pid));
    assert.throws(() => PidLock.acquire(p), AlreadyRunningError);
  } finally {
    sleeper.kill('SIGKILL');
    fake.kill('SIGKILL');
    rmSync(d, { recursive: true, force: true });
  }
});

test('20 processes racing for a stale pid file: exactly one wins, the file holds its pid from the first byte', async () => {
  const d = tmp();
  try {
    const p = join(d, 'waagent.pid');
    writeFileSync(p, '999999'); // stale: no such process
    const go = join(d, 'go');
    const done = join(d, 'done');
    const wait = (f: string) => `while (!existsSync(${JSON.stringify(f)})) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);`;
    // Every child says "ready", waits for "go", races, prints its verdict; the winner holds the lock
    // until every verdict is in (so a child slowed down by a loaded machine cannot start after it).
    const script = [
      `import { existsSync } from 'node:fs';`,
      `import { PidLock } from ${JSON.stringify(join(import.meta.dirname, '../../src/agent/pidfile.ts'))};`,
      `console.log('ready');`,
      wait(go),
      `const alive = (x) => { try { process.kill(x, 0); return true; } catch { return false; } };`,
      `let lock;`,
      `try { lock = PidLock.acquire(${JSON.stringify(p)}, { alive }); console.log('won'); }`,
      `catch (e) { console.log(e.name === 'AlreadyRunningError' ? 'lost' : 'error ' + e.message); }`,
      `if (lock) { ${wait(done)} lock.release(); }`,
    ].join('\n');
    const kids = Array.from({ length: 20 }, () => spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] }));
    const outs = kids.map(() => '');
    const lines = (i: number) => outs[i]!.split('\n').filter(Boolean);
    const closed = kids.map((k, i) => new Promise<void>((r) => { k.stdout!.on('data', (c) => { outs[i] += c; }); k.on('close', () => r()); }));
    const until = async (pred: () => boolean) => { const end = Date.now() + 120_000; while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 20)); };
    await until(() => outs.every((_, i) => lines(i).includes('ready')));
    writeFileSync(go, '');
    await until(() => outs.every((_, i) => lines(i).length >= 2));
    writeFileSync(done, '');
    await Promise.all(closed);
    const verdicts = outs.map((_, i) => lines(i)[1]);
    assert.equal(verdicts.filter((r) => r === 'won').length, 1, verdicts.join(', '));
    assert.equal(verdicts.filter((r) => r === 'lost').length, 19, verdicts.join(', '));
    assert.equal(existsSync(`${p}.takeover`), false);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('interleaved takeover: a start that judged the file stale never removes the lock another start won meanwhile', () => {
  const d = tmp();
  try {
    const p = join(d, 'waagent.pid');
    writeFileSync(p, '999999');
    const live = new Set<number>();
    let bWon: PidLock | undefined;
    // A reads the stale pid; while A decides, B runs its whole start and wins the lock.
    const aliveForA = (x: number) => {
      if (x === 999999 && !bWon) {
        bWon = PidLock.acquire(p, { pid: 2002, alive: (y) => live.has(y) });
        live.add(2002);
      }
      return live.has(x);
    };
    assert.throws(() => PidLock.acquire(p, { pid: 1001, alive: aliveForA }), (e: unknown) => e instanceof AlreadyRunningError && e.pid === 2002);
    assert.equal(readFileSync(p, 'utf8'), '2002', 'B keeps its lock');
    assert.equal(bWon?.valid, true);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
