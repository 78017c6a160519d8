// The KVP pool writer (src/os/kvp.ts) read back with the tests' own reader (test/helpers/kvp-reader.ts):
// record layout, the host's size limits, locking against another flock(1) holder, trimming only our
// own old records (another writer's records kept byte for byte), stale records from an earlier boot,
// and every way the file cannot be written ending in an outcome, never an exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, symlinkSync, utimesSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { KvpPool, encodeRecord, KVP_RECORD_SIZE, type KvpRecord } from '../../src/os/kvp.ts';
import { readPool } from '../helpers/kvp-reader.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

const POOL = '/var/lib/hyperv/.kvp_pool_1';
const ours = (r: KvpRecord) => r.key.startsWith('ours|');

function setup() {
  const r = makeRoot();
  mkdirSync(r.p('/var/lib/hyperv'), { recursive: true, mode: 0o755 });
  chmodSync(r.p('/var/lib/hyperv'), 0o755);
  return r;
}

test('records are 512 + 2048 bytes, UTF-8, NUL-padded; key and value cut to what the host receives, on a character boundary', async (t) => {
  const r = setup();
  t.after(r.cleanup);
  const pool = new KvpPool({ root: r.root, ours });
  const long = 'é'.repeat(600); // 1200 bytes
  const w = await pool.write({ records: [{ key: 'ours|a', value: 'v1' }, { key: 'ours|' + 'k'.repeat(300), value: long }] });
  assert.deepEqual(w, { ok: true, appended: 2, removed: 0, locked: true });
  const raw = readFileSync(r.p(POOL));
  assert.equal(raw.length, 2 * KVP_RECORD_SIZE);
  assert.equal(raw.subarray(0, 6).toString(), 'ours|a');
  assert.ok(raw.subarray(6, 512).every((b) => b === 0));
  assert.equal(raw.subarray(512, 514).toString(), 'v1');
  const recs = readPool(r.p(POOL));
  assert.equal(recs[0]!.value, 'v1');
  assert.equal(Buffer.byteLength(recs[1]!.key), 254);
  assert.equal(recs[1]!.value, 'é'.repeat(511), '1022 bytes: 511 two-byte characters, none split');
  assert.equal((readFileSync(r.p(POOL)).length), 2 * KVP_RECORD_SIZE);
  const st = execFileSync('stat', ['-c', '%a', r.p(POOL)], { encoding: 'utf8' }).trim();
  assert.equal(st, '644');
});

test('a replaced report and our oldest records go; other writers\' records stay byte for byte, in order', async (t) => {
  const r = setup();
  t.after(r.cleanup);
  const foreign = Buffer.concat([encodeRecord('CLOUD_INIT|1|x', 'first'), encodeRecord('PROVISIONING_REPORT', 'result=success|agent=Cloud-Init/1')]);
  writeFileSync(r.p(POOL), foreign);
  const pool = new KvpPool({ root: r.root, ours, maxOwn: 4 });
  await pool.write({ records: [{ key: 'ours|1', value: 'a' }, { key: 'ours|report', value: 'r1' }] });
  appendFileSync(r.p(POOL), encodeRecord('CLOUD_INIT|1|y', 'later'));
  const w = await pool.write({ records: [{ key: 'ours|report', value: 'r2' }, { key: 'ours|2', value: 'b' }, { key: 'ours|3', value: 'c' }], replaces: (x) => x.key === 'ours|report' });
  assert.equal(w.ok, true);
  assert.deepEqual(readPool(r.p(POOL)).map((x) => `${x.key}=${x.value}`), [
    'CLOUD_INIT|1|x=first', 'PROVISIONING_REPORT=result=success|agent=Cloud-Init/1', 'ours|1=a', 'CLOUD_INIT|1|y=later', 'ours|report=r2', 'ours|2=b', 'ours|3=c',
  ]);
  // Over maxOwn (4): the oldest of ours (ours|1) leaves, nothing else.
  const w2 = await pool.write({ records: [{ key: 'ours|4', value: 'd' }] });
  assert.deepEqual(w2, { ok: true, appended: 1, removed: 1, locked: true });
  assert.deepEqual(readPool(r.p(POOL)).map((x) => x.key), ['CLOUD_INIT|1|x', 'PROVISIONING_REPORT', 'CLOUD_INIT|1|y', 'ours|report', 'ours|2', 'ours|3', 'ours|4']);
  assert.deepEqual(readFileSync(r.p(POOL)).subarray(0, foreign.length), foreign);
});

test('our records older than the boot are dropped on the first write; foreign ones are not', async (t) => {
  const r = setup();
  t.after(r.cleanup);
  writeFileSync(r.p(POOL), Buffer.concat([encodeRecord('ours|old', 'x'), encodeRecord('other', 'y')]));
  const past = new Date(Date.now() - 3600_000);
  utimesSync(r.p(POOL), past, past);
  const pool = new KvpPool({ root: r.root, ours, staleBeforeMs: Date.now() - 60_000 });
  await pool.write({ records: [{ key: 'ours|new', value: 'z' }] });
  assert.deepEqual(readPool(r.p(POOL)).map((x) => x.key), ['other', 'ours|new']);
});

test('the file cannot be written: an outcome, never a throw (no directory, symlink, foreign directory, garbage, full of others, lock held)', async (t) => {
  const r = setup();
  t.after(r.cleanup);
  const none = makeRoot();
  t.after(none.cleanup);
  assert.equal(new KvpPool({ root: none.root, ours }).available(), false);
  const a = await new KvpPool({ root: none.root, ours }).write({ records: [{ key: 'ours|x', value: '1' }] });
  assert.equal(a.ok, false);
  assert.equal(existsSync(none.p('/var/lib/hyperv')), false, 'the directory is never created');

  chmodSync(r.p('/var/lib/hyperv'), 0o777);
  const b = await new KvpPool({ root: r.root, ours }).write({ records: [{ key: 'ours|x', value: '1' }] });
  assert.equal(b.ok, false, 'a world-writable directory is not the daemon\'s');
  chmodSync(r.p('/var/lib/hyperv'), 0o755);

  writeFileSync(r.p('/tmp-target'), 'victim');
  symlinkSync(r.p('/tmp-target'), r.p(POOL));
  const c = await new KvpPool({ root: r.root, ours }).write({ records: [{ key: 'ours|x', value: '1' }] });
  assert.equal(c.ok, false);
  assert.equal(readFileSync(r.p('/tmp-target'), 'utf8'), 'victim', 'a symlink is never followed');
  execFileSync('rm', [r.p(POOL)]);

  writeFileSync(r.p(POOL), 'not records');
  const d = await new KvpPool({ root: r.root, ours }).write({ records: [{ key: 'ours|x', value: '1' }] });
  assert.equal(d.ok, false);
  assert.equal(readFileSync(r.p(POOL), 'utf8'), 'not records', 'left alone');

  writeFileSync(r.p(POOL), Buffer.concat(Array.from({ length: 1024 }, (_, i) => encodeRecord(`other|${i}`, 'v'))));
  const e = await new KvpPool({ root: r.root, ours }).write({ records: [{ key: 'ours|x', value: '1' }] });
  assert.deepEqual(e.ok, false);
  assert.equal(readPool(r.p(POOL)).length, 1024);

  writeFileSync(r.p(POOL), '');
  const holder = spawn('flock', ['-x', r.p(POOL), 'sleep', '5'], { stdio: 'ignore' });
  t.after(() => holder.kill('SIGKILL'));
  await new Promise((res) => setTimeout(res, 300));
  const f = await new KvpPool({ root: r.root, ours, lockTimeoutMs: 1000 }).write({ records: [{ key: 'ours|x', value: '1' }] });
  assert.equal(f.ok, false);
  assert.match((f as { error: string }).error, /not locked within 1 s/);
  assert.equal(readFileSync(r.p(POOL)).length, 0, 'nothing written without the lock');
  holder.kill('SIGKILL');
});

test('without flock(1) records are still appended, but nothing is removed', async (t) => {
  const r = setup();
  t.after(r.cleanup);
  const pool = new KvpPool({ root: r.root, ours, flock: '/nonexistent/flock', maxOwn: 1 });
  assert.deepEqual(await pool.write({ records: [{ key: 'ours|1', value: 'a' }] }), { ok: true, appended: 1, removed: 0, locked: false });
  const w = await pool.write({ records: [{ key: 'ours|2', value: 'b' }] });
  assert.equal(w.ok, false);
  assert.equal(readPool(r.p(POOL)).length, 1);
});

test('the pool\'s 1024-record bound: our oldest records make room; other writers\' never do', async (t) => {
  const r = setup();
  t.after(r.cleanup);
  writeFileSync(r.p(POOL), Buffer.concat([
    ...Array.from({ length: 3 }, (_, i) => encodeRecord(`ours|old${i}`, 'o')),
    ...Array.from({ length: 1019 }, (_, i) => encodeRecord(`other|${i}`, 'v')),
  ]));
  const w = await new KvpPool({ root: r.root, ours }).write({ records: [{ key: 'ours|n1', value: '1' }, { key: 'ours|n2', value: '2' }, { key: 'ours|n3', value: '3' }] });
  assert.deepEqual(w, { ok: true, appended: 3, removed: 1, locked: true });
  const keys = readPool(r.p(POOL)).map((x) => x.key);
  assert.equal(keys.length, 1024);
  assert.deepEqual(keys.filter((k) => k.startsWith('ours|')), ['ours|old1', 'ours|old2', 'ours|n1', 'ours|n2', 'ours|n3']);
  assert.equal(keys.filter((k) => k.startsWith('other|')).length, 1019);
});
