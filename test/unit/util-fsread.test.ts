// readBoundedText: the whole text of a file up to a bound, with a buffer sized by the file, not the bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readBoundedText } from '../../src/util/fsread.ts';

test('readBoundedText: small, empty, exactly the bound, over the bound', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'fsread-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const f = join(d, 'f');
  writeFileSync(f, 'hello\n');
  assert.equal(readBoundedText(f, 16 << 20), 'hello\n');
  writeFileSync(f, '');
  assert.equal(readBoundedText(f, 10), '');
  writeFileSync(f, 'x'.repeat(10));
  assert.equal(readBoundedText(f, 10), 'x'.repeat(10));
  writeFileSync(f, 'x'.repeat(11));
  assert.throws(() => readBoundedText(f, 10, 'the file'), /the file is larger than 10 bytes/);
  // Larger than one step: read whole.
  const big = 'y'.repeat(200_000);
  writeFileSync(f, big);
  assert.equal(readBoundedText(f, 1 << 20), big);
});

test('readBoundedText sizes its buffer by the file, not by the bound (a 16 MiB bound for a short file)', () => {
  const d = mkdtempSync(join(tmpdir(), 'fsread-'));
  try {
    const f = join(d, 'f');
    writeFileSync(f, 'root:!:1::::::\n');
    const before = process.memoryUsage().arrayBuffers;
    const texts: string[] = [];
    // 8 reads with a 16 MiB bound: had each allocated its bound, 128 MiB of buffers would be alive here.
    for (let i = 0; i < 8; i++) texts.push(readBoundedText(f, 16 << 20));
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 8 << 20, `array buffers grew by ${grown} bytes`);
    assert.equal(texts[7], 'root:!:1::::::\n');
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
