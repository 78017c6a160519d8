// Damaged media must fail with a MediaError (or still read correctly): never a RangeError, a hang or
// an unbounded allocation. Deterministic pseudo-random corruption of real images.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferSource, MediaError, type ByteSource } from '../../src/os/media/source.ts';
import { readIsoFile } from '../../src/os/media/iso9660.ts';
import { checkTag, readUdfFile } from '../../src/os/media/udf.ts';
import { makeUdfImage, refreshTag } from '../helpers/udf-image.ts';

const OVF = '<Environment>fuzz</Environment>\n';

function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return x; };
}

/** Interesting bytes: only the structures (not the zero padding), where a flip changes meaning. */
function structuralOffsets(img: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i < img.length; i++) if (img[i] !== 0 || (i > 0 && img[i - 1] !== 0)) out.push(i);
  return out;
}

/** Every valid UDF descriptor tag (4-byte aligned), so a fuzz round can re-seal what it damaged. */
function tagOffsets(img: Buffer): number[] {
  const out: number[] = [];
  for (let i = 0; i + 16 <= img.length; i += 4) {
    if (img[i + 1] !== 0 && img[i + 1] !== 1) continue;
    try { checkTag(img, i, 'x', 'x'); if (img.readUInt16LE(i + 10) > 0) out.push(i); } catch { /* not a tag */ }
  }
  return out;
}

async function fuzz(
  label: string, base: Buffer, read: (s: ByteSource) => Promise<Buffer>, rounds: number, reseal: number[] = [],
): Promise<void> {
  const rand = prng(0x5eed + base.length);
  const spots = structuralOffsets(base);
  let ok = 0, typed = 0, bytesRead = 0;
  for (let r = 0; r < rounds; r++) {
    const img = Buffer.from(base);
    const flips = 1 + (rand() % 4);
    for (let f = 0; f < flips; f++) {
      const at = spots[rand() % spots.length]!;
      img[at] = rand() & 0xff;
    }
    // Re-sealed descriptors get past the checksum/CRC, so the reader's semantic checks are what is tested.
    for (const t of reseal) { try { refreshTag(img, t); } catch { /* crc length now out of range */ } }
    const inner = bufferSource(img, `${label}#${r}`);
    const src: ByteSource = { name: inner.name, size: inner.size, read: (o, l, w) => { bytesRead += l; return inner.read(o, l, w); } };
    try {
      await read(src);
      ok++;
    } catch (e) {
      if (!(e instanceof MediaError)) assert.fail(`${label} round ${r}: ${String(e)}\n${(e as Error).stack}`);
      typed++;
    }
  }
  assert.equal(ok + typed, rounds);
  assert.ok(typed > 0, 'the corruption was noticed at least sometimes');
  assert.ok(bytesRead < rounds * 8 * 1024 * 1024, `reads stay bounded (${bytesRead} bytes)`);
}

test('fuzzed UDF images (plain, metadata partition, 512-byte, embedded) fail only with MediaError', async () => {
  const files = { 'ovf-env.xml': OVF, 'a/b.txt': 'b'.repeat(3000) };
  await fuzz('udf', makeUdfImage(files).image, (s) => readUdfFile(s), 400);
  await fuzz('udf-md', makeUdfImage(files, { metadataPartition: true }).image, (s) => readUdfFile(s), 300);
  await fuzz('udf-512', makeUdfImage(files, { blockSize: 512, allocation: 'long' }).image, (s) => readUdfFile(s, 'a/b.txt'), 300);
  await fuzz('udf-emb', makeUdfImage(files, { allocation: 'embedded', extendedFileEntries: true, udfRevision: 0x201 }).image, (s) => readUdfFile(s), 300);
});

test('fuzzed UDF images with re-sealed tags (semantic corruption) fail only with MediaError', async () => {
  const files = { 'ovf-env.xml': OVF, 'a/b.txt': 'b'.repeat(3000), 'a/c/d': 'd' };
  for (const opts of [{}, { metadataPartition: true }, { allocation: 'embedded' as const }, { blockSize: 512 as const, allocation: 'long' as const }]) {
    const img = makeUdfImage(files, opts).image;
    await fuzz(`udf-sealed-${JSON.stringify(opts)}`, img, (s) => readUdfFile(s, 'a/c/d'), 250, tagOffsets(img));
  }
});

test('fuzzed ISO9660 images (plain, Joliet, Rock Ridge) fail only with MediaError', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'media-fuzz-'));
  try {
    mkdirSync(join(tmp, 'src/sub'), { recursive: true });
    writeFileSync(join(tmp, 'src/ovf-env.xml'), OVF);
    writeFileSync(join(tmp, 'src/sub/file.txt'), 'x');
    for (const args of [[], ['-J'], ['-R'], ['-udf', '-J', '-R']]) {
      const out = join(tmp, 'i.iso');
      execFileSync('genisoimage', ['-quiet', ...args, '-o', out, join(tmp, 'src')]);
      const img = readFileSync(out);
      await fuzz(`iso${args.join('')}`, img, (s) => readIsoFile(s), 250);
      if (args.includes('-udf')) await fuzz('bridge-udf', img, (s) => readUdfFile(s), 250);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
