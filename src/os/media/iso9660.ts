// A small user-space ISO9660 reader (ECMA-119 with Joliet and Rock Ridge names) for provisioning
// media that cannot be mounted. Positioned reads only; both-endian fields are cross-checked, every
// walk is bounded (descriptors, directory size and entries, continuation areas, depth, loops).
//
// Name matching, in order: Rock Ridge NM names and Joliet names (exact, then case-insensitive), then
// plain ISO names with the ";1" version and a trailing "." removed, case-insensitively. As a last
// resort a plain ISO level-1 tree is searched for the name as mkisofs would have mangled it
// (`ovf-env.xml` is recorded as `OVF_ENV.XML;1`: '-' is not a d-character).
// Not supported (clear error): multi-extent and interleaved files. Rock Ridge directory relocation
// (RE/CL, only for trees deeper than 8 levels) is ignored: ovf-env.xml lives at the root.
import { MediaError, type ByteSource } from './source.ts';

export interface IsoLimits {
  maxFileBytes?: number;
  maxDirBytes?: number;
  maxEntries?: number;
  maxDepth?: number;
}

const DEFAULTS: Required<IsoLimits> = { maxFileBytes: 1 << 20, maxDirBytes: 1 << 20, maxEntries: 10_000, maxDepth: 16 };
const SECTOR = 2048;
const MAX_DESCRIPTORS = 64;
const MAX_CE_HOPS = 8;

export interface IsoEntry { name: string; isDir: boolean; size: number }

interface Rec {
  name: string;
  /** Plain ISO name as recorded (with version), for the mangled-name fallback. */
  isoName: string;
  isDir: boolean;
  extent: number;
  size: number;
  xar: number;
  flags: number;
  interleaved: boolean;
}

type Tree = 'rockridge' | 'joliet' | 'iso';

function bothEndian32(b: Buffer, off: number, src: string, what: string): number {
  const le = b.readUInt32LE(off), be = b.readUInt32BE(off + 4);
  if (le !== be) throw new MediaError(src, what, `both-endian field at byte ${off} disagrees (${le} vs ${be})`);
  return le;
}

function bothEndian16(b: Buffer, off: number, src: string, what: string): number {
  const le = b.readUInt16LE(off), be = b.readUInt16BE(off + 2);
  if (le !== be) throw new MediaError(src, what, `both-endian field at byte ${off} disagrees (${le} vs ${be})`);
  return le;
}

function ucs2be(b: Buffer): string {
  const le = Buffer.alloc(b.length & ~1);
  for (let i = 0; i + 1 < b.length; i += 2) { le[i] = b[i + 1]!; le[i + 1] = b[i]!; }
  return le.toString('utf16le');
}

function stripVersion(name: string): string {
  return name.replace(/;\d*$/, '').replace(/\.$/, '');
}

/** How mkisofs/genisoimage record a name in a plain level-1/2 tree: upper case, non d-chars as '_'. */
export function isoMangle(name: string): string {
  return name.toUpperCase().replace(/[^A-Z0-9_.]/g, '_');
}

export class IsoVolume {
  readonly src: ByteSource;
  readonly blockSize: number;
  readonly volumeId: string;
  readonly limits: Required<IsoLimits>;
  private readonly primaryRoot: Buffer;
  private readonly jolietRoot: Buffer | undefined;
  private rrSkip: number | undefined;

  private constructor(src: ByteSource, bs: number, volumeId: string, primary: Buffer, joliet: Buffer | undefined, limits: Required<IsoLimits>) {
    this.src = src;
    this.blockSize = bs;
    this.volumeId = volumeId;
    this.primaryRoot = primary;
    this.jolietRoot = joliet;
    this.limits = limits;
  }

  static async open(src: ByteSource, limits: IsoLimits = {}): Promise<IsoVolume> {
    let primary: Buffer | undefined;
    let joliet: Buffer | undefined;
    let bs = SECTOR;
    let volumeId = '';
    for (let i = 0; i < MAX_DESCRIPTORS; i++) {
      const what = `volume descriptor ${i} (sector ${16 + i})`;
      const d = await src.read((16 + i) * SECTOR, SECTOR, what);
      if (d.subarray(1, 6).toString('latin1') !== 'CD001') {
        if (i === 0) throw new MediaError(src.name, 'Primary Volume Descriptor', 'no CD001 signature at sector 16: not an ISO9660 volume');
        throw new MediaError(src.name, what, 'missing CD001 signature before the set terminator');
      }
      const type = d[0]!;
      if (type === 255) break;
      if (type === 1 && !primary) {
        bs = bothEndian16(d, 128, src.name, 'Primary Volume Descriptor');
        if (![512, 1024, 2048].includes(bs)) throw new MediaError(src.name, 'Primary Volume Descriptor', `unsupported logical block size ${bs}`);
        volumeId = d.subarray(40, 72).toString('latin1').trim();
        primary = Buffer.from(d.subarray(156, 190));
      }
      if (type === 2) {
        const esc = d.subarray(88, 120).toString('latin1');
        if (/%\/[@CE]/.test(esc) && !joliet) joliet = Buffer.from(d.subarray(156, 190));
      }
    }
    if (!primary) throw new MediaError(src.name, 'Primary Volume Descriptor', 'not found before the set terminator');
    return new IsoVolume(src, bs, volumeId, primary, joliet, { ...DEFAULTS, ...limits });
  }

  private parseRecord(b: Buffer, off: number, tree: Tree, what: string): Promise<Rec | null> | Rec | null {
    const len = b[off]!;
    if (len < 34 || off + len > b.length) throw new MediaError(this.src.name, what, `bad directory record length ${len} at byte ${off}`);
    const xar = b[off + 1]!;
    const extent = bothEndian32(b, off + 2, this.src.name, what);
    const size = bothEndian32(b, off + 10, this.src.name, what);
    const flags = b[off + 25]!;
    const interleaved = b[off + 26]! !== 0 || b[off + 27]! !== 0;
    const nlen = b[off + 32]!;
    if (33 + nlen > len) throw new MediaError(this.src.name, what, `file identifier overflows the record at byte ${off}`);
    const raw = b.subarray(off + 33, off + 33 + nlen);
    if (nlen === 1 && (raw[0] === 0 || raw[0] === 1)) return null; // '.' and '..'
    const isoName = tree === 'joliet' ? ucs2be(raw) : raw.toString('latin1');
    const rec: Rec = { name: stripVersion(isoName), isoName, isDir: (flags & 2) !== 0, extent, size, xar, flags, interleaved };
    if (tree !== 'rockridge') return rec;
    const suStart = 33 + nlen + (nlen % 2 === 0 ? 1 : 0) + (this.rrSkip ?? 0);
    return this.rockRidgeName(b.subarray(off + suStart, off + len), what).then((nm) => {
      if (nm !== undefined) rec.name = nm;
      return rec;
    });
  }

  /** NM entries of the SUSP area (following CE continuation areas, bounded). */
  private async rockRidgeName(area: Buffer, what: string): Promise<string | undefined> {
    let name: string | undefined;
    let cur = area;
    for (let hop = 0; hop <= MAX_CE_HOPS; hop++) {
      let ce: { block: number; off: number; len: number } | undefined;
      let off = 0;
      while (off + 4 <= cur.length) {
        const sig = cur.subarray(off, off + 2).toString('latin1');
        const len = cur[off + 2]!;
        if (len < 4 || off + len > cur.length) break;
        if (sig === 'NM' && len >= 5) {
          const flags = cur[off + 4]!;
          if (!(flags & 6)) name = (name ?? '') + cur.subarray(off + 5, off + len).toString('utf8');
        } else if (sig === 'CE' && len >= 28) {
          ce = { block: cur.readUInt32LE(off + 4), off: cur.readUInt32LE(off + 12), len: cur.readUInt32LE(off + 20) };
        } else if (sig === 'ST') {
          break;
        }
        off += len;
      }
      if (!ce) return name;
      if (ce.len > SECTOR || ce.off >= this.blockSize) {
        throw new MediaError(this.src.name, what, `Rock Ridge continuation area of ${ce.len} bytes is out of bounds`);
      }
      cur = await this.src.read(ce.block * this.blockSize + ce.off, ce.len, `${what} Rock Ridge continuation area`);
    }
    throw new MediaError(this.src.name, what, `more than ${MAX_CE_HOPS} Rock Ridge continuation areas`);
  }

  /** Whether the primary tree carries Rock Ridge (SUSP "SP" in the root's "." record). */
  private async detectRockRidge(): Promise<boolean> {
    const root = await this.rootOf('iso');
    const data = await this.src.read(root.extent * this.blockSize, Math.min(root.size, SECTOR), 'root directory');
    const len = data[0]!;
    const nlen = data[32]!;
    if (len < 34 || 33 + nlen > len) return false;
    const su = data.subarray(33 + nlen + (nlen % 2 === 0 ? 1 : 0), len);
    if (su.length >= 7 && su.subarray(0, 2).toString('latin1') === 'SP' && su[4] === 0xbe && su[5] === 0xef) {
      this.rrSkip = su[6]!;
      return true;
    }
    return false;
  }

  private async rootOf(tree: Tree): Promise<Rec> {
    const rec = tree === 'joliet' ? this.jolietRoot! : this.primaryRoot;
    const what = `${tree === 'joliet' ? 'Joliet' : 'primary'} root directory record`;
    const extent = bothEndian32(rec, 2, this.src.name, what);
    const size = bothEndian32(rec, 10, this.src.name, what);
    if (!(rec[25]! & 2)) throw new MediaError(this.src.name, what, 'is not a directory');
    return { name: '', isoName: '', isDir: true, extent, size, xar: rec[1]!, flags: rec[25]!, interleaved: false };
  }

  private async directory(dir: Rec, tree: Tree, what: string): Promise<Rec[]> {
    if (dir.size > this.limits.maxDirBytes) throw new MediaError(this.src.name, what, `directory is ${dir.size} bytes, over the limit of ${this.limits.maxDirBytes}`);
    const data = await this.src.read((dir.extent + dir.xar) * this.blockSize, dir.size, what);
    const out: Rec[] = [];
    let off = 0;
    while (off < data.length) {
      const len = data[off]!;
      if (len === 0) { off = (Math.floor(off / SECTOR) + 1) * SECTOR; continue; } // rest of the sector is padding
      if (Math.floor(off / SECTOR) !== Math.floor((off + len - 1) / SECTOR)) {
        throw new MediaError(this.src.name, what, `directory record at byte ${off} crosses a sector boundary`);
      }
      const rec = await this.parseRecord(data, off, tree, what);
      off += len;
      if (!rec || rec.flags & 4) continue; // dot entries, associated files
      if (out.length >= this.limits.maxEntries) throw new MediaError(this.src.name, what, `more than ${this.limits.maxEntries} entries`);
      out.push(rec);
    }
    return out;
  }

  private async lookupIn(tree: Tree, parts: string[], mangled: boolean): Promise<{ rec: Rec; what: string } | undefined> {
    let cur = await this.rootOf(tree);
    let what = 'root directory';
    const seen = new Set<number>([cur.extent]);
    for (const part of parts) {
      const entries = await this.directory(cur, tree, what);
      const want = mangled ? isoMangle(part) : part;
      const hit = entries.find((e) => e.name === want) ?? entries.find((e) => e.name.toLowerCase() === want.toLowerCase());
      if (!hit) return undefined;
      what = `${what === 'root directory' ? '' : what}/${hit.name}`;
      if (hit.isDir) {
        if (seen.has(hit.extent)) throw new MediaError(this.src.name, what, 'directory loop: this directory is its own ancestor');
        seen.add(hit.extent);
      }
      cur = hit;
    }
    return { rec: cur, what };
  }

  private async lookup(path: string): Promise<{ rec: Rec; what: string }> {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.length > this.limits.maxDepth) throw new MediaError(this.src.name, path, `deeper than ${this.limits.maxDepth} components`);
    if (parts.includes('..')) throw new MediaError(this.src.name, path, '".." is not allowed');
    const rr = this.rrSkip !== undefined || (await this.detectRockRidge());
    const order: [Tree, boolean][] = [];
    if (rr) order.push(['rockridge', false]);
    if (this.jolietRoot) order.push(['joliet', false]);
    order.push(['iso', false]);
    if (!rr) order.push(['iso', true]);
    for (const [tree, mangled] of order) {
      const hit = await this.lookupIn(tree, parts, mangled);
      if (hit) return hit;
    }
    throw new MediaError(this.src.name, 'root directory', `no entry ${JSON.stringify(path)} (searched ${order.map(([t, m]) => (m ? 'mangled ' : '') + t).join(', ')} names)`);
  }

  async readFile(path: string): Promise<Buffer> {
    const { rec, what } = await this.lookup(path);
    if (rec.isDir) throw new MediaError(this.src.name, what, 'is a directory');
    if (rec.flags & 0x80) throw new MediaError(this.src.name, what, 'multi-extent files are not supported');
    if (rec.interleaved) throw new MediaError(this.src.name, what, 'interleaved files are not supported');
    if (rec.size > this.limits.maxFileBytes) throw new MediaError(this.src.name, what, `is ${rec.size} bytes, over the limit of ${this.limits.maxFileBytes}`);
    return this.src.read((rec.extent + rec.xar) * this.blockSize, rec.size, what);
  }

  async list(path = '/'): Promise<IsoEntry[]> {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    const rr = this.rrSkip !== undefined || (await this.detectRockRidge());
    const tree: Tree = rr ? 'rockridge' : this.jolietRoot ? 'joliet' : 'iso';
    const hit = await this.lookupIn(tree, parts, false);
    if (!hit) throw new MediaError(this.src.name, path, 'no such directory');
    return (await this.directory(hit.rec, tree, hit.what)).map((r) => ({ name: r.name, isDir: r.isDir, size: r.size }));
  }
}

export async function readIsoFile(src: ByteSource, path = 'ovf-env.xml', limits: IsoLimits = {}): Promise<Buffer> {
  return (await IsoVolume.open(src, limits)).readFile(path);
}

export async function looksLikeIso9660(src: ByteSource): Promise<boolean> {
  try {
    return (await src.read(16 * SECTOR, 6, 'volume descriptor')).subarray(1, 6).toString('latin1') === 'CD001';
  } catch {
    return false;
  }
}
