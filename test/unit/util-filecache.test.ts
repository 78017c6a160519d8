// util/filecache.ts: a file's derived value is reused while the file is unchanged, reloaded when anything about
// it changed, never kept while the file is "racily" new, and never for a missing file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileCache, MAX_KINDS, OWN_TRUST_MS, RACY_MS } from '../../src/util/filecache.ts';

function setup(t: { after: (f: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'filecache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let clock = Date.now() + 10 * RACY_MS;
  const cache = new FileCache({ now: () => clock });
  let loads = 0;
  const read = (p: string) => cache.get('k', p, () => { loads++; return `v${loads}`; });
  const old = (p: string) => { const t0 = new Date(Date.now() - 60_000); utimesSync(p, t0, t0); };
  return { dir, cache, read, loads: () => loads, old, advance: (ms: number) => { clock += ms; } };
}

test('an unchanged file is loaded once; a change of content, size, inode or mode loads it again', (t) => {
  const s = setup(t);
  const f = join(s.dir, 'HandlerStatus');
  writeFileSync(f, '{"status":"Ready"}');
  s.old(f);
  assert.equal(s.read(f), 'v1');
  assert.equal(s.read(f), 'v1');
  assert.equal(s.loads(), 1);
  writeFileSync(f, '{"status":"NotReady"}'); // in place, new size
  s.old(f);
  assert.equal(s.read(f), 'v2');
  const tmp = join(s.dir, 'tmp');
  writeFileSync(tmp, '{"status":"Ready!!!!"}'); // same size as before, new inode (atomic write)
  s.old(tmp);
  renameSync(tmp, f);
  assert.equal(s.read(f), 'v3');
  assert.equal(s.read(f), 'v3');
});

test('a file changed within RACY_MS is not kept (same-size rewrites in one timestamp tick); a missing file never is', (t) => {
  const s = setup(t);
  const f = join(s.dir, '0.status');
  writeFileSync(f, 'x');
  const cache = new FileCache(); // the real clock: the file is brand new
  let n = 0;
  cache.get('k', f, () => ++n);
  cache.get('k', f, () => ++n);
  assert.equal(n, 2, 'racily new: read every time');
  const gone = join(s.dir, 'missing');
  s.read(gone);
  s.read(gone);
  assert.equal(s.loads(), 2);
  assert.equal(s.cache.size, 0);
});

test('a path that becomes a symlink is a change (the loader decides what a link means)', (t) => {
  const s = setup(t);
  const f = join(s.dir, 'HandlerState');
  writeFileSync(f, 'Enabled');
  s.old(f);
  s.read(f);
  rmSync(f);
  const other = join(s.dir, 'elsewhere');
  writeFileSync(other, 'Enabled');
  symlinkSync(other, f);
  s.read(f);
  assert.equal(s.loads(), 2);
});

test('bounded: past MAX entries the cache starts over', (t) => {
  const s = setup(t);
  const small = new FileCache({ max: 3, now: () => Date.now() + 10 * RACY_MS });
  for (let i = 0; i < 5; i++) {
    const f = join(s.dir, `f${i}`);
    writeFileSync(f, 'x');
    small.get('k', f, () => i);
  }
  assert.ok(small.size <= 3);
  // Kinds that carry a name (one per extension ever seen) are bounded as well.
  const f = join(s.dir, 'f0');
  for (let i = 0; i < MAX_KINDS + 10; i++) small.get(`status:ext${i}`, f, () => i);
  assert.ok(small.kindCount <= MAX_KINDS, `${small.kindCount} kinds`);
});

test('own files: no stat while trusted; a change by someone else is seen after OWN_TRUST_MS, the agent\'s own at once after distrust()', (t) => {
  const s = setup(t);
  const f = join(s.dir, 'HandlerState');
  writeFileSync(f, 'Enabled');
  s.old(f);
  let loads = 0;
  const own = () => s.cache.getOwn('own', f, () => `v${++loads}`);
  assert.equal(own(), 'v1');
  // Trusted: even a removed file is not looked at (no stat at all).
  rmSync(f);
  assert.equal(own(), 'v1');
  writeFileSync(f, 'Disabled by someone else');
  s.old(f);
  s.advance(OWN_TRUST_MS - 1);
  assert.equal(own(), 'v1', 'still trusted');
  s.advance(1);
  assert.equal(own(), 'v2', 'checked again after OWN_TRUST_MS: the change is seen');
  assert.equal(own(), 'v2');
  // The agent writes: distrust() makes the next read check the file.
  writeFileSync(f, 'Installed');
  s.old(f);
  assert.equal(own(), 'v2', 'trusted until told');
  s.cache.distrust();
  assert.equal(own(), 'v3');
  // Checked and unchanged: trusted again, without a load.
  s.cache.distrust();
  assert.equal(own(), 'v3');
  rmSync(f);
  assert.equal(own(), 'v3');
  s.cache.distrust();
  assert.equal(own(), 'v4', 'a missing file is loaded (and never kept)');
  assert.equal(own(), 'v5');
});
