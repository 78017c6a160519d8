import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bufferSource, MediaError, openSource } from '../../src/os/media/source.ts';
import { IsoVolume, isoMangle, looksLikeIso9660, readIsoFile } from '../../src/os/media/iso9660.ts';
import { makeUdfImage } from '../helpers/udf-image.ts';

const tmp = mkdtempSync(join(tmpdir(), 'media-iso-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const OVF = '<?xml version="1.0"?>\n<Environment>iso – ünï</Environment>\n';

function tree(name: string, files: Record<string, string | Buffer>): string {
  const dir = join(tmp, name);
  for (const [p, c] of Object.entries(files)) {
    mkdirSync(join(dir, p, '..'), { recursive: true });
    writeFileSync(join(dir, p), c);
  }
  return dir;
}

function geniso(name: string, args: string[], files: Record<string, string | Buffer>): Buffer {
  const out = join(tmp, `${name}.iso`);
  execFileSync('genisoimage', ['-quiet', ...args, '-o', out, tree(name, files)]);
  return readFileSync(out);
}

async function mediaError(p: Promise<unknown>, re: RegExp): Promise<MediaError> {
  try { await p; } catch (e) {
    assert.ok(e instanceof MediaError, `expected MediaError, got ${String(e)}`);
    assert.match(e.message, re);
    return e;
  }
  assert.fail(`expected a MediaError matching ${re}`);
}

const FILES = { 'ovf-env.xml': OVF, 'sub/deeper/Long-Name.File.txt': 'deep' };

for (const [label, args] of [['plain', []], ['Joliet', ['-J']], ['Rock Ridge', ['-R']], ['Joliet+Rock Ridge', ['-J', '-R']]] as [string, string[]][]) {
  test(`genisoimage ${label}: ovf-env.xml is found and read`, async () => {
    const img = geniso(label.replace(/\W/g, ''), args, FILES);
    const src = bufferSource(img, `${label}.iso`);
    assert.equal(await looksLikeIso9660(src), true);
    assert.equal((await readIsoFile(src)).toString('utf8'), OVF);
    const vol = await IsoVolume.open(src);
    assert.equal((await vol.readFile('OVF-ENV.XML')).toString('utf8'), OVF, 'case-insensitive');
    const names = (await vol.list('/')).map((e) => e.name).sort();
    if (label === 'plain') assert.deepEqual(names, ['OVF_ENV.XML', 'SUB']);
    else assert.deepEqual(names, ['ovf-env.xml', 'sub']);
    if (label !== 'plain') assert.equal((await vol.readFile('sub/deeper/Long-Name.File.txt')).toString(), 'deep');
  });
}

test('a file recorded as OVF-ENV.XML;1 (upper case, as on some media) matches', async () => {
  // -allow-lowercase is off, but an upper-case source name with '-' kept by -relaxed-filenames
  const img = geniso('upper', ['-relaxed-filenames'], { 'OVF-ENV.XML': OVF });
  const vol = await IsoVolume.open(bufferSource(img));
  assert.deepEqual((await vol.list()).map((e) => e.name), ['OVF-ENV.XML']);
  assert.equal((await vol.readFile('ovf-env.xml')).toString(), OVF);
});

test('the ISO side of a genisoimage -udf bridge is readable too', async () => {
  const img = geniso('bridge', ['-udf', '-J'], FILES);
  assert.equal((await readIsoFile(bufferSource(img))).toString(), OVF);
});

test('open from a file with positioned reads', async () => {
  const path = join(tmp, 'Joliet.iso');
  const src = await openSource(path);
  try { assert.equal((await readIsoFile(src)).toString(), OVF); } finally { await src.close(); }
});

test('not ISO9660: zeros, a pure UDF image; missing file named', async () => {
  await mediaError(readIsoFile(bufferSource(Buffer.alloc(40 * 2048), 'z.img')), /z\.img: Primary Volume Descriptor: no CD001 signature/);
  const udf = makeUdfImage({ 'ovf-env.xml': OVF }).image;
  assert.equal(await looksLikeIso9660(bufferSource(udf)), false);
  await mediaError(readIsoFile(bufferSource(udf)), /not an ISO9660 volume/);
  const img = geniso('nofile', ['-J'], { 'other.txt': 'x' });
  await mediaError(readIsoFile(bufferSource(img, 'n.iso')), /n\.iso: root directory: no entry "ovf-env.xml"/);
});

/** Offset of the directory record named `name` in the root directory (not in the path table). */
function findRecord(img: Buffer, name: string): number {
  const rootAt = img.readUInt32LE(16 * 2048 + 156 + 2) * 2048;
  const i = img.indexOf(Buffer.from(name, 'latin1'), rootAt);
  assert.ok(i > 33, `${name} not in image`);
  return i - 33;
}

test('corrupted images give errors naming the structure', async () => {
  const base = geniso('corrupt', [], { 'ovf-env.xml': OVF, 'sub/x.txt': 'x' });

  // both-endian extent of the file disagrees
  let img = Buffer.from(base);
  let rec = findRecord(img, 'OVF_ENV.XML;1');
  img.writeUInt32BE(img.readUInt32BE(rec + 6) + 1, rec + 6);
  await mediaError(readIsoFile(bufferSource(img, 'c1.iso')), /c1\.iso: root directory: both-endian field at byte \d+ disagrees/);

  // record length running past the directory
  img = Buffer.from(base);
  rec = findRecord(img, 'OVF_ENV.XML;1');
  img[rec] = 20;
  await mediaError(readIsoFile(bufferSource(img, 'c2.iso')), /bad directory record length 20/);

  // truncated image: the file data is gone
  img = Buffer.from(base);
  rec = findRecord(img, 'OVF_ENV.XML;1');
  const fileAt = img.readUInt32LE(rec + 2) * 2048;
  await mediaError(readIsoFile(bufferSource(img.subarray(0, fileAt + 5), 'c3.iso')), /c3\.iso: \/OVF_ENV\.XML: truncated medium/);

  // a missing terminator: descriptors that stop having the signature
  img = Buffer.from(base);
  for (let s = 17; s < 20; s++) img.fill(0, s * 2048, (s + 1) * 2048);
  await mediaError(readIsoFile(bufferSource(img, 'c4.iso')), /volume descriptor 1 \(sector 17\): missing CD001/);
});

test('bounded: oversize file, directory loop, depth', async () => {
  const big = geniso('big', [], { 'ovf-env.xml': Buffer.alloc((1 << 20) + 10, 0x20) });
  await mediaError(readIsoFile(bufferSource(big, 'big.iso')), /is 1048586 bytes, over the limit of 1048576/);

  // make SUB's directory record point back at the root extent: a loop
  const img = geniso('loop', [], { 'ovf-env.xml': OVF, 'sub/x.txt': 'x' });
  const rootExtent = img.readUInt32LE(16 * 2048 + 156 + 2);
  const rec = findRecord(img, 'SUB');
  img.writeUInt32LE(rootExtent, rec + 2);
  img.writeUInt32BE(rootExtent, rec + 6);
  const vol = await IsoVolume.open(bufferSource(img, 'loop.iso'));
  await mediaError(vol.readFile('sub/sub/x.txt'), /loop\.iso: \/SUB: directory loop/);
  await mediaError(vol.readFile('a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q'), /deeper than 16/);
});

test('isoMangle', () => {
  assert.equal(isoMangle('ovf-env.xml'), 'OVF_ENV.XML');
});
