// Redaction of a (log) file in pieces, so a 30 MiB log never sits in memory as a whole string (the
// agent runs the collector under MemoryHigh=170M). Pieces end at a newline: every single-line
// pattern (SAS URLs, sig=, JSON secret fields, registered secrets) is whole inside one piece. The
// multi-line ones — a PEM private key, an XML <UserPassword>/<ProtectedSettings>/<CustomData> element — are kept
// together by reading on until they end or until their bounded span (redact.ts) is in the piece: an
// opener nobody closes (a line anyone can write to syslog) drops that span, never the rest of the
// file. A block still open after `cap` bytes (or after its piece was carried once) is redacted up to
// its end marker or its span, whichever comes first (never: copied because it was long). Linear in
// the file's size.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { redact } from '../util/logger.ts';
import { PEM_SPAN, XML_SPAN } from '../util/redact.ts';

const OPENERS: { open: RegExp; close: string; span: number }[] = [
  { open: /-----BEGIN [A-Z0-9 ]{0,64}PRIVATE KEY-----/g, close: '-----END ', span: PEM_SPAN },
  { open: /<(?:\w{1,64}:)?(?:UserPassword|ProtectedSettings|CustomData)\b[^<>]{0,4096}>/gi, close: '</', span: XML_SPAN },
];

/**
 * The first multi-line secret block in `text` that neither ends in it nor has its whole bounded
 * span in it: where it starts, what ends it, and how much of the span lies beyond the text.
 */
function openBlock(text: string): { at: number; close: string; beyond: number } | null {
  let best: { at: number; close: string; beyond: number } | null = null;
  for (const o of OPENERS) {
    const lastClose = text.lastIndexOf(o.close);
    o.open.lastIndex = 0;
    for (let m = o.open.exec(text); m; m = o.open.exec(text)) {
      const end = m.index + m[0].length;
      if (lastClose >= end || text.length - end >= o.span) continue;
      if (!best || m.index < best.at) best = { at: m.index, close: o.close, beyond: o.span - (text.length - end) };
      break;
    }
  }
  return best;
}

function decode(b: Buffer): { text: string; enc: BufferEncoding } {
  // Pieces end at '\n', which never sits inside a UTF-8 sequence; anything else is kept byte for byte.
  return isUtf8(b) ? { text: b.toString('utf8'), enc: 'utf8' } : { text: b.toString('latin1'), enc: 'latin1' };
}

export interface RedactStreamOptions {
  /** Bytes read at a time. Default 256 KiB (measured: 30 MiB logs collected at ~40 MB above the baseline RSS; 1 MiB pieces cost twice that). */
  block?: number;
  /** Longest piece kept together to close a multi-line block (or a line). Default 8 MiB. */
  cap?: number;
}

/** Redacted pieces of bytes [start, end) of an open file. */
export function* redactedPieces(fd: number, start: number, end: number, o: RedactStreamOptions = {}): Generator<Buffer> {
  const block = o.block ?? 256 << 10;
  const cap = o.cap ?? 8 << 20;
  let pos = start;
  let carry: Buffer = Buffer.alloc(0);
  /** Inside a secret block that was too long to keep together: drop text until this marker, at most `left` characters. */
  let skip: { until: string; left: number } | null = null;
  /**
   * Set when the piece was carried over to complete an open block: the next read takes its whole
   * missing span at once, and the piece is not carried again (so every byte is decoded and scanned
   * at most twice, however many openers a hostile file holds: linear).
   */
  let readAhead = 0;
  while (pos < end || carry.length) {
    let data = carry;
    const carried = readAhead > 0;
    if (pos < end) {
      const buf = Buffer.alloc(Math.min(Math.max(block, readAhead), end - pos));
      let off = 0;
      while (off < buf.length) {
        const n = readSync(fd, buf, off, buf.length - off, pos + off);
        if (n === 0) break;
        off += n;
      }
      pos = off < buf.length ? end : pos + off; // the file shrank: stop at what we have
      data = carry.length ? Buffer.concat([carry, buf.subarray(0, off)]) : buf.subarray(0, off);
    }
    carry = Buffer.alloc(0);
    const last = pos >= end;
    if (!last) {
      const nl = data.lastIndexOf(0x0a);
      if (nl < 0 && data.length < cap) { carry = data; continue; }
      if (nl >= 0) { carry = data.subarray(nl + 1); data = data.subarray(0, nl + 1); }
    }
    const decoded = decode(data);
    let text = decoded.text;
    if (skip !== null) {
      const i = text.indexOf(skip.until);
      if (i >= 0 && i <= skip.left) text = text.slice(i);
      else if (text.length <= skip.left) { skip.left -= text.length; continue; }
      else text = text.slice(skip.left);
      skip = null;
    }
    readAhead = 0;
    const open = openBlock(text);
    if (open) {
      if (!last && !carried && data.length + carry.length < cap) {
        carry = Buffer.concat([data, carry]);
        readAhead = Math.min(cap, open.beyond + block);
        continue;
      }
      // Too long to keep together, or the file ends inside it: keep the opener, drop the rest up to
      // the end marker or the end of its span (in later pieces too).
      if (!last) skip = { until: open.close, left: open.beyond };
      text = `${text.slice(0, open.at)}${text.slice(open.at, open.at + 64).split(/[>\n]/)[0]}><redacted>\n`;
    }
    yield Buffer.from(redact(text), decoded.enc);
  }
}

/** Redacted pieces of the last `max` bytes of a file; `truncated` tells whether the head was cut. */
export function redactedTail(path: string, max: number, o: RedactStreamOptions = {}): { size: number; truncated: boolean; pieces: Generator<Buffer> } {
  const fd = openSync(path, 'r');
  let size: number;
  try { size = fstatSync(fd).size; } catch (e) { closeSync(fd); throw e; }
  const start = Math.max(0, size - max);
  function* pieces(): Generator<Buffer> {
    try { yield* redactedPieces(fd, start, size, o); } finally { closeSync(fd); }
  }
  return { size, truncated: size > max, pieces: pieces() };
}
