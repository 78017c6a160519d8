import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setBeforeRenameHook, writeFileAtomic } from '../../src/util/atomic.ts';

const dir = mkdtempSync(join(tmpdir(), 'waagent-atomic-'));
const atomicModule = fileURLToPath(new URL('../../src/util/atomic.ts', import.meta.url));

test('a process killed (SIGKILL) between write and rename leaves the old file intact', () => {
  const target = join(dir, 'ovf-env.xml');
  writeFileSync(target, 'old content\n');
  // The child writes a large new file and is SIGKILLed by the before-rename hook: the worst moment.
  const script = `
    import { setBeforeRenameHook, writeFileAtomic } from ${JSON.stringify(atomicModule)};
    setBeforeRenameHook(() => process.kill(process.pid, 'SIGKILL'));
    writeFileAtomic(${JSON.stringify(target)}, 'new '.repeat(100000));
    process.stdout.write('renamed');
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.signal, 'SIGKILL', r.stderr);
  assert.equal(r.stdout, '', 'the rename never happened');
  assert.equal(readFileSync(target, 'utf8'), 'old content\n');
  // The complete temp file is left behind next to it (same directory, so rename would be atomic).
  const leftovers = readdirSync(dir).filter((f) => f.startsWith('.ovf-env.xml.tmp-'));
  assert.equal(leftovers.length, 1);
  assert.equal(statSync(join(dir, leftovers[0]!)).size, 400000);
});

test('a failing write (hook throws) leaves the old file and no temp file', () => {
  const target = join(dir, 'keep.txt');
  writeFileSync(target, 'old');
  setBeforeRenameHook(() => { throw new Error('boom'); });
  try {
    assert.throws(() => writeFileAtomic(target, 'new'), /boom/);
  } finally {
    setBeforeRenameHook(null);
  }
  assert.equal(readFileSync(target, 'utf8'), 'old');
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.keep.txt.tmp-')), []);
});

test('mode is exact whatever the umask; default 0600; owner set (needs root)', () => {
  const old = process.umask(0o077);
  try {
    writeFileAtomic(join(dir, 'pub'), 'x', { mode: 0o644 });
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(join(dir, 'pub')).mode & 0o7777, 0o644);
  writeFileAtomic(join(dir, 'secret'), 'x');
  assert.equal(statSync(join(dir, 'secret')).mode & 0o7777, 0o600);
  if (process.getuid?.() === 0) {
    writeFileAtomic(join(dir, 'owned'), 'x', { uid: 65534, gid: 65534 });
    const st = statSync(join(dir, 'owned'));
    assert.equal(st.uid, 65534);
    assert.equal(st.gid, 65534);
  }
});

test('replacing a symlink replaces the link, never writes through it', () => {
  const victim = join(dir, 'victim');
  writeFileSync(victim, 'untouched');
  const link = join(dir, 'link');
  symlinkSync(victim, link);
  writeFileAtomic(link, 'new');
  assert.equal(readFileSync(victim, 'utf8'), 'untouched');
  assert.equal(lstatSync(link).isSymbolicLink(), false);
  assert.equal(readFileSync(link, 'utf8'), 'new');
});

test('mkdirMode creates missing parents; without it a missing parent is an error', () => {
  const p = join(dir, 'a', 'b', 'c.json');
  assert.throws(() => writeFileAtomic(p, '{}'), /ENOENT/);
  writeFileAtomic(p, '{}', { mkdirMode: 0o700 });
  assert.equal(readFileSync(p, 'utf8'), '{}');
  assert.equal(statSync(join(dir, 'a', 'b')).mode & 0o777, 0o700);
  writeFileAtomic(p, Buffer.from([1, 2, 3]));
  assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
});

test('durable: false writes the same file atomically without fsync (strace counts the calls)', () => {
  const target = join(dir, 'status-copy.json');
  writeFileSync(target, 'old');
  const script = (durable: boolean) => `
    import { writeFileAtomic } from ${JSON.stringify(atomicModule)};
    writeFileAtomic(${JSON.stringify(target)}, '{"new":${durable}}', { mode: 0o640, durable: ${durable} });
  `;
  const fsyncs = (durable: boolean) => {
    const r = spawnSync('strace', ['-f', '-qq', '-e', 'trace=fsync,fdatasync', process.execPath, '--input-type=module', '-e', script(durable)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return (r.stderr.match(/^(\[pid +\d+\] )?f(data)?sync\(/gm) ?? []).length;
  };
  assert.equal(fsyncs(true), 2, 'the file and its directory');
  assert.equal(readFileSync(target, 'utf8'), '{"new":true}');
  assert.equal(fsyncs(false), 0);
  assert.equal(readFileSync(target, 'utf8'), '{"new":false}');
  assert.equal(statSync(target).mode & 0o777, 0o640);
  assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith('.status-copy.json.tmp-')), [], 'no temp file left');
});
