// UDF on-disk primitives (ECMA-167 / OSTA UDF) for the reader in udf.ts: descriptor tags with their
// checksum, CRC and location checks, OSTA compressed strings, the Volume Recognition Sequence and the
// Anchor Volume Descriptor Pointer. Every check names the medium and the structure that failed.
import { MediaError, type ByteSource } from './source.ts';
import { errorText } from '../../util/errors.ts';

// Tag identifiers (ECMA-167 3/7.2.1 and 4/7.2.1)
export const TAG = {
  PVD: 1, AVDP: 2, VDP: 3, IUVD: 4, PD: 5, LVD: 6, USD: 7, TD: 8, LVID: 9,
  FSD: 256, FID: 257, AED: 258, IE: 259, TE: 260, FE: 261, EAHD: 262, USE: 263, SBD: 264, PIE: 265, EFE: 266,
} as const;

// ----------------------------------------------------------------------------------------------
// descriptor tags

const CRC_TABLE = (() => {
  const t = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 8;
    for (let j = 0; j < 8; j++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff;
    t[i] = c;
  }
  return t;
})();

/** CRC-ITU-T (x^16 + x^12 + x^5 + 1, initial 0), as ECMA-167 1/7.2.6 defines the descriptor CRC. */
export function udfCrc(data: Uint8Array): number {
  let crc = 0;
  for (const b of data) crc = ((crc << 8) & 0xffff) ^ CRC_TABLE[((crc >> 8) ^ b) & 0xff]!;
  return crc;
}

/** Sum of the 16 tag bytes except byte 4 (the checksum itself), modulo 256. */
export function tagChecksum(tag: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < 16; i++) if (i !== 4) s += tag[i]!;
  return s & 0xff;
}

export interface Tag { id: number; version: number; crcLength: number; location: number }

/**
 * Validates the tag at `off` in `buf`: checksum always, identifier and location when expected,
 * CRC when its length fits in the bytes we hold (as the Linux driver does).
 */
export function checkTag(
  buf: Buffer, off: number, src: string, what: string,
  expect: { ids?: readonly number[]; location?: number } = {},
): Tag {
  if (buf.length < off + 16) throw new MediaError(src, what, 'descriptor tag is truncated');
  const id = buf.readUInt16LE(off);
  const sum = tagChecksum(buf.subarray(off, off + 16));
  if (sum !== buf[off + 4]) {
    throw new MediaError(src, what, `bad descriptor tag checksum (stored ${buf[off + 4]}, computed ${sum}; tag id ${id})`);
  }
  if (expect.ids && !expect.ids.includes(id)) {
    throw new MediaError(src, what, `unexpected descriptor tag ${id} (wanted ${expect.ids.join(' or ')})`);
  }
  const version = buf.readUInt16LE(off + 2);
  if (version !== 2 && version !== 3) throw new MediaError(src, what, `unsupported descriptor version ${version}`);
  const crcLength = buf.readUInt16LE(off + 10);
  const location = buf.readUInt32LE(off + 12);
  if (expect.location !== undefined && location !== expect.location) {
    throw new MediaError(src, what, `descriptor tag location ${location} does not match its position ${expect.location}`);
  }
  if (crcLength > 0 && off + 16 + crcLength <= buf.length) {
    const crc = udfCrc(buf.subarray(off + 16, off + 16 + crcLength));
    const stored = buf.readUInt16LE(off + 8);
    if (crc !== stored) throw new MediaError(src, what, `bad descriptor CRC (stored ${stored}, computed ${crc})`);
  }
  return { id, version, crcLength, location };
}

// ----------------------------------------------------------------------------------------------
// strings

/** OSTA Compressed Unicode (UDF 2.1.1): first byte 8 = one byte per char, 16 = UTF-16BE. */
export function decodeDchars(b: Buffer, src: string, what: string): string | null {
  if (b.length === 0) return '';
  const comp = b[0]!;
  const body = b.subarray(1);
  if (comp === 8) return body.toString('latin1');
  if (comp === 16) {
    if (body.length % 2) throw new MediaError(src, what, 'odd length 16-bit file identifier');
    const le = Buffer.alloc(body.length);
    for (let i = 0; i < body.length; i += 2) { le[i] = body[i + 1]!; le[i + 1] = body[i]!; }
    return le.toString('utf16le');
  }
  if (comp === 254 || comp === 255) return null; // UDF 2.50: deleted-name markers
  throw new MediaError(src, what, `unknown compression id ${comp} in a file identifier`);
}

export function decodeDstring(b: Buffer, src: string): string {
  const used = b[b.length - 1]!;
  if (used === 0 || used > b.length - 1) return '';
  return decodeDchars(b.subarray(0, used), src, 'identifier') ?? '';
}

// ----------------------------------------------------------------------------------------------

const VRS_IDS = new Set(['BEA01', 'BOOT2', 'CD001', 'CDW02', 'NSR02', 'NSR03', 'TEA01']);

/**
 * Volume Recognition Sequence at byte 32768: 2048-byte slots, or one sector per descriptor when
 * sectors are larger (ECMA-167 2/8.4). A UDF volume has NSR02 or NSR03 in it.
 */
export async function checkVrs(src: ByteSource): Promise<void> {
  for (const stride of [2048, 4096]) {
    for (let i = 0; i < 32; i++) {
      let id: string;
      try {
        id = (await src.read(32768 + i * stride, 6, 'Volume Recognition Sequence')).subarray(1, 6).toString('latin1');
      } catch (e) {
        if (i === 0) throw e;
        break;
      }
      if (id === 'NSR02' || id === 'NSR03') return;
      if (id === 'TEA01' || !VRS_IDS.has(id)) break;
    }
  }
  throw new MediaError(src.name, 'Volume Recognition Sequence', 'no NSR02/NSR03 descriptor: not a UDF volume');
}

export async function findAnchor(src: ByteSource): Promise<{ blockSize: number; anchor: Buffer }> {
  const problems: string[] = [];
  for (const bs of [2048, 512, 1024, 4096]) {
    const sectors = src.size !== undefined ? Math.floor(src.size / bs) : undefined;
    const where = [256];
    if (sectors !== undefined) where.push(sectors - 1, sectors - 257);
    for (const s of where) {
      if (s < 256 || (sectors !== undefined && s >= sectors)) continue;
      let b: Buffer;
      try { b = await src.read(s * bs, 512, 'Anchor Volume Descriptor Pointer'); } catch (e) { problems.push(errorText(e)); continue; }
      if (b.readUInt16LE(0) !== TAG.AVDP) continue;
      try {
        checkTag(b, 0, src.name, `Anchor Volume Descriptor Pointer (sector ${s}, ${bs}-byte sectors)`, { location: s });
        return { blockSize: bs, anchor: b };
      } catch (e) {
        problems.push(errorText(e));
      }
    }
  }
  const detail = problems.length ? `; ${problems.slice(0, 3).join('; ')}` : '';
  throw new MediaError(src.name, 'Anchor Volume Descriptor Pointer', `no valid anchor at sector 256 or at the end (sector sizes 512-4096)${detail}`);
}
