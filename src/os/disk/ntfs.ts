// A minimal, read-only NTFS reader: enough to list which files a volume holds, so the agent can
// tell the NTFS temporary disk Azure delivers (only DATALOSS_WARNING_README.txt and System Volume
// Information) from an NTFS volume with someone's data. No NTFS tool is on minimal images and the
// kernel may lack ntfs3, so we read the Master File Table ourselves. Everything is bounded: a
// volume too large or too odd to verify is reported as such, and callers must not format it.
import { closeSync, openSync, readSync } from 'node:fs';
import { AgentError, errorText } from '../../util/errors.ts';

export interface NtfsEntry { record: number; parent: number; name: string; dir: boolean }

export type NtfsVerdict =
  | { kind: 'azure-temporary' }
  | { kind: 'has-data'; count: number; example: string }
  | { kind: 'unverifiable'; reason: string };

export interface NtfsLimits { maxRecords: number }
const DEFAULT_LIMITS: NtfsLimits = { maxRecords: 65_536 };

class NtfsFormatError extends AgentError { static override readonly errorName: string = 'NtfsFormatError'; }

const ROOT_RECORD = 5;
const EXTEND_RECORD = 11;
/** Records 0..15 are the NTFS metadata files ($MFT, $LogFile, $Bitmap, $Extend...). */
const FIRST_USER_RECORD = 16;
/**
 * What Azure leaves on a fresh temporary disk (compared case-insensitively, at the root only).
 * UNCONFIRMED beyond these two: the exact content of a fresh disk may vary; anything else makes the
 * volume "has-data" (not formatted — the safe side) and the log line names the file found.
 */
const AZURE_ROOT_FILES = ['dataloss_warning_readme.txt'];
const AZURE_ROOT_DIRS = ['system volume information'];

interface Geometry { bytesPerSector: number; clusterSize: number; mftOffset: number; recordSize: number }

function parseBootSector(b: Buffer): Geometry {
  if (b.length < 512 || b.toString('latin1', 3, 11) !== 'NTFS    ') throw new NtfsFormatError('no NTFS boot sector');
  if (b.readUInt16LE(510) !== 0xaa55) throw new NtfsFormatError('boot sector without 55AA signature');
  const bytesPerSector = b.readUInt16LE(0x0b);
  if (![512, 1024, 2048, 4096].includes(bytesPerSector)) throw new NtfsFormatError(`bytes per sector ${bytesPerSector}`);
  const spc = b.readUInt8(0x0d);
  // Values above 0x80 encode large clusters as a negative power of two.
  const sectorsPerCluster = spc > 0x80 ? 2 ** (256 - spc) : spc;
  if (!sectorsPerCluster) throw new NtfsFormatError('sectors per cluster 0');
  const clusterSize = bytesPerSector * sectorsPerCluster;
  if (clusterSize > 2 << 20) throw new NtfsFormatError(`cluster size ${clusterSize}`);
  const mftLcn = Number(b.readBigUInt64LE(0x30));
  const cpr = b.readInt8(0x40);
  const recordSize = cpr < 0 ? 2 ** -cpr : cpr * clusterSize;
  if (recordSize < 512 || recordSize > 65536) throw new NtfsFormatError(`MFT record size ${recordSize}`);
  return { bytesPerSector, clusterSize, mftOffset: mftLcn * clusterSize, recordSize };
}

/** Undo the update-sequence fixups: the last two bytes of every 512-byte stride were swapped out. */
function applyFixups(rec: Buffer): boolean {
  const usaOffset = rec.readUInt16LE(4);
  const usaCount = rec.readUInt16LE(6);
  if (usaCount < 1 || usaOffset + usaCount * 2 > rec.length || (usaCount - 1) * 512 > rec.length) return false;
  const usn = rec.readUInt16LE(usaOffset);
  for (let i = 1; i < usaCount; i++) {
    const end = i * 512 - 2;
    if (rec.readUInt16LE(end) !== usn) return false; // torn write: record unreliable
    rec.writeUInt16LE(rec.readUInt16LE(usaOffset + i * 2), end);
  }
  return true;
}

interface Attribute { type: number; nonResident: boolean; name: string; value?: Buffer; runs?: Buffer; realSize?: number }

function* attributes(rec: Buffer): Generator<Attribute> {
  let off = rec.readUInt16LE(0x14);
  const used = Math.min(rec.readUInt32LE(0x18), rec.length);
  for (let guard = 0; guard < 256 && off + 16 <= used; guard++) {
    const type = rec.readUInt32LE(off);
    if (type === 0xffffffff) return;
    const len = rec.readUInt32LE(off + 4);
    if (len < 16 || off + len > used) throw new NtfsFormatError('attribute length out of record');
    const nonResident = rec.readUInt8(off + 8) !== 0;
    const nameLen = rec.readUInt8(off + 9);
    const nameOff = rec.readUInt16LE(off + 10);
    const name = nameLen ? rec.toString('utf16le', off + nameOff, off + nameOff + nameLen * 2) : '';
    if (nonResident) {
      const runOff = rec.readUInt16LE(off + 0x20);
      yield { type, nonResident, name, runs: rec.subarray(off + runOff, off + len), realSize: Number(rec.readBigUInt64LE(off + 0x30)) };
    } else {
      const vlen = rec.readUInt32LE(off + 0x10);
      const voff = rec.readUInt16LE(off + 0x14);
      if (off + voff + vlen > off + len) throw new NtfsFormatError('resident value out of attribute');
      yield { type, nonResident, name, value: rec.subarray(off + voff, off + voff + vlen) };
    }
    off += len;
  }
}

interface Run { lcn: number | null; clusters: number }

function decodeRuns(runs: Buffer): Run[] {
  const out: Run[] = [];
  let pos = 0;
  let lcn = 0;
  while (pos < runs.length && runs[pos] !== 0 && out.length < 4096) {
    const h = runs[pos]!;
    const lenSize = h & 0x0f;
    const offSize = h >> 4;
    if (!lenSize || lenSize > 8 || offSize > 8 || pos + 1 + lenSize + offSize > runs.length) throw new NtfsFormatError('bad data run');
    const clusters = runs.readUIntLE(pos + 1, Math.min(lenSize, 6));
    if (offSize === 0) out.push({ lcn: null, clusters }); // sparse run
    else {
      lcn += offSize <= 6 ? runs.readIntLE(pos + 1 + lenSize, offSize) : Number(runs.readBigInt64LE(pos + 1 + lenSize));
      out.push({ lcn, clusters });
    }
    pos += 1 + lenSize + offSize;
  }
  return out;
}

/** The base record's $FILE_NAME (type 0x30): parent record and name, preferring the long name over DOS 8.3. */
function fileName(rec: Buffer): { parent: number; name: string } | null {
  let best: { parent: number; name: string; ns: number } | null = null;
  for (const a of attributes(rec)) {
    if (a.type !== 0x30 || !a.value || a.value.length < 0x42) continue;
    const parent = Number(a.value.readBigUInt64LE(0) & 0xffffffffffffn);
    const len = a.value.readUInt8(0x40);
    const ns = a.value.readUInt8(0x41);
    if (0x42 + len * 2 > a.value.length) throw new NtfsFormatError('file name out of attribute');
    const name = a.value.toString('utf16le', 0x42, 0x42 + len * 2);
    if (!best || (best.ns === 2 && ns !== 2)) best = { parent, name, ns };
  }
  return best && { parent: best.parent, name: best.name };
}

class Reader {
  private readonly fd: number;
  constructor(path: string) { this.fd = openSync(path, 'r'); }
  read(offset: number, length: number): Buffer {
    const b = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const n = readSync(this.fd, b, done, length - done, offset + done);
      if (n <= 0) throw new NtfsFormatError(`short read at ${offset + done}`);
      done += n;
    }
    return b;
  }
  close(): void { closeSync(this.fd); }
}

/** Lists every in-use base file record of the volume on `hostPath` (a partition or an image file). */
export function listNtfs(hostPath: string, limits: NtfsLimits = DEFAULT_LIMITS): NtfsEntry[] {
  const rd = new Reader(hostPath);
  try {
    const g = parseBootSector(rd.read(0, 512));
    const rec0 = rd.read(g.mftOffset, g.recordSize);
    if (rec0.toString('latin1', 0, 4) !== 'FILE' || !applyFixups(rec0)) throw new NtfsFormatError('$MFT record unreadable');
    const data = [...attributes(rec0)].find((a) => a.type === 0x80 && a.name === '' && a.nonResident);
    // A heavily fragmented $MFT keeps its $DATA in extension records: too odd to verify safely.
    if (!data?.runs || data.realSize === undefined) throw new NtfsFormatError('$MFT has no non-resident $DATA in record 0');
    const total = Math.floor(data.realSize / g.recordSize);
    if (total > limits.maxRecords) throw new NtfsFormatError(`MFT has ${total} records, more than the ${limits.maxRecords} checked`);
    const entries: NtfsEntry[] = [];
    let recNo = 0;
    for (const run of decodeRuns(data.runs)) {
      const bytes = run.clusters * g.clusterSize;
      const count = Math.min(Math.floor(bytes / g.recordSize), total - recNo);
      if (count <= 0) break;
      if (run.lcn === null) { recNo += count; continue; }
      const chunkRecords = Math.max(1, Math.floor((1 << 20) / g.recordSize));
      for (let i = 0; i < count; i += chunkRecords) {
        const n = Math.min(chunkRecords, count - i);
        const buf = rd.read(run.lcn * g.clusterSize + i * g.recordSize, n * g.recordSize);
        for (let j = 0; j < n; j++) {
          const rec = Buffer.from(buf.subarray(j * g.recordSize, (j + 1) * g.recordSize));
          const no = recNo + i + j;
          const sig = rec.toString('latin1', 0, 4);
          if (sig === 'BAAD') throw new NtfsFormatError(`MFT record ${no} is marked bad`);
          if (sig !== 'FILE') continue; // never-used record
          if (!applyFixups(rec)) throw new NtfsFormatError(`MFT record ${no} fails its update sequence check`);
          const flags = rec.readUInt16LE(0x16);
          if (!(flags & 0x01)) continue; // deleted / free
          if (rec.readBigUInt64LE(0x20) !== 0n) continue; // extension of another record
          const fn = fileName(rec);
          if (!fn) continue;
          entries.push({ record: no, parent: fn.parent, name: fn.name, dir: (flags & 0x02) !== 0 });
        }
      }
      recNo += count;
    }
    return entries;
  } finally {
    rd.close();
  }
}

/** Classifies a listing: only NTFS metadata plus what Azure itself puts there means "temporary disk". */
export function classifyNtfs(entries: NtfsEntry[]): NtfsVerdict {
  const byRecord = new Map(entries.map((e) => [e.record, e]));
  // Does `e` live below a record accepted as a whole subtree ($Extend, System Volume Information)?
  const allowedRoots = new Set<number>([EXTEND_RECORD]);
  for (const e of entries) {
    if (e.parent === ROOT_RECORD && e.dir && AZURE_ROOT_DIRS.includes(e.name.toLowerCase())) allowedRoots.add(e.record);
  }
  const under = (e: NtfsEntry): boolean => {
    let cur: NtfsEntry | undefined = e;
    for (let depth = 0; cur && depth < 64; depth++) {
      if (allowedRoots.has(cur.parent)) return true;
      if (cur.parent === ROOT_RECORD || cur.parent === cur.record) return false;
      cur = byRecord.get(cur.parent);
    }
    return false;
  };
  const foreign: NtfsEntry[] = [];
  for (const e of entries) {
    if (e.record < FIRST_USER_RECORD || allowedRoots.has(e.record)) continue;
    if (e.parent === ROOT_RECORD && !e.dir && AZURE_ROOT_FILES.includes(e.name.toLowerCase())) continue;
    if (under(e)) continue;
    foreign.push(e);
  }
  if (foreign.length === 0) return { kind: 'azure-temporary' };
  return { kind: 'has-data', count: foreign.length, example: foreign[0]!.name.slice(0, 80) };
}

/** Reads and classifies; any parse problem or I/O error is "unverifiable" (so: do not format). */
export function inspectNtfs(hostPath: string, limits?: NtfsLimits): NtfsVerdict {
  try {
    return classifyNtfs(listNtfs(hostPath, limits));
  } catch (e) {
    return { kind: 'unverifiable', reason: errorText(e) };
  }
}
