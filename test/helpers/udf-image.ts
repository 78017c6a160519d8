// Test helper: writes a small, valid UDF image holding given files, like Azure's provisioning DVD
// (pure UDF, no ISO9660 bridge). mkudffs only makes an empty file system and this kernel cannot mount
// UDF to add files, so tests and the sandbox build their media with this. Independent readers (7z,
// udfinfo) accept the result; see test/integration/media-udf.test.ts.
//
// Layout (sector = logical block = blockSize):
//   32 KiB   Volume Recognition Sequence BEA01 / NSR02|NSR03 / TEA01 (2048-byte slots)
//   base     main Volume Descriptor Sequence: PVD, IUVD, PD, LVD, USD, TD
//   base+16  reserve Volume Descriptor Sequence (same)
//   base+32  Logical Volume Integrity Descriptor, TD
//   256      Anchor Volume Descriptor Pointer
//   257..    the partition: FSD, then one ICB per directory/file, then directory and file data
//   last     second Anchor Volume Descriptor Pointer
//
// Command line (for the sandbox and by hand):
//   scripts/node test/helpers/udf-image.ts OUT.img NAME=FILE... [--block-size=512] [--metadata] [--embedded]
// e.g. `... media.udf ovf-env.xml=/tmp/ovf-env.xml` makes a pure UDF DVD image holding that file.
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { tagChecksum, udfCrc } from '../../src/os/media/udf.ts';

export interface UdfImageOptions {
  /** 2048 (DVD) or 512 (disk images). */
  blockSize?: 512 | 1024 | 2048 | 4096;
  /** 0x0102 (default, like genisoimage), 0x0150, 0x0201. ≥ 0x0200 writes NSR03 and descriptor version 3. */
  udfRevision?: number;
  /** Extended File Entries (UDF 2.x) instead of File Entries. */
  extendedFileEntries?: boolean;
  /** How file/directory data is recorded: short_ad (default), long_ad, or embedded in the ICB when it fits. */
  allocation?: 'short' | 'long' | 'embedded';
  volumeId?: string;
  /** Extra directory entries pointing at existing nodes (e.g. a subdirectory that is the root: a loop). */
  links?: { dir: string; name: string; target: string }[];
  /** Names are written as 16-bit (UTF-16BE) identifiers instead of 8-bit. */
  unicodeNames?: boolean;
  /**
   * UDF 2.50 metadata partition (as Windows' IMAPI and newer writers make): FSD, ICBs and directories
   * live in the metadata file's extent, file data in the physical partition via long_ad. Implies
   * revision 2.50 and extended file entries.
   */
  metadataPartition?: boolean;
  /** Split recorded data into extents of at most this many blocks (one allocation descriptor each). */
  fragmentBlocks?: number;
  /** Put allocation descriptors in an Allocation Extent Descriptor block (continuation, type 3 AD). */
  adsInAed?: boolean;
}

export interface UdfImageLayout {
  blockSize: number;
  /** First sector of the partition: logical block n is at (partitionStart + n) * blockSize. */
  partitionStart: number;
  partitionLength: number;
  anchorSector: number;
  mainVdsSector: number;
  /**
   * Physical partition block where the metadata partition's block 0 is (0 without a metadata
   * partition): node ICB n is at sector partitionStart + metaStart + n.
   */
  metaStart: number;
  /** Physical partition blocks of the metadata file and its mirror (metadata partitions only). */
  metadataFile?: number;
  metadataMirror?: number;
  /** Block of each node's ICB in the partition holding the ICBs ('' is the root). */
  icb: Record<string, number>;
  /** Partition-relative first data block of each node (absent when embedded or empty). */
  data: Record<string, number>;
  /** Byte offset in the image of each node's FID in its parent directory (when not embedded). */
  fidOffset: Record<string, number>;
  /** Block (ICB space) of each node's Allocation Extent Descriptor, with `adsInAed`. */
  aed: Record<string, number>;
}

const OSTA = 'OSTA Compressed Unicode';
const DATE = { year: 2024, month: 1, day: 2, hour: 3, minute: 4, second: 5 };

function timestamp(b: Buffer, off: number): void {
  b.writeUInt16LE(0x1000, off); // type 1 (local time), UTC offset 0
  b.writeUInt16LE(DATE.year, off + 2);
  b[off + 4] = DATE.month; b[off + 5] = DATE.day; b[off + 6] = DATE.hour; b[off + 7] = DATE.minute; b[off + 8] = DATE.second;
}

function charspec(b: Buffer, off: number): void {
  b[off] = 0;
  b.write(OSTA, off + 1, 'latin1');
}

function regid(b: Buffer, off: number, ident: string, suffix?: Buffer): void {
  b[off] = 0;
  b.write(ident, off + 1, 'latin1');
  if (suffix) suffix.copy(b, off + 24);
}

function domainSuffix(rev: number): Buffer {
  const s = Buffer.alloc(8);
  s.writeUInt16LE(rev, 0);
  return s;
}

function dchars(name: string, unicode: boolean): Buffer {
  if (!unicode && /^[\x00-\xff]*$/.test(name)) return Buffer.concat([Buffer.from([8]), Buffer.from(name, 'latin1')]);
  const le = Buffer.from(name, 'utf16le');
  for (let i = 0; i < le.length; i += 2) { const t = le[i]!; le[i] = le[i + 1]!; le[i + 1] = t; }
  return Buffer.concat([Buffer.from([16]), le]);
}

function dstring(b: Buffer, off: number, len: number, s: string): void {
  const d = dchars(s, false).subarray(0, len - 1);
  d.copy(b, off);
  b[off + len - 1] = d.length;
}

/** Fills in a descriptor tag (CRC over `length - 16` bytes, then checksum). Exported for corruption tests. */
export function writeTag(b: Buffer, off: number, id: number, version: number, location: number, length: number): void {
  b.writeUInt16LE(id, off);
  b.writeUInt16LE(version, off + 2);
  b[off + 5] = 0;
  b.writeUInt16LE(1, off + 6); // serial number
  const crcLen = length - 16;
  b.writeUInt16LE(udfCrc(b.subarray(off + 16, off + 16 + crcLen)), off + 8);
  b.writeUInt16LE(crcLen, off + 10);
  b.writeUInt32LE(location, off + 12);
  b[off + 4] = tagChecksum(b.subarray(off, off + 16));
}

/** Recomputes CRC and checksum of an existing tag after a test changed the descriptor. */
export function refreshTag(b: Buffer, off: number): void {
  const crcLen = b.readUInt16LE(off + 10);
  b.writeUInt16LE(udfCrc(b.subarray(off + 16, off + 16 + crcLen)), off + 8);
  b[off + 4] = tagChecksum(b.subarray(off, off + 16));
}

interface Node {
  path: string;
  name: string;
  isDir: boolean;
  data: Buffer;
  children: Node[];
  parent?: Node;
  icb: number;
  dataBlock: number;
  embedded: boolean;
  extraLinks: { name: string; target: Node }[];
  aed?: number;
}

function fidLength(nameBytes: number): number {
  return (38 + nameBytes + 3) & ~3;
}

export function makeUdfImage(files: Record<string, string | Buffer>, opts: UdfImageOptions = {}): { image: Buffer; layout: UdfImageLayout } {
  const bs = opts.blockSize ?? 2048;
  const meta = opts.metadataPartition ?? false;
  const rev = meta ? 0x0250 : opts.udfRevision ?? 0x0102;
  const tagVer = rev >= 0x0200 ? 3 : 2;
  const efe = meta || (opts.extendedFileEntries ?? false);
  // Partition reference of ICBs/directories, and of file data.
  const icbRef = meta ? 1 : 0;
  const alloc = opts.allocation ?? 'short';
  const unicode = opts.unicodeNames ?? false;
  const feHeader = efe ? 216 : 176;

  // ---- tree
  const root: Node = { path: '', name: '', isDir: true, data: Buffer.alloc(0), children: [], icb: 0, dataBlock: 0, embedded: false, extraLinks: [] };
  const byPath = new Map<string, Node>([['', root]]);
  const dirFor = (p: string): Node => {
    const hit = byPath.get(p);
    if (hit) return hit;
    const i = p.lastIndexOf('/');
    const parent = dirFor(i < 0 ? '' : p.slice(0, i));
    const n: Node = { path: p, name: p.slice(i + 1), isDir: true, data: Buffer.alloc(0), children: [], parent, icb: 0, dataBlock: 0, embedded: false, extraLinks: [] };
    parent.children.push(n);
    byPath.set(p, n);
    return n;
  };
  for (const [p0, content] of Object.entries(files)) {
    const p = p0.replace(/^\/+/, '');
    const i = p.lastIndexOf('/');
    const parent = dirFor(i < 0 ? '' : p.slice(0, i));
    const n: Node = {
      path: p, name: p.slice(i + 1), isDir: false, data: Buffer.isBuffer(content) ? content : Buffer.from(content),
      children: [], parent, icb: 0, dataBlock: 0, embedded: false, extraLinks: [],
    };
    parent.children.push(n);
    byPath.set(p, n);
  }
  for (const l of opts.links ?? []) {
    const dir = byPath.get(l.dir), target = byPath.get(l.target);
    if (!dir || !target) throw new Error(`udf-image: bad link ${JSON.stringify(l)}`);
    dir.extraLinks.push({ name: l.name, target });
  }
  const nodes = [...byPath.values()];

  // ---- blocks: in the ICB space (the metadata partition, or the partition itself) 0 = FSD, then
  // ICBs, then directory data; file data follows (in the physical partition when `meta`).
  let next = 1;
  for (const n of nodes) {
    n.icb = next++;
    if (opts.adsInAed) n.aed = next++;
  }
  const dirSize = (n: Node) => fidLength(0) + [...n.children.map((c) => c.name), ...n.extraLinks.map((l) => l.name)]
    .reduce((s, name) => s + fidLength(dchars(name, unicode).length), 0);
  const place = (n: Node) => {
    const size = n.isDir ? dirSize(n) : n.data.length;
    n.embedded = alloc === 'embedded' && size <= bs - feHeader;
    if (!n.embedded && size > 0) { n.dataBlock = next; next += Math.ceil(size / bs); }
  };
  for (const n of nodes) if (n.isDir || !meta) place(n);
  // Physical layout with a metadata partition: 0 metadata file, 1 mirror, 2.. metadata blocks, then files.
  const metaStart = meta ? 2 : 0;
  const metaLen = meta ? next : 0;
  if (meta) {
    next = metaStart + metaLen;
    for (const n of nodes) if (!n.isDir) place(n);
  }
  const partLen = next;
  const base = Math.max(32, Math.ceil((32768 + 3 * 2048) / bs) + 4);
  const partStart = 257;
  const total = partStart + partLen + 1; // + the closing anchor
  const img = Buffer.alloc(total * bs);
  const sector = (s: number) => s * bs;
  const layout: UdfImageLayout = {
    blockSize: bs, partitionStart: partStart, partitionLength: partLen, anchorSector: 256, mainVdsSector: base,
    metaStart, icb: {}, data: {}, fidOffset: {}, aed: {},
  };
  if (meta) { layout.metadataFile = 0; layout.metadataMirror = 1; }

  // ---- Volume Recognition Sequence
  ['BEA01', rev >= 0x0200 ? 'NSR03' : 'NSR02', 'TEA01'].forEach((id, i) => {
    const o = 32768 + i * Math.max(2048, bs);
    img[o] = 0; img.write(id, o + 1, 'latin1'); img[o + 6] = 1;
  });

  // ---- Volume Descriptor Sequences
  const vds = (start: number) => {
    let s = start;
    const d = () => img.subarray(sector(s), sector(s) + bs);
    // Primary Volume Descriptor
    let b = d();
    b.writeUInt32LE(0, 16); b.writeUInt32LE(0, 20);
    dstring(b, 24, 32, opts.volumeId ?? 'WAAGENT_TEST');
    b.writeUInt16LE(1, 56); b.writeUInt16LE(1, 58); b.writeUInt16LE(2, 60); b.writeUInt16LE(2, 62);
    b.writeUInt32LE(1, 64); b.writeUInt32LE(1, 68);
    dstring(b, 72, 128, '0123456789abcdefWAAGENT_TEST');
    charspec(b, 200); charspec(b, 264);
    regid(b, 344, ''); timestamp(b, 376); regid(b, 388, '*waagent-sea test', domainSuffix(rev));
    writeTag(b, 0, 1, tagVer, s, 512);
    s++;
    // Implementation Use Volume Descriptor
    b = d();
    b.writeUInt32LE(1, 16);
    regid(b, 20, '*UDF LV Info', domainSuffix(rev));
    charspec(b, 52); dstring(b, 116, 128, opts.volumeId ?? 'WAAGENT_TEST');
    regid(b, 352, '*waagent-sea test');
    writeTag(b, 0, 4, tagVer, s, 512);
    s++;
    // Partition Descriptor
    b = d();
    b.writeUInt32LE(2, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(0, 22);
    regid(b, 24, rev >= 0x0200 ? '+NSR03' : '+NSR02');
    b.writeUInt32LE(1, 184); // read-only access
    b.writeUInt32LE(partStart, 188); b.writeUInt32LE(partLen, 192);
    regid(b, 196, '*waagent-sea test');
    writeTag(b, 0, 5, tagVer, s, 512);
    s++;
    // Logical Volume Descriptor with one type 1 partition map
    b = d();
    b.writeUInt32LE(3, 16);
    charspec(b, 20); dstring(b, 84, 128, opts.volumeId ?? 'WAAGENT_TEST');
    b.writeUInt32LE(bs, 212);
    regid(b, 216, '*OSTA UDF Compliant', domainSuffix(rev));
    b.writeUInt32LE(bs, 248); b.writeUInt32LE(0, 252); b.writeUInt16LE(icbRef, 256); // FSD long_ad
    b.writeUInt32LE(meta ? 70 : 6, 264); b.writeUInt32LE(meta ? 2 : 1, 268);
    regid(b, 272, '*waagent-sea test');
    b.writeUInt32LE(2 * bs, 432); b.writeUInt32LE(base + 32, 436); // integrity sequence
    b[440] = 1; b[441] = 6; b.writeUInt16LE(1, 442); b.writeUInt16LE(0, 444);
    if (meta) {
      // type 2 metadata partition map over partition 0 (UDF 2.50 2.2.10)
      const m = 446;
      b[m] = 2; b[m + 1] = 64;
      regid(b, m + 4, '*UDF Metadata Partition', domainSuffix(rev));
      b.writeUInt16LE(1, m + 36); b.writeUInt16LE(0, m + 38);
      b.writeUInt32LE(0, m + 40); b.writeUInt32LE(1, m + 44); b.writeUInt32LE(0xffffffff, m + 48);
      b.writeUInt32LE(32, m + 52); b.writeUInt16LE(1, m + 56);
    }
    writeTag(b, 0, 6, tagVer, s, meta ? 510 : 446);
    s++;
    // Unallocated Space Descriptor (none)
    b = d();
    b.writeUInt32LE(4, 16); b.writeUInt32LE(0, 20);
    writeTag(b, 0, 7, tagVer, s, 24);
    s++;
    // Terminating Descriptor
    writeTag(d(), 0, 8, tagVer, s, 512);
    return s - start + 1;
  };
  const vdsLen = vds(base);
  vds(base + 16);

  // ---- Logical Volume Integrity Descriptor (closed) + TD
  {
    const b = img.subarray(sector(base + 32), sector(base + 32) + bs);
    timestamp(b, 16);
    b.writeUInt32LE(1, 28); // close
    b.writeBigUInt64LE(BigInt(16 + nodes.length), 40); // next unique id
    b.writeUInt32LE(1, 72); b.writeUInt32LE(46, 76);
    b.writeUInt32LE(0, 80); b.writeUInt32LE(partLen, 84); // free space, size
    regid(b, 88, '*waagent-sea test', domainSuffix(rev));
    b.writeUInt32LE(nodes.filter((n) => !n.isDir).length, 120);
    b.writeUInt32LE(nodes.filter((n) => n.isDir).length, 124);
    b.writeUInt16LE(rev, 128); b.writeUInt16LE(rev, 130); b.writeUInt16LE(rev, 132);
    writeTag(b, 0, 9, tagVer, base + 32, 134);
    writeTag(img.subarray(sector(base + 33), sector(base + 33) + bs), 0, 8, tagVer, base + 33, 512);
  }

  // ---- anchors
  for (const s of [256, total - 1]) {
    const b = img.subarray(sector(s), sector(s) + bs);
    b.writeUInt32LE(vdsLen * bs, 16); b.writeUInt32LE(base, 20);
    b.writeUInt32LE(vdsLen * bs, 24); b.writeUInt32LE(base + 16, 28);
    writeTag(b, 0, 2, tagVer, s, 512);
  }

  // ---- partition contents
  // `block` addresses the ICB space, `phys` the physical partition.
  const phys = (lb: number) => img.subarray(sector(partStart + lb), sector(partStart + lb) + bs);
  const block = (lb: number) => phys(metaStart + lb);
  if (meta) {
    // metadata file (250) and its mirror (251): EFEs whose one short_ad is the metadata area
    for (const [lb, type] of [[0, 250], [1, 251]] as const) {
      const b = phys(lb);
      b.writeUInt16LE(4, 16 + 4); b.writeUInt16LE(1, 16 + 8); b[16 + 11] = type; b.writeUInt16LE(0, 16 + 18);
      b.writeBigUInt64LE(BigInt(metaLen * bs), 56); b.writeBigUInt64LE(BigInt(metaLen * bs), 64);
      b.writeBigUInt64LE(BigInt(metaLen), 72);
      timestamp(b, 80); timestamp(b, 92); timestamp(b, 104); timestamp(b, 116);
      regid(b, 168, '*waagent-sea test');
      b.writeUInt32LE(0, 208); b.writeUInt32LE(8, 212);
      b.writeUInt32LE(metaLen * bs, 216); b.writeUInt32LE(metaStart, 220);
      writeTag(b, 0, 266, tagVer, lb, 224);
    }
  }
  {
    const b = block(0);
    timestamp(b, 16);
    b.writeUInt16LE(3, 28); b.writeUInt16LE(3, 30); b.writeUInt32LE(1, 32); b.writeUInt32LE(1, 36);
    charspec(b, 48); dstring(b, 112, 128, opts.volumeId ?? 'WAAGENT_TEST');
    charspec(b, 240); dstring(b, 304, 32, 'WAAGENT_TEST');
    b.writeUInt32LE(bs, 400); b.writeUInt32LE(root.icb, 404); b.writeUInt16LE(icbRef, 408);
    regid(b, 416, '*OSTA UDF Compliant', domainSuffix(rev));
    writeTag(b, 0, 256, tagVer, 0, 512);
  }

  for (const n of nodes) {
    let content = n.data;
    const fidAt: { node: string; off: number }[] = [];
    if (n.isDir) {
      // FIDs: the parent entry first, then children, then extra links. tagLocation = the block the FID is in.
      const parts: Buffer[] = [];
      let pos = 0;
      const fid = (name: string, chars: number, target: Node, key?: string) => {
        const nb = name ? dchars(name, unicode) : Buffer.alloc(0);
        const len = fidLength(nb.length);
        const f = Buffer.alloc(len);
        f.writeUInt16LE(1, 16); f[18] = chars; f[19] = nb.length;
        f.writeUInt32LE(bs, 20); f.writeUInt32LE(target.icb, 24); f.writeUInt16LE(icbRef, 28);
        f.writeUInt16LE(0, 36);
        nb.copy(f, 38);
        const loc = n.embedded ? n.icb : n.dataBlock + Math.floor(pos / bs);
        writeTag(f, 0, 257, tagVer, loc, len);
        if (key !== undefined) fidAt.push({ node: key, off: pos });
        parts.push(f);
        pos += len;
      };
      fid('', 0x0a, n.parent ?? n);
      for (const c of n.children) fid(c.name, c.isDir ? 0x02 : 0x00, c, c.path);
      for (const l of n.extraLinks) fid(l.name, l.target.isDir ? 0x02 : 0x00, l.target);
      content = Buffer.concat(parts);
    }
    const b = block(n.icb);
    // ICB tag: strategy 4, one entry, file type, allocation type
    b.writeUInt16LE(4, 16 + 4); b.writeUInt16LE(1, 16 + 8);
    b[16 + 11] = n.isDir ? 4 : 5;
    // Files in a metadata-partition volume need long_ad: their data is in another partition.
    const long = alloc === 'long' || (meta && !n.isDir);
    const adType = n.embedded ? 3 : long ? 1 : 0;
    b.writeUInt16LE(adType, 16 + 18);
    b.writeUInt32LE(0, 36); b.writeUInt32LE(0, 40);
    b.writeUInt32LE(n.isDir ? 0x14a5 : 0x1084, 44); // r-x / r-- for everybody
    b.writeUInt16LE(n.isDir ? 1 + n.children.filter((c) => c.isDir).length : 1, 48);
    b.writeBigUInt64LE(BigInt(content.length), 56);
    const blocks = n.embedded ? 0 : Math.ceil(content.length / bs);
    let adOff: number;
    if (efe) {
      b.writeBigUInt64LE(BigInt(content.length), 64);
      b.writeBigUInt64LE(BigInt(blocks), 72);
      timestamp(b, 80); timestamp(b, 92); timestamp(b, 104); timestamp(b, 116);
      b.writeUInt32LE(1, 128);
      regid(b, 168, '*waagent-sea test');
      b.writeBigUInt64LE(BigInt(n === root ? 0 : 16 + n.icb), 200);
      adOff = 216;
    } else {
      b.writeBigUInt64LE(BigInt(blocks), 64);
      timestamp(b, 72); timestamp(b, 84); timestamp(b, 96);
      b.writeUInt32LE(1, 108);
      regid(b, 128, '*waagent-sea test');
      b.writeBigUInt64LE(BigInt(n === root ? 0 : 16 + n.icb), 160);
      adOff = 176;
    }
    let lAD = 0;
    if (n.embedded) {
      content.copy(b, adOff);
      lAD = content.length;
    } else if (content.length > 0) {
      const inMeta = meta && n.isDir;
      const size = long ? 16 : 8;
      const step = (opts.fragmentBlocks ?? Number.MAX_SAFE_INTEGER / bs) * bs;
      const ads: Buffer[] = [];
      for (let done = 0; done < content.length; done += step) {
        const ad = Buffer.alloc(size);
        ad.writeUInt32LE(Math.min(step, content.length - done), 0);
        ad.writeUInt32LE(n.dataBlock + done / bs, 4);
        if (long) ad.writeUInt16LE(inMeta ? icbRef : 0, 8);
        ads.push(ad);
      }
      let area = Buffer.concat(ads);
      if (n.aed !== undefined) {
        // All descriptors go to the AED; the ICB holds one type 3 ("next extent") descriptor to it.
        const a = block(n.aed);
        a.writeUInt32LE(n.icb, 16);
        a.writeUInt32LE(area.length, 20);
        area.copy(a, 24);
        writeTag(a, 0, 258, tagVer, n.aed, 24 + area.length);
        layout.aed[n.path] = n.aed;
        const next = Buffer.alloc(size);
        next.writeUInt32LE(((3 << 30) | bs) >>> 0, 0);
        next.writeUInt32LE(n.aed, 4);
        if (long) next.writeUInt16LE(icbRef, 8);
        area = next;
      }
      if (adOff + area.length > bs) throw new Error(`udf-image: ${n.path || '/'} needs ${area.length} bytes of allocation descriptors; use adsInAed`);
      area.copy(b, adOff);
      lAD = area.length;
      content.copy(img, sector(partStart + (inMeta ? metaStart : 0) + n.dataBlock));
      layout.data[n.path] = n.dataBlock;
    }
    b.writeUInt32LE(0, efe ? 208 : 168);
    b.writeUInt32LE(lAD, efe ? 212 : 172);
    writeTag(b, 0, efe ? 266 : 261, tagVer, n.icb, adOff + lAD);
    layout.icb[n.path] = n.icb;
    if (!n.embedded) for (const f of fidAt) layout.fidOffset[f.node] = sector(partStart + metaStart + n.dataBlock) + f.off;
  }
  return { image: img, layout };
}

export function writeUdfImage(path: string, files: Record<string, string | Buffer>, opts: UdfImageOptions = {}): UdfImageLayout {
  const { image, layout } = makeUdfImage(files, opts);
  writeFileSync(path, image);
  return layout;
}

function main(args: string[]): number {
  const files: Record<string, Buffer> = {};
  const opts: UdfImageOptions = {};
  let out: string | undefined;
  for (const a of args) {
    const bsMatch = /^--block-size=(\d+)$/.exec(a);
    if (bsMatch) opts.blockSize = Number(bsMatch[1]) as UdfImageOptions['blockSize'];
    else if (a === '--metadata') opts.metadataPartition = true;
    else if (a === '--embedded') opts.allocation = 'embedded';
    else if (!out) out = a;
    else {
      const i = a.indexOf('=');
      if (i <= 0) { process.stderr.write(`bad argument ${a}: want NAME=FILE\n`); return 2; }
      files[a.slice(0, i)] = readFileSync(a.slice(i + 1));
    }
  }
  if (!out || Object.keys(files).length === 0) {
    process.stderr.write('usage: udf-image.ts OUT.img NAME=FILE... [--block-size=512|1024|2048|4096] [--metadata] [--embedded]\n');
    return 2;
  }
  writeUdfImage(out, files, opts);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main(process.argv.slice(2));
