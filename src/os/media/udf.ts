// A small user-space UDF reader (ECMA-167 / OSTA UDF 1.02–2.60), enough to read ovf-env.xml from
// Azure's provisioning DVD when the kernel cannot mount it (no udf module, no privilege). Read-only,
// positioned reads only, every descriptor we rely on has its tag checksum, CRC and location checked,
// and every walk is bounded (descriptor sequences, allocation descriptor chains, directory size and
// entries, path depth, directory loops).
//
// Supported: anchor at sector 256 (or the last / last-256 sector), block sizes 512–4096, type 1
// partition maps, sparable maps (read as type 1: the sparing table only matters for defective
// rewritable media, UNCONFIRMED to ever occur on a virtual DVD), metadata partitions (UDF 2.50+,
// with the mirror file as fallback), File Entry and Extended File Entry, short/long/extended
// allocation descriptors with continuation extents, and data embedded in the ICB. Not supported
// (clear error): virtual partitions (VAT, CD-R), ICB strategy 4096. Descriptor tags, strings, the
// recognition sequence and the anchor are in udfdesc.ts.
import { MediaError, type ByteSource } from './source.ts';
import { TAG, checkTag, checkVrs, decodeDchars, decodeDstring, findAnchor } from './udfdesc.ts';

export { checkTag, tagChecksum, udfCrc } from './udfdesc.ts';

export interface UdfLimits {
  /** Files larger than this are refused (ovf-env.xml is a few KiB). Default 1 MiB. */
  maxFileBytes?: number;
  /** Directory data larger than this is refused. Default 1 MiB. */
  maxDirBytes?: number;
  /** File identifiers per directory. Default 10 000. */
  maxEntries?: number;
  /** Path components. Default 16. */
  maxDepth?: number;
}

const DEFAULTS: Required<UdfLimits> = { maxFileBytes: 1 << 20, maxDirBytes: 1 << 20, maxEntries: 10_000, maxDepth: 16 };
const MAX_VDS_DESCRIPTORS = 64;
const MAX_AD_EXTENTS = 4096;
const MAX_AD_CONTINUATIONS = 64;

// ----------------------------------------------------------------------------------------------
// the volume

interface LbAddr { lb: number; part: number }
interface Extent { len: number; type: number; addr: LbAddr }

interface PartitionMap {
  kind: 'physical' | 'metadata';
  /** Partition number (PD.partitionNumber) this map reads from. */
  number: number;
  /** For metadata partitions: the metadata file's extents, in metadata block order. */
  runs?: { start: number; blocks: number; lb: number }[];
}

export interface UdfEntry { name: string; isDir: boolean; size: number }

interface FileEntry {
  fileType: number;
  size: number;
  adType: number;
  /** Allocation descriptors area, or the embedded data when adType = 3. */
  ads: Buffer;
  at: LbAddr;
}

export class UdfVolume {
  readonly src: ByteSource;
  readonly blockSize: number;
  private readonly partitions = new Map<number, { start: number; length: number }>();
  private readonly maps: PartitionMap[] = [];
  private rootIcb: LbAddr = { lb: 0, part: 0 };
  readonly limits: Required<UdfLimits>;
  volumeId = '';

  private constructor(src: ByteSource, blockSize: number, limits: Required<UdfLimits>) {
    this.src = src;
    this.blockSize = blockSize;
    this.limits = limits;
  }

  /** Reads the volume structures (VRS, anchor, volume descriptor sequence, file set). */
  static async open(src: ByteSource, limits: UdfLimits = {}): Promise<UdfVolume> {
    await checkVrs(src);
    const { blockSize, anchor } = await findAnchor(src);
    const vol = new UdfVolume(src, blockSize, { ...DEFAULTS, ...limits });
    const main = { len: anchor.readUInt32LE(16), loc: anchor.readUInt32LE(20) };
    const reserve = { len: anchor.readUInt32LE(24), loc: anchor.readUInt32LE(28) };
    let lvd: Buffer;
    try {
      lvd = await vol.readVds(main.loc, main.len, 'main');
    } catch (e) {
      // The reserve sequence exists exactly for a damaged main one.
      if (!(e instanceof MediaError) || reserve.len === 0) throw e;
      try { lvd = await vol.readVds(reserve.loc, reserve.len, 'reserve'); } catch { throw e; }
    }
    await vol.readFileSet(lvd);
    return vol;
  }

  private async readVds(loc: number, len: number, which: string): Promise<Buffer> {
    const bs = this.blockSize;
    const what = `${which} Volume Descriptor Sequence`;
    let lvd: { seq: number; buf: Buffer } | undefined;
    const pds = new Map<number, { seq: number; start: number; length: number }>();
    let pvdId = '';
    let count = 0;
    let hops = 0;
    let block = loc;
    let end = loc + Math.floor(len / bs);
    while (block < end) {
      if (++count > MAX_VDS_DESCRIPTORS) throw new MediaError(this.src.name, what, `more than ${MAX_VDS_DESCRIPTORS} descriptors`);
      const buf = await this.src.read(block * bs, bs, `${what} (sector ${block})`);
      if (buf.readUInt16LE(0) === 0 && buf.every((b) => b === 0)) break; // unrecorded: end of sequence
      const tag = checkTag(buf, 0, this.src.name, `${what} (sector ${block})`, { location: block });
      if (tag.id === TAG.TD) break;
      if (tag.id === TAG.VDP) {
        if (++hops > 8) throw new MediaError(this.src.name, what, 'too many Volume Descriptor Pointers');
        const nlen = buf.readUInt32LE(20), nloc = buf.readUInt32LE(24);
        block = nloc;
        end = nloc + Math.floor(nlen / bs);
        continue;
      }
      const seq = buf.readUInt32LE(16);
      if (tag.id === TAG.PVD) pvdId = decodeDstring(buf.subarray(24, 56), this.src.name);
      if (tag.id === TAG.PD) {
        const num = buf.readUInt16LE(22);
        const prev = pds.get(num);
        if (!prev || seq >= prev.seq) pds.set(num, { seq, start: buf.readUInt32LE(188), length: buf.readUInt32LE(192) });
      }
      if (tag.id === TAG.LVD && (!lvd || seq >= lvd.seq)) lvd = { seq, buf };
      block++;
    }
    if (!lvd) throw new MediaError(this.src.name, what, 'no Logical Volume Descriptor');
    if (pds.size === 0) throw new MediaError(this.src.name, what, 'no Partition Descriptor');
    for (const [n, p] of pds) this.partitions.set(n, { start: p.start, length: p.length });
    this.volumeId = pvdId;
    return lvd.buf;
  }

  private async readFileSet(lvd: Buffer): Promise<void> {
    const name = this.src.name;
    const lbs = lvd.readUInt32LE(212);
    if (lbs !== this.blockSize) {
      throw new MediaError(name, 'Logical Volume Descriptor', `logical block size ${lbs} differs from the sector size ${this.blockSize}`);
    }
    const mtl = lvd.readUInt32LE(264);
    const nMaps = lvd.readUInt32LE(268);
    if (nMaps < 1 || nMaps > 16 || 440 + mtl > lvd.length) {
      throw new MediaError(name, 'Logical Volume Descriptor', `bad partition map table (${nMaps} maps, ${mtl} bytes)`);
    }
    let off = 440;
    const metadata: { index: number; number: number; main: number; mirror: number }[] = [];
    for (let i = 0; i < nMaps; i++) {
      const type = lvd[off]!, mlen = lvd[off + 1]!;
      if (mlen < 6 || off + mlen > 440 + mtl) throw new MediaError(name, `partition map ${i}`, `bad length ${mlen}`);
      if (type === 1) {
        this.maps.push({ kind: 'physical', number: lvd.readUInt16LE(off + 4) });
      } else if (type === 2 && mlen >= 64) {
        const ident = lvd.subarray(off + 5, off + 28).toString('latin1').replace(/\0+$/, '');
        const number = lvd.readUInt16LE(off + 38);
        if (ident === '*UDF Sparable Partition') {
          this.maps.push({ kind: 'physical', number });
        } else if (ident === '*UDF Metadata Partition') {
          metadata.push({ index: i, number, main: lvd.readUInt32LE(off + 40), mirror: lvd.readUInt32LE(off + 44) });
          this.maps.push({ kind: 'metadata', number });
        } else if (ident === '*UDF Virtual Partition') {
          throw new MediaError(name, `partition map ${i}`, 'virtual partitions (VAT, write-once media) are not supported');
        } else {
          throw new MediaError(name, `partition map ${i}`, `unknown type 2 partition map ${JSON.stringify(ident)}`);
        }
      } else {
        throw new MediaError(name, `partition map ${i}`, `unknown partition map type ${type}`);
      }
      off += mlen;
    }
    for (const m of this.maps) {
      if (!this.partitions.has(m.number)) throw new MediaError(name, 'partition maps', `no Partition Descriptor for partition ${m.number}`);
    }
    for (const md of metadata) {
      const phys = this.maps.findIndex((m) => m.kind === 'physical' && m.number === md.number);
      if (phys < 0) throw new MediaError(name, 'metadata partition', `no physical map for partition ${md.number}`);
      let runs: PartitionMap['runs'];
      let firstErr: unknown;
      for (const loc of [md.main, md.mirror]) {
        try { runs = await this.metadataRuns({ lb: loc, part: phys }); break; } catch (e) { firstErr ??= e; }
      }
      if (!runs) throw firstErr;
      this.maps[md.index]!.runs = runs;
    }
    // Logical Volume Contents Use holds the long_ad of the File Set Descriptor.
    const fsdAt = { lb: lvd.readUInt32LE(252), part: lvd.readUInt16LE(256) };
    const fsd = await this.readBlock(fsdAt, 'File Set Descriptor');
    checkTag(fsd, 0, name, 'File Set Descriptor', { ids: [TAG.FSD], location: fsdAt.lb });
    this.rootIcb = { lb: fsd.readUInt32LE(404), part: fsd.readUInt16LE(408) };
    if (fsd.readUInt32LE(400) === 0) throw new MediaError(name, 'File Set Descriptor', 'no root directory ICB');
  }

  /** The metadata file (UDF 2.2.13) is a file in the physical partition whose data is the metadata partition. */
  private async metadataRuns(at: LbAddr): Promise<NonNullable<PartitionMap['runs']>> {
    const fe = await this.readFileEntry(at, 'metadata file');
    if (fe.fileType !== 250 && fe.fileType !== 251) {
      throw new MediaError(this.src.name, 'metadata file', `file type ${fe.fileType}, expected 250 or 251`);
    }
    if (fe.adType === 3) throw new MediaError(this.src.name, 'metadata file', 'embedded data is not allowed here');
    const runs: NonNullable<PartitionMap['runs']> = [];
    let start = 0;
    for (const x of await this.extents(fe, 'metadata file')) {
      const blocks = Math.ceil(x.len / this.blockSize);
      if (x.type === 0) runs.push({ start, blocks, lb: x.addr.lb });
      start += blocks;
    }
    return runs;
  }

  /** Absolute byte offset of a logical block, and how many blocks are contiguous from there. */
  private locate(a: LbAddr, what: string): { offset: number; blocks: number } {
    const map = this.maps[a.part];
    if (!map) throw new MediaError(this.src.name, what, `partition reference ${a.part} has no partition map`);
    if (map.kind === 'metadata') {
      const run = map.runs?.find((r) => a.lb >= r.start && a.lb < r.start + r.blocks);
      if (!run) throw new MediaError(this.src.name, what, `metadata block ${a.lb} is outside the metadata file`);
      const phys = this.maps.findIndex((m) => m.kind === 'physical' && m.number === map.number);
      const inner = this.locate({ lb: run.lb + (a.lb - run.start), part: phys }, what);
      return { offset: inner.offset, blocks: Math.min(inner.blocks, run.start + run.blocks - a.lb) };
    }
    const p = this.partitions.get(map.number)!;
    if (a.lb >= p.length) throw new MediaError(this.src.name, what, `block ${a.lb} is beyond the partition (length ${p.length})`);
    return { offset: (p.start + a.lb) * this.blockSize, blocks: p.length - a.lb };
  }

  private async readBlock(a: LbAddr, what: string): Promise<Buffer> {
    return this.src.read(this.locate(a, what).offset, this.blockSize, what);
  }

  /** Reads `len` bytes starting at a logical block, following the partition mapping. */
  private async readRun(a: LbAddr, len: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    let lb = a.lb;
    let left = len;
    while (left > 0) {
      const { offset, blocks } = this.locate({ lb, part: a.part }, what);
      const n = Math.min(left, blocks * this.blockSize);
      parts.push(await this.src.read(offset, n, what));
      left -= n;
      lb += Math.ceil(n / this.blockSize);
    }
    return Buffer.concat(parts);
  }

  private async readFileEntry(at: LbAddr, what: string): Promise<FileEntry> {
    const b = await this.readBlock(at, what);
    const tag = checkTag(b, 0, this.src.name, what, { ids: [TAG.FE, TAG.EFE, TAG.IE], location: at.lb });
    if (tag.id === TAG.IE) throw new MediaError(this.src.name, what, 'indirect entries (ICB strategy 4096) are not supported');
    const strategy = b.readUInt16LE(16 + 4);
    if (strategy !== 4) throw new MediaError(this.src.name, what, `ICB strategy ${strategy} is not supported`);
    const fileType = b[16 + 11]!;
    const adType = b.readUInt16LE(16 + 18) & 7;
    const efe = tag.id === TAG.EFE;
    const hdr = efe ? 216 : 176;
    const lEA = b.readUInt32LE(efe ? 208 : 168);
    const lAD = b.readUInt32LE(efe ? 212 : 172);
    if (hdr + lEA + lAD > this.blockSize) {
      throw new MediaError(this.src.name, what, `extended attributes (${lEA}) and allocation descriptors (${lAD}) overflow the block`);
    }
    const size64 = b.readBigUInt64LE(56);
    if (size64 > BigInt(Number.MAX_SAFE_INTEGER)) throw new MediaError(this.src.name, what, 'information length is absurd');
    if (adType > 3) throw new MediaError(this.src.name, what, `unknown allocation descriptor type ${adType}`);
    return { fileType, size: Number(size64), adType, ads: b.subarray(hdr + lEA, hdr + lEA + lAD), at };
  }

  /** The extents of a file, following continuation extents (bounded, loop-checked). */
  private async extents(fe: FileEntry, what: string): Promise<Extent[]> {
    const out: Extent[] = [];
    const seen = new Set<string>();
    let area = fe.ads;
    let hops = 0;
    const size = fe.adType === 0 ? 8 : fe.adType === 1 ? 16 : 20;
    for (;;) {
      let next: LbAddr | undefined;
      for (let off = 0; off + size <= area.length; off += size) {
        const raw = area.readUInt32LE(off);
        const len = raw & 0x3fffffff, type = raw >>> 30;
        if (len === 0) break;
        let addr: LbAddr;
        if (fe.adType === 0) addr = { lb: area.readUInt32LE(off + 4), part: fe.at.part };
        else if (fe.adType === 1) addr = { lb: area.readUInt32LE(off + 4), part: area.readUInt16LE(off + 8) };
        else addr = { lb: area.readUInt32LE(off + 12), part: area.readUInt16LE(off + 16) };
        if (type === 3) { next = addr; break; }
        if (out.length >= MAX_AD_EXTENTS) throw new MediaError(this.src.name, what, `more than ${MAX_AD_EXTENTS} extents`);
        out.push({ len, type, addr });
      }
      if (!next) return out;
      const key = `${next.part}:${next.lb}`;
      if (seen.has(key) || ++hops > MAX_AD_CONTINUATIONS) {
        throw new MediaError(this.src.name, what, 'allocation extent descriptors form a loop or a chain that is too long');
      }
      seen.add(key);
      const aed = await this.readBlock(next, `${what} allocation extent`);
      checkTag(aed, 0, this.src.name, `${what} allocation extent`, { ids: [TAG.AED], location: next.lb });
      const l = aed.readUInt32LE(20);
      if (24 + l > aed.length) throw new MediaError(this.src.name, `${what} allocation extent`, `length ${l} overflows the block`);
      area = aed.subarray(24, 24 + l);
    }
  }

  /** The bytes of a file or directory, refusing anything over `max`. */
  private async content(fe: FileEntry, max: number, what: string): Promise<Buffer> {
    if (fe.size > max) throw new MediaError(this.src.name, what, `is ${fe.size} bytes, over the limit of ${max}`);
    if (fe.adType === 3) {
      if (fe.size > fe.ads.length) throw new MediaError(this.src.name, what, `embedded data is ${fe.ads.length} bytes, the entry claims ${fe.size}`);
      return Buffer.from(fe.ads.subarray(0, fe.size));
    }
    const parts: Buffer[] = [];
    let have = 0;
    for (const x of await this.extents(fe, what)) {
      if (have >= fe.size) break;
      const n = Math.min(x.len, fe.size - have);
      parts.push(x.type === 0 ? await this.readRun(x.addr, n, what) : Buffer.alloc(n));
      have += n;
    }
    if (have < fe.size) throw new MediaError(this.src.name, what, `allocation descriptors cover ${have} of ${fe.size} bytes`);
    return Buffer.concat(parts);
  }

  private async directory(fe: FileEntry, what: string): Promise<{ name: string; isDir: boolean; icb: LbAddr }[]> {
    if (fe.fileType !== 4) throw new MediaError(this.src.name, what, `is not a directory (file type ${fe.fileType})`);
    const data = await this.content(fe, this.limits.maxDirBytes, what);
    const out: { name: string; isDir: boolean; icb: LbAddr }[] = [];
    let off = 0;
    while (off < data.length) {
      if (data.length - off < 38) {
        if (data.subarray(off).every((b) => b === 0)) break; // padding at the end
        throw new MediaError(this.src.name, `${what} file identifier at byte ${off}`, 'truncated');
      }
      const fidWhat = `${what} file identifier at byte ${off}`;
      checkTag(data, off, this.src.name, fidWhat, { ids: [TAG.FID] });
      const chars = data[off + 18]!;
      const lFI = data[off + 19]!;
      const lIU = data.readUInt16LE(off + 36);
      const total = (38 + lIU + lFI + 3) & ~3;
      if (off + 38 + lIU + lFI > data.length) throw new MediaError(this.src.name, fidWhat, 'identifier overflows the directory');
      const icb = { lb: data.readUInt32LE(off + 24), part: data.readUInt16LE(off + 28) };
      const isParent = (chars & 8) !== 0, deleted = (chars & 4) !== 0;
      if (!isParent && !deleted) {
        const name = decodeDchars(data.subarray(off + 38 + lIU, off + 38 + lIU + lFI), this.src.name, fidWhat);
        if (name) {
          if (out.length >= this.limits.maxEntries) throw new MediaError(this.src.name, what, `more than ${this.limits.maxEntries} entries`);
          out.push({ name, isDir: (chars & 2) !== 0, icb });
        }
      }
      off += total;
    }
    return out;
  }

  /** Walks a path from the root (exact name first, then case-insensitive), refusing loops. */
  private async lookup(path: string): Promise<{ fe: FileEntry; what: string }> {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length > this.limits.maxDepth) throw new MediaError(this.src.name, path, `deeper than ${this.limits.maxDepth} components`);
    let fe = await this.readFileEntry(this.rootIcb, 'root directory');
    let what = 'root directory';
    const seen = new Set<string>([`${fe.at.part}:${fe.at.lb}`]);
    for (const part of parts) {
      if (part === '..') throw new MediaError(this.src.name, path, '".." is not allowed');
      const entries = await this.directory(fe, what);
      const hit = entries.find((e) => e.name === part) ?? entries.find((e) => e.name.toLowerCase() === part.toLowerCase());
      if (!hit) {
        const names = entries.slice(0, 20).map((e) => e.name).join(', ');
        throw new MediaError(this.src.name, what, `no entry ${JSON.stringify(part)} (has: ${names || 'nothing'})`);
      }
      what = `${what === 'root directory' ? '' : what}/${hit.name}`;
      fe = await this.readFileEntry(hit.icb, what);
      if (fe.fileType === 4) {
        const key = `${fe.at.part}:${fe.at.lb}`;
        if (seen.has(key)) throw new MediaError(this.src.name, what, 'directory loop: this directory is its own ancestor');
        seen.add(key);
      }
    }
    return { fe, what };
  }

  async readFile(path: string): Promise<Buffer> {
    const { fe, what } = await this.lookup(path);
    if (fe.fileType === 4) throw new MediaError(this.src.name, what, 'is a directory');
    // 5 = regular file; 0 = unspecified, which some writers use for plain files.
    if (fe.fileType !== 5 && fe.fileType !== 0) throw new MediaError(this.src.name, what, `is not a regular file (file type ${fe.fileType})`);
    return this.content(fe, this.limits.maxFileBytes, what);
  }

  async list(path = '/'): Promise<UdfEntry[]> {
    const { fe, what } = await this.lookup(path);
    const out: UdfEntry[] = [];
    for (const e of await this.directory(fe, what)) {
      const child = await this.readFileEntry(e.icb, `${what}/${e.name}`);
      out.push({ name: e.name, isDir: child.fileType === 4, size: child.size });
    }
    return out;
  }
}

/** Reads one file (default ovf-env.xml at the root) from a UDF volume. */
export async function readUdfFile(src: ByteSource, path = 'ovf-env.xml', limits: UdfLimits = {}): Promise<Buffer> {
  const vol = await UdfVolume.open(src, limits);
  return vol.readFile(path);
}

/** Cheap check used for device probing: does the medium carry a UDF recognition sequence? */
export async function looksLikeUdf(src: ByteSource): Promise<boolean> {
  try { await checkVrs(src); return true; } catch { return false; }
}
