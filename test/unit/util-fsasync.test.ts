// util/fsasync.ts: the callback-based file access that stands in for node:fs/promises (which would load
// readline, the REPL history and the fs watchers into the daemon for good).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAsync } from '../../src/util/fsasync.ts';

test('open, stat, read, write, sync and close; close twice is harmless, use after close is EBADF', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fsasync-'));
  const f = join(dir, 'x');
  writeFileSync(f, 'hello world');
  const r = await openAsync(f, 'r');
  assert.equal((await r.stat()).size, 11);
  const buf = Buffer.alloc(5);
  assert.deepEqual(await r.read(buf, 0, 5, 6), { bytesRead: 5 });
  assert.equal(buf.toString(), 'world');
  await r.close();
  await r.close();
  await assert.rejects(r.read(buf, 0, 1, 0), { code: 'EBADF' });
  const w = await openAsync(f, 'r+');
  assert.deepEqual(await w.write(Buffer.from('HELLO'), 0, 5, 0), { bytesWritten: 5 });
  await w.sync();
  await w.close();
  assert.equal(readFileSync(f, 'utf8'), 'HELLO world');
  await assert.rejects(openAsync(join(dir, 'missing'), 'r'), { code: 'ENOENT' });
});

test('no source file loads node:fs/promises (it would stay loaded, ~1.3 MiB of RSS, for the daemon\'s life)', () => {
  const root = join(import.meta.dirname, '..', '..', 'src');
  const offenders: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && /['"](node:)?fs\/promises['"]/.test(readFileSync(p, 'utf8').replace(/^\s*\/\/.*$/gm, ''))) offenders.push(p);
    }
  };
  walk(root);
  assert.deepEqual(offenders, []);
});
