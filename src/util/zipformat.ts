// What the zip writer (zipwrite.ts) and reader (zipread.ts) share: the format's constants (APPNOTE.TXT)
// and CRC-32, zlib's own (native): the daemon runs JS without an optimizing compiler (build.mjs), where a
// table-driven loop over a 30 MiB log would cost seconds of CPU.
import { nodeZlib } from './builtins.ts';

export function crc32(data: Uint8Array, previous = 0): number {
  return nodeZlib().crc32(data, previous);
}

export const SIG_LOCAL = 0x04034b50;
export const SIG_CENTRAL = 0x02014b50;
export const SIG_EOCD = 0x06054b50;
export const SIG_ZIP64_EOCD = 0x06064b50;
export const SIG_ZIP64_LOCATOR = 0x07064b50;
export const FLAG_ENCRYPTED = 0x0001;
export const FLAG_UTF8 = 0x0800;
export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;
export const HOST_UNIX = 3;
export const S_IFMT = 0o170000;
export const S_IFREG = 0o100000;
export const S_IFDIR = 0o040000;
export const S_IFLNK = 0o120000;
