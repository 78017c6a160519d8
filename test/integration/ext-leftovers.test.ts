// Crash leftovers of the extension pipeline removed at service start: only temp names of dead processes,
// never a handler dir, a state file or a live process's temp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepExtensionLeftovers } from '../../src/extensions/leftovers.ts';

test('temp trees and files of a dead agent go; live processes\' temps, handler dirs and state stay; symlinks are removed, not followed', () => {
  const d = mkdtempSync(join(tmpdir(), 'ext-left-'));
  try {
    // A pid that certainly is not running: a child that has exited and been reaped.
    const dead = Number(execFileSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
    const lib = join(d, 'lib');
    const h = join(lib, 'Pub.Ext-1.0.0');
    for (const p of [join(h, 'config'), join(h, 'status'), join(lib, `.Pub.Ext-1.0.0.pkg-${dead}-0123abcd`, 'bin'), join(lib, `.Pub.Ext-1.0.0.old-${dead}-0123abcd`)]) mkdirSync(p, { recursive: true });
    mkdirSync(join(lib, `..Pub.Ext-1.0.0.pkg-${dead}-0123abcd.extract-${dead}-0123456789abcdef`));
    mkdirSync(join(lib, `.Pub.Ext-1.0.0.pkg-${process.pid}-0123abcd`));
    writeFileSync(join(lib, `.Pub.Ext-1.0.0.pkg-${dead}-0123abcd`, 'bin', 'x'), 'x');
    writeFileSync(join(h, 'config', 'HandlerState'), 'Installed');
    writeFileSync(join(h, 'config', `.HandlerState.tmp-${dead}-89abcdef`), 'Enab');
    writeFileSync(join(h, 'status', `.1.status.tmp-${dead}-89abcdef`), '[');
    writeFileSync(join(h, `.cmd-output-${dead}-0123456789ab`), 'out');
    writeFileSync(join(h, 'HandlerManifest.json'), '[]');
    writeFileSync(join(lib, `.waagent_status.json.tmp-${dead}-89abcdef`), '{');
    writeFileSync(join(lib, '.keep-me'), '');
    const outside = join(d, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'p');
    symlinkSync(outside, join(lib, `.evil.old-${dead}-0123abcd`));

    assert.equal(sweepExtensionLeftovers(lib), 8);
    assert.deepEqual(readdirSync(lib).sort(), ['.Pub.Ext-1.0.0.pkg-' + process.pid + '-0123abcd', '.keep-me', 'Pub.Ext-1.0.0'].sort());
    assert.deepEqual(readdirSync(h).sort(), ['HandlerManifest.json', 'config', 'status']);
    assert.deepEqual(readdirSync(join(h, 'config')), ['HandlerState']);
    assert.deepEqual(readdirSync(join(h, 'status')), []);
    assert.deepEqual(readdirSync(outside), ['precious']);
    assert.equal(sweepExtensionLeftovers(lib), 0, 'idempotent');
    assert.equal(sweepExtensionLeftovers(join(d, 'missing')), 0);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('a command left running by a killed agent is killed (its whole process group) before its handler is processed again; a record whose pid is now another process is not', async () => {
  const { spawn } = await import('node:child_process');
  const { readFileSync: rf } = await import('node:fs');
  const d = mkdtempSync(join(tmpdir(), 'ext-left-'));
  const procs: number[] = [];
  try {
    const dead = Number(execFileSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
    const lib = join(d, 'lib');
    const h = join(lib, 'Pub.Ext-1.0.0');
    mkdirSync(h, { recursive: true });
    // An "install" leading its own session with a grandchild, as the launcher starts commands.
    const cmd = spawn('/bin/sh', ['-c', 'sleep 100 & sleep 100; wait'], { detached: true, stdio: 'ignore' });
    cmd.unref();
    const pid = cmd.pid!;
    procs.push(pid);
    const stat = rf(`/proc/${pid}/stat`, 'utf8');
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    writeFileSync(join(h, `.cmd-running-${dead}-0123456789ab`), `${pid} ${start}\n`);
    // A record whose pid was reused by another process (different start time): left alone.
    const other = spawn('/bin/sh', ['-c', 'sleep 100'], { detached: true, stdio: 'ignore' });
    other.unref();
    procs.push(other.pid!);
    writeFileSync(join(h, `.cmd-running-${dead}-ba9876543210`), `${other.pid} 1\n`);
    const exited = new Promise((r) => cmd.once('exit', (_c, sig) => r(sig)));
    assert.equal(sweepExtensionLeftovers(lib), 2);
    assert.equal(await exited, 'SIGKILL');
    // No live (non-zombie) process left in the group (a killed orphan may wait for its reaper as a zombie).
    const groupGone = () => readdirSync('/proc').filter((n) => /^\d+$/.test(n)).every((n) => {
      try {
        const f = rf(`/proc/${n}/stat`, 'utf8').slice(0).split(') ')[1]!.split(' ');
        return Number(f[2]) !== pid || f[0] === 'Z';
      } catch { return true; }
    });
    for (let i = 0; i < 50 && !groupGone(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(groupGone(), true, 'the grandchild died with its group');
    process.kill(other.pid!, 0); // still alive
    assert.deepEqual(readdirSync(h), []);
  } finally {
    for (const p of procs) { try { process.kill(-p, 'SIGKILL'); } catch { /* gone */ } }
    rmSync(d, { recursive: true, force: true });
  }
});
