// Our zip writer/reader/extractor: round trips, interop with Info-ZIP (zip/unzip), and every hostile archive we refuse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { createZip, crc32 } from '../../src/util/zipwrite.ts';
import { openZip, readZip, ZipError } from '../../src/util/zipread.ts';
import { extractZip } from '../../src/util/zipextract.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'zip-test-'));
}

function findCentral(buf: Buffer, index = 0): number {
  let n = 0;
  for (let i = 0; i + 4 <= buf.length; i++) if (buf.readUInt32LE(i) === 0x02014b50 && n++ === index) return i;
  throw new Error('central record not found');
}

test('crc32 matches zlib for several inputs', async () => {
  for (const s of ['', 'a', 'hello world', 'x'.repeat(10000)]) {
    assert.equal(crc32(Buffer.from(s)), zlibCrc32(Buffer.from(s)));
  }
  const big = Buffer.alloc(70000, 7);
  assert.equal(crc32(big.subarray(10), crc32(big.subarray(0, 10))), zlibCrc32(big));
});

test('round trip: files, directories, modes, binary and utf-8 names', async () => {
  const bin = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 0xff));
  const zip = createZip([
    { name: 'bin/', mode: 0o755 },
    { name: 'bin/run.sh', data: '#!/bin/sh\necho hi\n', mode: 0o755 },
    { name: 'data.bin', data: bin },
    { name: 'empty.txt', data: '' },
    { name: 'stored.txt', data: 'not compressed', store: true },
    { name: 'ünï.txt', data: 'utf8 name' },
  ]);
  const entries = readZip(zip);
  assert.deepEqual(entries.map((e) => e.path), ['bin', 'bin/run.sh', 'data.bin', 'empty.txt', 'stored.txt', 'ünï.txt']);
  assert.equal(entries[0]!.isDir, true);
  assert.equal(entries[1]!.mode, 0o755);
  assert.equal(entries[1]!.data.toString(), '#!/bin/sh\necho hi\n');
  assert.deepEqual(entries[2]!.data, bin);
  assert.equal(entries[2]!.method, 8);
  assert.equal(entries[3]!.data.length, 0);
  assert.equal(entries[4]!.method, 0);
  assert.equal(entries[5]!.data.toString(), 'utf8 name');
});

test('unzip -t accepts our archives and unzip extracts the same bytes and modes', async () => {
  const d = tmp();
  try {
    const zipPath = join(d, 'a.zip');
    writeFileSync(zipPath, createZip([
      { name: 'dir/', mode: 0o755 },
      { name: 'dir/x.sh', data: 'echo x\n'.repeat(100), mode: 0o750 },
      { name: 'y.txt', data: 'why' },
      { name: 'e', data: '' },
    ], { mtime: new Date(2024, 4, 6, 7, 8, 10) }));
    const out = execFileSync('unzip', ['-t', zipPath], { encoding: 'utf8' });
    assert.match(out, /No errors detected/);
    const x = join(d, 'x');
    execFileSync('unzip', ['-q', zipPath, '-d', x]);
    assert.equal(readFileSync(join(x, 'dir/x.sh'), 'utf8'), 'echo x\n'.repeat(100));
    assert.equal(statSync(join(x, 'dir/x.sh')).mode & 0o777, 0o750);
    assert.equal(readFileSync(join(x, 'y.txt'), 'utf8'), 'why');
    const listing = execFileSync('unzip', ['-l', zipPath], { encoding: 'utf8' });
    assert.match(listing, /2024-05-06 07:08/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('archives made by Info-ZIP zip are read and extracted correctly (plain, -fz ZIP64, stdin streaming)', async () => {
  const d = tmp();
  try {
    const src = join(d, 'src');
    mkdirSync(join(src, 'sub/deeper'), { recursive: true });
    writeFileSync(join(src, 'HandlerManifest.json'), '[{"name":"x"}]');
    writeFileSync(join(src, 'sub/deeper/tool'), 'A'.repeat(100000));
    chmodSync(join(src, 'sub/deeper/tool'), 0o700);
    writeFileSync(join(src, 'empty'), '');
    for (const flags of [[], ['-fz']]) {
      const zipPath = join(d, `p${flags.length}.zip`);
      execFileSync('zip', ['-q', '-r', ...flags, zipPath, '.'], { cwd: src });
      const entries = readZip(zipPath);
      const byPath = new Map(entries.map((e) => [e.path, e]));
      assert.equal(byPath.get('HandlerManifest.json')!.data.toString(), '[{"name":"x"}]');
      assert.equal(byPath.get('sub/deeper/tool')!.data.length, 100000);
      assert.equal(byPath.get('sub/deeper/tool')!.mode, 0o700);
      assert.equal(byPath.get('sub')!.isDir, true);
      const dest = join(d, `out${flags.length}`);
      await extractZip(zipPath, dest);
      assert.equal(readFileSync(join(dest, 'sub/deeper/tool'), 'utf8'), 'A'.repeat(100000));
      assert.equal(statSync(join(dest, 'sub/deeper/tool')).mode & 0o777, 0o700);
      assert.equal(readFileSync(join(dest, 'empty'), 'utf8'), '');
    }
    // zip reading stdin writes data descriptors and ZIP64 extras: still readable.
    const streamed = execFileSync('zip', ['-q', '-', '-'], { input: 'streamed data\n' });
    const e = readZip(streamed);
    assert.equal(e.length, 1);
    assert.equal(e[0]!.data.toString(), 'streamed data\n');
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('extractZip writes the tree with modes, no setuid bits, and leaves no temp dir', async () => {
  const d = tmp();
  try {
    const zipPath = join(d, 'p.zip');
    writeFileSync(zipPath, createZip([
      { name: 'a/b/c.txt', data: 'c' },
      { name: 'suid', data: 'x', mode: 0o4755 },
      { name: 'plain', data: 'p' },
    ]));
    const dest = join(d, 'Handler-1.0');
    const paths = await extractZip(zipPath, dest);
    assert.deepEqual(paths, ['a/b/c.txt', 'suid', 'plain']);
    assert.equal(readFileSync(join(dest, 'a/b/c.txt'), 'utf8'), 'c');
    assert.equal(statSync(join(dest, 'suid')).mode & 0o7777, 0o755);
    assert.equal(statSync(join(dest, 'plain')).mode & 0o777, 0o644);
    assert.equal(statSync(dest).mode & 0o777, 0o755);
    assert.deepEqual(readdirSync(d).sort(), ['Handler-1.0', 'p.zip']);
    await assert.rejects(() => extractZip(zipPath, dest), /destination already exists/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

// --- hostile archives -------------------------------------------------------------------------------

async function expectRefused(zip: Buffer, re: RegExp, limits = {}): Promise<void> {
  const d = tmp();
  try {
    const zipPath = join(d, 'evil.zip');
    writeFileSync(zipPath, zip);
    const dest = join(d, 'sub', 'dest');
    mkdirSync(join(d, 'sub'));
    await assert.rejects(() => extractZip(zipPath, dest, limits), (e: unknown) => {
      assert.ok(e instanceof ZipError, String(e));
      assert.match(e.message, re);
      assert.ok(e.message.includes(zipPath), `message names the archive: ${e.message}`);
      return true;
    });
    // Nothing written: neither the destination, nor a temp dir, nor anything outside.
    assert.deepEqual(readdirSync(join(d, 'sub')), []);
    assert.deepEqual(readdirSync(d).sort(), ['evil.zip', 'sub']);
  } finally { rmSync(d, { recursive: true, force: true }); }
}

test('refuses .. components, absolute paths, drive letters, backslashes, control chars', async () => {
  const ok = { name: 'good.txt', data: 'fine' };
  await expectRefused(createZip([ok, { name: '../evil.txt', data: 'x' }]), /entry "\.\.\/evil\.txt": refused: "\.\." component/);
  await expectRefused(createZip([ok, { name: 'a/../../evil.txt', data: 'x' }]), /"\.\." component/);
  await expectRefused(createZip([ok, { name: 'a/..', data: 'x' }]), /"\.\." component/);
  await expectRefused(createZip([ok, { name: '/etc/evil', data: 'x' }]), /absolute path/);
  await expectRefused(createZip([ok, { name: 'C:/evil', data: 'x' }]), /drive letter/);
  await expectRefused(createZip([ok, { name: '..\\evil.txt', data: 'x' }]), /backslash/);
  await expectRefused(createZip([ok, { name: 'a\nb', data: 'x' }]), /control character/);
  await expectRefused(createZip([ok, { name: './', data: '' }]), /no path component/);
});

test('special file types (fifo, socket) are extracted as plain regular files', async () => {
  const d = tmp();
  try {
    writeFileSync(join(d, 'p.zip'), createZip([{ name: 'fifo', data: 'data', mode: 0o010644 }, { name: 'sock', data: 's', mode: 0o140755 }]));
    await extractZip(join(d, 'p.zip'), join(d, 'out'));
    assert.ok(statSync(join(d, 'out/fifo')).isFile());
    assert.equal(readFileSync(join(d, 'out/fifo'), 'utf8'), 'data');
    assert.equal(statSync(join(d, 'out/sock')).mode & 0o777, 0o755);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('refuses every symlink entry (escaping or not)', async () => {
  await expectRefused(createZip([{ name: 'link', data: '/etc/passwd', mode: 0o120777 }]), /entry "link": refused: symbolic link/);
  await expectRefused(createZip([{ name: 'inside', data: 'x' }, { name: 'link', data: 'inside', mode: 0o120777 }]), /symbolic link/);
  // Info-ZIP's zip -y stores symlinks as links.
  const d = tmp();
  try {
    symlinkSync('/etc/passwd', join(d, 'pw'));
    execFileSync('zip', ['-q', '-y', join(d, 'l.zip'), 'pw'], { cwd: d });
    assert.throws(() => readZip(join(d, 'l.zip')), /symbolic link/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('refuses duplicate names, including after normalisation and file/dir clashes', async () => {
  await expectRefused(createZip([{ name: 'a', data: '1' }, { name: 'a', data: '2' }]), /duplicate/);
  await expectRefused(createZip([{ name: 'a/b', data: '1' }, { name: 'a/./b', data: '2' }]), /duplicate/);
  await expectRefused(createZip([{ name: 'a', data: '1' }, { name: 'a/', data: '' }]), /duplicate/);
  // A file and a directory path through it: refused at extraction, nothing left behind.
  await expectRefused(createZip([{ name: 'a', data: '1' }, { name: 'a/b', data: '2' }]), /entry "a\/b": cannot extract/);
});

test('refuses oversize entries and totals (declared sizes) and too many entries', async () => {
  const big = createZip([{ name: 'big', data: Buffer.alloc(5000) }, { name: 'big2', data: Buffer.alloc(5000) }]);
  await expectRefused(big, /entry "big": declared size 5000 exceeds the per-entry limit 4000/, { maxEntryBytes: 4000 });
  await expectRefused(big, /entry "big2": declared total size exceeds the limit 8000/, { maxTotalBytes: 8000 });
  const many = createZip(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
  await expectRefused(many, /too many entries: 11, limit 10/, { maxEntries: 10 });
  await expectRefused(many, /archive is \d+ bytes, limit 100/, { maxArchiveBytes: 100 });
});

test('zip bomb with a lying declared size: inflation stops at the declared size', async () => {
  const zip = createZip([{ name: 'bomb', data: Buffer.alloc(1 << 20) }]); // 1 MiB of zeros, ~1 KiB compressed
  const c = findCentral(zip);
  zip.writeUInt32LE(100, c + 24); // central: uncompressed size 100
  zip.writeUInt32LE(100, 22); // local header too
  await expectRefused(zip, /entry "bomb": inflated data exceeds the declared size 100/);
});

test('declared size larger than the real data is refused', async () => {
  const zip = createZip([{ name: 'f', data: 'short text here' }]);
  const c = findCentral(zip);
  zip.writeUInt32LE(50, c + 24);
  await expectRefused(zip, /entry "f": inflated size 15 differs from the declared size 50/);
});

test('overlapping entries (quoted-overlap bomb construction) are refused', async () => {
  const zip = createZip([{ name: 'a', data: 'A'.repeat(100) }, { name: 'b', data: 'B'.repeat(100) }]);
  const c0 = findCentral(zip, 0);
  const c1 = findCentral(zip, 1);
  // Point b's central record at a's local header (same data counted twice).
  zip.writeUInt32LE(zip.readUInt32LE(c0 + 42), c1 + 42);
  await expectRefused(zip, /overlaps another entry/);
});

test('CRC mismatch, corrupt deflate data, truncated archives, not a zip, encrypted, unknown method', async () => {
  const good = createZip([{ name: 'f.txt', data: 'hello hello hello hello' }]);
  const crcBad = Buffer.from(good);
  crcBad.writeUInt32LE((crcBad.readUInt32LE(findCentral(crcBad) + 16) ^ 1) >>> 0, findCentral(crcBad) + 16);
  await expectRefused(crcBad, /entry "f\.txt": CRC-32 mismatch/);

  const stored = createZip([{ name: 's.txt', data: 'stored data', store: true }]);
  stored[30 + 's.txt'.length] = 'X'.charCodeAt(0); // flip first data byte
  await expectRefused(stored, /CRC-32 mismatch/);

  const corrupt = Buffer.from(good);
  corrupt.fill(0xff, 30 + 5, 30 + 5 + 4);
  await expectRefused(corrupt, /entry "f\.txt": (corrupt compressed data|CRC-32|inflated)/);

  await expectRefused(good.subarray(0, good.length - 30), /truncated/);
  await expectRefused(good.subarray(0, 40), /truncated/);
  await expectRefused(Buffer.from('this is not a zip archive at all, just text'), /not a zip archive/);
  await expectRefused(Buffer.alloc(0), /not a zip archive/);

  const enc = Buffer.from(good);
  enc.writeUInt16LE(1, findCentral(enc) + 8);
  await expectRefused(enc, /encrypted/);
  const meth = Buffer.from(good);
  meth.writeUInt16LE(12, findCentral(meth) + 10);
  await expectRefused(meth, /unsupported compression method 12/);
});

test('a failure half way through extraction leaves nothing behind', async () => {
  const zip = createZip([
    { name: 'first/ok.txt', data: 'written before the failure' },
    { name: 'second.txt', data: 'will be corrupted' },
  ]);
  const c1 = findCentral(zip, 1);
  zip.writeUInt32LE((zip.readUInt32LE(c1 + 16) ^ 0xff) >>> 0, c1 + 16);
  await expectRefused(zip, /entry "second\.txt": CRC-32 mismatch/);
});

test('error messages escape hostile names and never exceed a bounded length', async () => {
  const name = '../' + 'A'.repeat(5000) + '\u001b[31m';
  try {
    readZip(createZip([{ name, data: 'x' }]));
    assert.fail('should throw');
  } catch (e) {
    assert.ok(e instanceof ZipError);
    assert.ok(e.message.length < 400, `message length ${e.message.length}`);
    assert.ok(!e.message.includes('\u001b'));
  }
});

test('openZip lists entries without inflating; reading a missing file is a ZipError', async () => {
  const z = openZip(createZip([{ name: 'x', data: 'y'.repeat(1000) }]));
  assert.equal(z.entries[0]!.size, 1000);
  assert.ok(z.entries[0]!.compressedSize < 1000);
  assert.throws(() => openZip('/nonexistent/file.zip'), (e: unknown) => e instanceof ZipError && /cannot read/.test(e.message));
  assert.equal(existsSync('/nonexistent'), false);
});

test('streaming extraction: entries spanning many read chunks (stored and deflated, random and repetitive) come out byte-exact; damage deep inside is still caught', async () => {
  const { randomBytes } = await import('node:crypto');
  const d = tmp();
  try {
    const rnd = randomBytes(700_000);
    const rep = Buffer.alloc(3_000_000, 'abc');
    const zip = createZip([
      { name: 'rnd.bin', data: rnd },
      { name: 'rnd-stored.bin', data: rnd, store: true },
      { name: 'rep.txt', data: rep },
    ]);
    writeFileSync(join(d, 'p.zip'), zip);
    await extractZip(join(d, 'p.zip'), join(d, 'out'));
    assert.deepEqual(readFileSync(join(d, 'out/rnd.bin')), rnd);
    assert.deepEqual(readFileSync(join(d, 'out/rnd-stored.bin')), rnd);
    assert.deepEqual(readFileSync(join(d, 'out/rep.txt')), rep);
    // One byte changed 600 KB into the stored copy (not in the first chunks): CRC mismatch.
    const e1 = openZip(zip).entries[1]!;
    const bad = Buffer.from(zip);
    bad[e1.dataOffset + 600_000] ^= 1;
    await expectRefused(bad, /entry "rnd-stored\.bin": CRC-32 mismatch/);
    // Deflate data cut inside the stream (sizes in the headers made to match the cut).
    const e0 = openZip(zip).entries[0]!;
    const cut = Buffer.from(zip);
    cut.fill(0, e0.dataOffset + 400_000, e0.dataOffset + 400_100);
    await expectRefused(cut, /entry "rnd\.bin": (corrupt compressed data|CRC-32 mismatch|inflated size)/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
