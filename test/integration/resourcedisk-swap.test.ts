// Swap file decisions on a real temp filesystem (the file, its size, holes and mode are real; the
// swap commands are recorded): create, keep, resize, refuse, and the allocation fallbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, linkSync, lstatSync, readFileSync, statSync, symlinkSync, truncateSync, writeFileSync, chmodSync } from 'node:fs';
import { activateResourceDisk } from '../../src/resourcedisk/index.ts';
import type { ResourceDiskConfig } from '../../src/resourcedisk/index.ts';
import { config, gen2Tree, lines, makeBox } from '../helpers/resourcedisk-fixture.ts';
import type { Box } from '../helpers/resourcedisk-fixture.ts';

const MiB = 1 << 20;

/** A resource disk already mounted at /mnt/resource (so only swap work is left). */
function mountedBox(t: { after: (f: () => void) => void }): Box {
  const b = makeBox(); t.after(b.cleanup);
  gen2Tree(b);
  b.put('/dev/sdb', '');
  b.put('/mnt/resource/.keep', '');
  writeFileSync(`${b.proc}/self/mountinfo`, `90 1 8:17 / ${b.host('/mnt/resource')} rw - ext4 ${b.host('/dev/sdb1')} rw\n`);
  return b;
}

function activeSwap(b: Box, hostPath: string, kib: number): void {
  writeFileSync(`${b.proc}/swaps`, `Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n${hostPath.replace(/ /g, '\\040')}\tfile\t\t${kib}\t\t0\t\t-2\n`);
}

function run(b: Box, over: Partial<ResourceDiskConfig>) {
  return activateResourceDisk({ root: b.root, runner: b.runner, log: b.log, proc: b.proc, config: config(over), sleep: async () => {} });
}

function fullFile(p: string, bytes: number, mode = 0o600): void {
  writeFileSync(p, Buffer.alloc(bytes), { mode });
  chmodSync(p, mode);
}

test('swap disabled: nothing is done', async (t) => {
  const b = mountedBox(t);
  const r = await run(b, { enableSwap: false, swapSizeMB: 64 });
  assert.equal(r.swap?.outcome, 'disabled');
  assert.deepEqual(b.runner.calls, []);
  assert.equal(existsSync(b.host('/mnt/resource/swapfile')), false);
});

test('EnableSwap with SwapSizeMB=0 logs "Invalid swap size [0]" and does nothing', async (t) => {
  const b = mountedBox(t);
  const r = await run(b, { enableSwap: true, swapSizeMB: 0 });
  assert.equal(r.swap?.outcome, 'failed');
  assert.ok(lines(b).some((l) => l.startsWith('ERROR') && l.includes('Invalid swap size [0]')));
  assert.deepEqual(b.runner.calls, []);
});

test('new swap file: fallocate, exact size, no holes, 0600, mkswap, swapon', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  b.runner.onRun((a) => a[0] === 'fallocate', (a) => execFileSync('fallocate', a.slice(1)));
  const r = await run(b, { enableSwap: true, swapSizeMB: 3 });
  assert.equal(r.swap?.outcome, 'created');
  const st = statSync(file);
  assert.equal(st.size, 3 * MiB);
  assert.ok(st.blocks * 512 >= 3 * MiB, 'no holes');
  assert.equal(st.mode & 0o777, 0o600);
  assert.deepEqual(b.runner.commands(), [`fallocate -l ${3 * MiB} ${file}`, `mkswap ${file}`, `swapon ${file}`]);
  assert.ok(lines(b).some((l) => l.includes(`Enabled ${3 * 1024}KB of swap at /mnt/resource/swapfile`)));
});

test('fallocate unsupported: zeros are written instead (exact size, not the upstream 64 MiB truncation)', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  b.runner.answer('fallocate', { code: 1, stderr: 'fallocate failed: Operation not supported' });
  const r = await run(b, { enableSwap: true, swapSizeMB: 5 });
  assert.equal(r.swap?.outcome, 'created');
  assert.equal(statSync(file).size, 5 * MiB);
  assert.ok(statSync(file).blocks * 512 >= 5 * MiB);
  assert.equal(statSync(file).mode & 0o777, 0o600);
});

test('swapon refusing a fallocated file: rewritten with zeros and retried once', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  b.runner.onRun((a) => a[0] === 'fallocate', (a) => execFileSync('fallocate', a.slice(1)));
  let swapons = 0;
  b.runner.onRun((a) => a[0] === 'swapon', () => { swapons++; });
  b.runner.answer((a) => a[0] === 'swapon' && swapons === 1, { code: 255, stderr: 'swapon: swapfile has holes' });
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'created');
  assert.deepEqual(b.runner.commands().map((c) => c.split(' ')[0]), ['fallocate', 'mkswap', 'swapon', 'mkswap', 'swapon']);
  assert.equal(statSync(file).size, 2 * MiB);
});

test('already active with the right size, root 0600: no command', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  fullFile(file, 2 * MiB);
  activeSwap(b, file, 2 * 1024 - 4);
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'unchanged');
  assert.deepEqual(b.runner.calls, []);
  assert.ok(lines(b).some((l) => l.includes('Swap already enabled')));
});

test('active with loose permissions: not trusted, swapped off and made anew 0600', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  fullFile(file, 2 * MiB, 0o644);
  activeSwap(b, file, 2 * 1024 - 4);
  b.runner.answer('fallocate', { code: 1 });
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'resized');
  assert.deepEqual(b.runner.commands().map((c) => c.split(' ')[0]), ['swapoff', 'fallocate', 'mkswap', 'swapon']);
  assert.equal(statSync(file).mode & 0o7777, 0o600);
  assert.ok(lines(b).some((l) => l.startsWith('WARN') && l.includes('mode 0644, not 0600')));
});

test('a swap file planted by a user (right size, 0600, mkswap made, owner not root) is not enabled as is', { skip: process.getuid?.() !== 0 ? 'needs root (chown)' : false }, async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  fullFile(file, 2 * MiB);
  writeFileSync(file, 'SWAPSPACE2 planted', { flag: 'r+' });
  chownSync(file, 1000, 1000);
  b.runner.answer('fallocate', { code: 1 });
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'resized');
  // swapon ran only on the new file: root's, 0600, one link, another inode.
  assert.deepEqual(b.runner.commands().map((c) => c.split(' ')[0]), ['fallocate', 'mkswap', 'swapon']);
  const st = lstatSync(file);
  assert.ok(!readFileSync(file).subarray(0, 18).toString().includes('planted'), 'the planted content is gone');
  assert.deepEqual([st.isFile(), st.uid, st.gid, st.mode & 0o7777, st.nlink], [true, 0, 0, 0o600, 1]);
  assert.ok(lines(b).some((l) => l.includes('owned by uid 1000, not root')));
});

test('a root 0600 swap file with a second hard link (kept by someone else) is made anew', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  fullFile(file, 2 * MiB);
  linkSync(file, b.host('/mnt/resource/copy'));
  b.runner.answer('fallocate', { code: 1 });
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'resized');
  assert.equal(lstatSync(file).nlink, 1);
  assert.ok(lines(b).some((l) => l.includes('2 hard links')));
});

test('right size but not active (after reboot): swapon only, no re-creation', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  fullFile(file, 2 * MiB);
  const ino = statSync(file).ino;
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'enabled');
  assert.deepEqual(b.runner.commands(), [`swapon ${file}`]);
  assert.equal(statSync(file).ino, ino);
});

test('a sparse file of the right size is not trusted: recreated', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  writeFileSync(file, '', { mode: 0o600 });
  truncateSync(file, 2 * MiB);
  b.runner.answer('fallocate', { code: 1 });
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'resized');
  assert.ok(statSync(file).blocks * 512 >= 2 * MiB);
});

test('size changed: swapoff, recreate at the new size, mkswap, swapon', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  fullFile(file, 2 * MiB);
  activeSwap(b, file, 2 * 1024 - 4);
  b.runner.answer('fallocate', { code: 1 });
  const r = await run(b, { enableSwap: true, swapSizeMB: 3 });
  assert.equal(r.swap?.outcome, 'resized');
  assert.deepEqual(b.runner.commands().map((c) => c.split(' ')[0]), ['swapoff', 'fallocate', 'mkswap', 'swapon']);
  assert.equal(statSync(file).size, 3 * MiB);
});

test('larger than the free space: refused with a clear message, current swap kept', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  fullFile(file, 2 * MiB);
  activeSwap(b, file, 2 * 1024 - 4);
  const huge = 8 * 1024 * 1024; // 8 TiB
  const r = await run(b, { enableSwap: true, swapSizeMB: huge });
  assert.equal(r.swap?.outcome, 'refused');
  assert.match(r.swap!.message, new RegExp(`Swap file of ${huge} MB does not fit on /mnt/resource \\(\\d+ MB free\\): swap left as it is`));
  assert.deepEqual(b.runner.calls, []);
  assert.equal(statSync(file).size, 2 * MiB);
  assert.ok(lines(b).some((l) => l.startsWith('ERROR') && l.includes('does not fit')));
});

test('a symlink planted at the swap file path is never followed: the link is removed, a real file made', async (t) => {
  const b = mountedBox(t);
  const file = b.host('/mnt/resource/swapfile');
  b.put('/etc/shadow', 'root:x:0:0\n');
  symlinkSync('/etc/shadow', file);
  b.runner.answer('fallocate', { code: 1 });
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'resized');
  const st = lstatSync(file);
  assert.ok(st.isFile() && st.size === 2 * MiB && (st.mode & 0o7777) === 0o600);
  assert.equal(readFileSync(b.host('/etc/shadow'), 'utf8'), 'root:x:0:0\n', 'the link target untouched');
});

test('a directory at the swap file path is left alone and reported', async (t) => {
  const b = mountedBox(t);
  b.put('/mnt/resource/swapfile/x', '');
  const r = await run(b, { enableSwap: true, swapSizeMB: 2 });
  assert.equal(r.swap?.outcome, 'failed');
  assert.match(r.swap!.message, /is a directory/);
  assert.deepEqual(b.runner.calls, []);
});

test('mkswap failing: swap reported failed with the reason, no exception', async (t) => {
  const b = mountedBox(t);
  b.runner.answer('fallocate', { code: 1 });
  b.runner.answer('mkswap', { code: 1, stderr: 'mkswap: error' });
  const r = await run(b, { enableSwap: true, swapSizeMB: 1 });
  assert.equal(r.outcome, 'already-mounted');
  assert.equal(r.swap?.outcome, 'failed');
  assert.match(r.swap!.message, /Failed to enable swap \/mnt\/resource\/swapfile: .*mkswap failed/);
});
