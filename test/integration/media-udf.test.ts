import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bufferSource, MediaError, openSource, type ByteSource } from '../../src/os/media/source.ts';
import { looksLikeUdf, readUdfFile, UdfVolume } from '../../src/os/media/udf.ts';
import { makeUdfImage, refreshTag, writeUdfImage, type UdfImageOptions } from '../helpers/udf-image.ts';

const tmp = mkdtempSync(join(tmpdir(), 'media-udf-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const OVF = '<?xml version="1.0"?>\n<Environment>ovf – ünïcode</Environment>\n';
const FILES = {
  'ovf-env.xml': OVF,
  'sub/dir/big.bin': Buffer.alloc(70_000, 7),
  'Ünï Cödé.txt': 'x',
};

async function mediaError(p: Promise<unknown>, re: RegExp): Promise<MediaError> {
  try { await p; } catch (e) {
    assert.ok(e instanceof MediaError, `expected MediaError, got ${String(e)}`);
    assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected a MediaError matching ${re}`);
}

const VARIANTS: [string, UdfImageOptions][] = [
  ['UDF 1.02, 2048, short_ad', {}],
  ['UDF 1.02, 512-byte sectors, long_ad', { blockSize: 512, allocation: 'long' }],
  ['UDF 2.01, extended file entries, embedded data', { udfRevision: 0x0201, extendedFileEntries: true, allocation: 'embedded' }],
  ['UDF 1.50, 16-bit names, 4096 blocks', { udfRevision: 0x0150, unicodeNames: true, blockSize: 4096 }],
  ['UDF 2.50 metadata partition', { metadataPartition: true }],
  ['UDF 2.50 metadata partition, 512, embedded', { metadataPartition: true, blockSize: 512, allocation: 'embedded' }],
  ['fragmented data, descriptors in allocation extent descriptors', { fragmentBlocks: 2, adsInAed: true }],
  ['fragmented, long_ad in AEDs, metadata partition', { fragmentBlocks: 3, adsInAed: true, metadataPartition: true }],
];

for (const [label, opts] of VARIANTS) {
  test(`own writer (${label}): read back by our reader, checked by udfinfo and 7z`, async () => {
    const img = join(tmp, `w-${label.replace(/\W+/g, '_')}.img`);
    writeUdfImage(img, FILES, opts);
    const src = await openSource(img);
    try {
      const vol = await UdfVolume.open(src);
      assert.equal(vol.blockSize, opts.blockSize ?? 2048);
      assert.deepEqual((await vol.list('/')).map((e) => [e.name, e.isDir]).sort(), [['sub', true], ['ovf-env.xml', false], ['Ünï Cödé.txt', false]].sort());
      assert.equal((await vol.readFile('ovf-env.xml')).toString('utf8'), OVF);
      assert.equal((await vol.readFile('OVF-ENV.XML')).toString('utf8'), OVF, 'case-insensitive fallback');
      assert.deepEqual(await vol.readFile('/sub/dir/big.bin'), FILES['sub/dir/big.bin']);
      assert.equal((await vol.readFile('Ünï Cödé.txt')).toString(), 'x');
    } finally { await src.close(); }

    // udftools' own reader accepts the volume structures
    const info = execFileSync('udfinfo', [img], { encoding: 'utf8' });
    assert.match(info, /label=WAAGENT_TEST/);
    assert.match(info, /integrity=closed/);
    // an independent reader extracts the same bytes (7-Zip's UDF handler knows 512 and 2048-byte
    // sectors only, and does not follow allocation extent descriptors: those images it refuses)
    if (![512, 2048].includes(opts.blockSize ?? 2048) || opts.adsInAed) return;
    const listing = execFileSync('7z', ['l', img], { encoding: 'utf8' });
    assert.match(listing, /ovf-env\.xml/);
    assert.match(listing, /sub\/dir\/big\.bin/);
    const out = join(tmp, `x-${label.replace(/\W+/g, '_')}`);
    execFileSync('7z', ['x', '-y', `-o${out}`, img], { stdio: 'ignore' });
    assert.equal(readFileSync(join(out, 'ovf-env.xml'), 'utf8'), OVF);
    assert.deepEqual(readFileSync(join(out, 'sub/dir/big.bin')), FILES['sub/dir/big.bin']);
    assert.equal(readFileSync(join(out, 'Ünï Cödé.txt'), 'utf8'), 'x');
  });
}

test('genisoimage -udf (ISO9660+UDF bridge) is read through its UDF side', async () => {
  const dir = join(tmp, 'geniso-src');
  mkdirSync(join(dir, 'nested'), { recursive: true });
  writeFileSync(join(dir, 'ovf-env.xml'), OVF);
  writeFileSync(join(dir, 'nested', 'other-file.txt'), 'other');
  const img = join(tmp, 'geniso-udf.iso');
  execFileSync('genisoimage', ['-quiet', '-udf', '-V', 'OVFENV', '-o', img, dir]);
  const src = await openSource(img);
  try {
    assert.equal(await looksLikeUdf(src), true);
    assert.equal((await readUdfFile(src)).toString('utf8'), OVF);
    const vol = await UdfVolume.open(src);
    assert.equal((await vol.readFile('nested/other-file.txt')).toString(), 'other');
  } finally { await src.close(); }
});

test('mkudffs volumes (several revisions, sector sizes, sparable) open; a missing file is named', async () => {
  const cases: string[][] = [
    ['-r', '1.02', '-b', '2048'], ['-r', '1.50', '-b', '512'], ['-r', '2.01', '-b', '2048'],
    ['-r', '2.01', '-b', '512', '--noefe'], ['-m', 'cdrw'], ['--ad=long', '-b', '1024'],
  ];
  for (const args of cases) {
    const img = join(tmp, `mk${args.join('')}.img`);
    rmSync(img, { force: true });
    execFileSync('mkudffs', ['--new-file', '--label=MKUDF', ...args, img, '3000'], { stdio: 'ignore' });
    const src = await openSource(img);
    try {
      const vol = await UdfVolume.open(src);
      assert.equal(vol.volumeId, 'MKUDF', args.join(' '));
      assert.deepEqual(await vol.list(), []);
      await mediaError(vol.readFile('ovf-env.xml'), /root directory: no entry "ovf-env.xml" \(has: nothing\)/);
    } finally { await src.close(); }
  }
  // write-once media with a Virtual Allocation Table: refused clearly
  const vat = join(tmp, 'vat.img');
  execFileSync('mkudffs', ['--new-file', '-m', 'cdr', vat, '3000'], { stdio: 'ignore' });
  const src = await openSource(vat);
  try { await mediaError(UdfVolume.open(src), /partition map 1: virtual partitions/); } finally { await src.close(); }
});

test('not UDF at all: zeros, an ISO9660-only image', async () => {
  await mediaError(readUdfFile(bufferSource(Buffer.alloc(600 * 2048), 'zeros.img')), /zeros\.img: Volume Recognition Sequence: no NSR02\/NSR03/);
  await mediaError(readUdfFile(bufferSource(Buffer.alloc(1000), 'tiny.img')), /truncated medium/);
  const dir = join(tmp, 'iso-only');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'ovf-env.xml'), OVF);
  const iso = join(tmp, 'plain.iso');
  execFileSync('genisoimage', ['-quiet', '-o', iso, dir]);
  assert.equal(await looksLikeUdf(bufferSource(readFileSync(iso))), false);
});

test('corrupted images give errors naming the structure', async () => {
  const fresh = () => makeUdfImage(FILES);
  const { layout } = fresh();
  const bs = layout.blockSize;
  const icbAt = (p: string) => (layout.partitionStart + layout.metaStart + layout.icb[p]!) * bs;

  // bad tag checksum on the file's ICB
  let { image } = fresh();
  image[icbAt('ovf-env.xml') + 4]! ^= 0x55;
  await mediaError(readUdfFile(bufferSource(image, 'c1.img')), /c1\.img: \/ovf-env\.xml: bad descriptor tag checksum/);

  // bad CRC (body changed, tag left alone)
  ({ image } = fresh());
  image[icbAt('ovf-env.xml') + 60]! ^= 0x01;
  await mediaError(readUdfFile(bufferSource(image, 'c2.img')), /\/ovf-env\.xml: bad descriptor CRC/);

  // tag location that does not match where the descriptor is
  ({ image } = fresh());
  image.writeUInt32LE(99, icbAt('ovf-env.xml') + 12);
  refreshTag(image, icbAt('ovf-env.xml'));
  await mediaError(readUdfFile(bufferSource(image, 'c3.img')), /tag location 99 does not match/);

  // bad root directory tag
  ({ image } = fresh());
  image[icbAt('') + 4]! ^= 0xff;
  await mediaError(readUdfFile(bufferSource(image, 'c4.img')), /root directory: bad descriptor tag checksum/);

  // a damaged FID in the root directory
  ({ image } = fresh());
  image[layout.fidOffset['ovf-env.xml']! + 4]! ^= 0xff;
  await mediaError(readUdfFile(bufferSource(image, 'c5.img')), /root directory file identifier at byte \d+: bad descriptor tag checksum/);

  // truncated in the middle of the partition
  ({ image } = fresh());
  await mediaError(readUdfFile(bufferSource(image.subarray(0, icbAt('ovf-env.xml') + 100), 'c6.img')), /truncated medium/);

  // no anchor anywhere
  ({ image } = fresh());
  image.fill(0, 256 * bs, 257 * bs);
  image.fill(0, image.length - bs);
  await mediaError(readUdfFile(bufferSource(image, 'c7.img')), /Anchor Volume Descriptor Pointer: no valid anchor/);

  // an information length pointing past the allocated data
  ({ image } = fresh());
  image.writeBigUInt64LE(5000n, icbAt('ovf-env.xml') + 56);
  refreshTag(image, icbAt('ovf-env.xml'));
  await mediaError(readUdfFile(bufferSource(image, 'c8.img')), /allocation descriptors cover 2048 of 5000 bytes|cover \d+ of 5000/);
});

test('redundancy is used: damaged main VDS falls back to the reserve, anchor 256 to the last sector', async () => {
  let { image, layout } = makeUdfImage(FILES);
  const bs = layout.blockSize;
  // LVD is the 4th descriptor of the main sequence
  image[(layout.mainVdsSector + 3) * bs + 100]! ^= 0xff;
  assert.equal((await readUdfFile(bufferSource(image))).toString(), OVF);
  image[(layout.mainVdsSector + 16 + 3) * bs + 100]! ^= 0xff; // and the reserve
  await mediaError(readUdfFile(bufferSource(image, 'vds.img')), /main Volume Descriptor Sequence \(sector \d+\): bad descriptor CRC/);

  ({ image, layout } = makeUdfImage(FILES));
  image.fill(0, 256 * bs, 257 * bs);
  assert.equal((await readUdfFile(bufferSource(image))).toString(), OVF);
});

test('metadata partition: a damaged metadata file falls back to its mirror; both damaged is named', async () => {
  const { image, layout } = makeUdfImage(FILES, { metadataPartition: true });
  const at = (lb: number) => (layout.partitionStart + lb) * layout.blockSize;
  image[at(layout.metadataFile!) + 4]! ^= 0x0f;
  assert.equal((await readUdfFile(bufferSource(image))).toString(), OVF);
  image[at(layout.metadataMirror!) + 4]! ^= 0x0f;
  await mediaError(readUdfFile(bufferSource(image, 'md.img')), /md\.img: metadata file: bad descriptor tag checksum/);
});

test('allocation extent descriptors: a chain that loops back is refused', async () => {
  const { image, layout } = makeUdfImage(FILES, { fragmentBlocks: 1, adsInAed: true });
  const bs = layout.blockSize;
  const aed = (layout.partitionStart + layout.aed['sub/dir/big.bin']!) * bs;
  // append a "next extent" descriptor pointing at this same AED
  const l = image.readUInt32LE(aed + 20);
  image.writeUInt32LE(((3 << 30) | bs) >>> 0, aed + 24 + l);
  image.writeUInt32LE(layout.aed['sub/dir/big.bin']!, aed + 24 + l + 4);
  image.writeUInt32LE(l + 8, aed + 20);
  image.writeUInt16LE(24 + l + 8 - 16, aed + 10);
  refreshTag(image, aed);
  const vol = await UdfVolume.open(bufferSource(image, 'aed.img'));
  assert.equal((await vol.readFile('ovf-env.xml')).toString(), OVF);
  await mediaError(vol.readFile('sub/dir/big.bin'), /\/sub\/dir\/big\.bin: allocation extent descriptors form a loop/);
});

test('bounded: oversize file, directory loop, too many entries, depth', async () => {
  const { image } = makeUdfImage({ 'ovf-env.xml': Buffer.alloc((1 << 20) + 1, 0x41) });
  await mediaError(readUdfFile(bufferSource(image, 'big.img')), /\/ovf-env\.xml: is 1048577 bytes, over the limit of 1048576/);

  // sub/loop is the root directory again: walking through it must stop, not spin
  const looped = makeUdfImage({ 'sub/x': 'x', 'ovf-env.xml': OVF }, { links: [{ dir: 'sub', name: 'loop', target: '' }] }).image;
  const vol = await UdfVolume.open(bufferSource(looped, 'loop.img'));
  assert.equal((await vol.readFile('sub/x')).toString(), 'x');
  await mediaError(vol.readFile('sub/loop/ovf-env.xml'), /loop\.img: \/sub\/loop: directory loop/);
  await mediaError(vol.readFile('sub/loop/sub/loop/sub/loop/ovf-env.xml'), /directory loop/);

  const many: Record<string, string> = {};
  for (let i = 0; i < 50; i++) many[`f${i}`] = '';
  const v2 = await UdfVolume.open(bufferSource(makeUdfImage(many).image, 'many.img'), { maxEntries: 10 });
  await mediaError(v2.readFile('f1'), /more than 10 entries/);
  await mediaError(v2.readFile('a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q'), /deeper than 16/);
});

test('positioned reads only: reading ovf-env.xml touches a few KiB of a large image', async () => {
  const { image } = makeUdfImage({ 'ovf-env.xml': OVF, 'payload.bin': Buffer.alloc(3 << 20, 1) });
  const inner = bufferSource(image);
  let bytes = 0;
  const counting: ByteSource = { name: 'count', size: inner.size, read: (o, l, w) => { bytes += l; return inner.read(o, l, w); } };
  assert.equal((await readUdfFile(counting)).toString(), OVF);
  assert.ok(bytes < 64 * 1024, `read ${bytes} bytes`);
});

test('udf-image command line writes an image our reader and 7z read', async () => {
  const repo = join(fileURLToPath(import.meta.url), '..', '..', '..');
  const ovf = join(tmp, 'cli-ovf.xml');
  writeFileSync(ovf, OVF);
  const img = join(tmp, 'cli.udf');
  execFileSync(process.execPath, [join(repo, 'test/helpers/udf-image.ts'), img, `ovf-env.xml=${ovf}`, '--block-size=512']);
  const src = await openSource(img);
  try {
    const vol = await UdfVolume.open(src);
    assert.equal(vol.blockSize, 512);
    assert.equal((await vol.readFile('ovf-env.xml')).toString(), OVF);
  } finally { await src.close(); }
  assert.match(execFileSync('7z', ['l', img], { encoding: 'utf8' }), /ovf-env\.xml/);
  const bad = spawnSync(process.execPath, [join(repo, 'test/helpers/udf-image.ts'), img], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /usage/);
});
