// The daemon's single-instance lock (Pid.File): O_EXCL creation, a live agent refuses, a stale or foreign
// file is taken over, release removes only our own file. Real files in a temp dir.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyRunningError, PidLock, looksLikeAgent, pidAlive } from '../../src/agent/pidfile.ts';
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
    await waitFor(() => looksLikeAgent(fake.pid!), { what: 'the process started as "waagent" to exec' });
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
