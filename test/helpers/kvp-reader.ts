// The tests' own reader of a Hyper-V KVP pool file, written from the format (512-byte key, 2048-byte
// value, UTF-8, NUL-padded), independent of src/os/kvp.ts so a writer bug cannot hide behind the
// same decoder. Strict: a file that is not whole records, a non-NUL byte after the terminating NUL,
// or invalid UTF-8 is an error.
import { readFileSync } from 'node:fs';

export interface PoolRecord { key: string; value: string }

const KEY = 512;
const VALUE = 2048;

function text(b: Buffer, what: string): string {
  let end = b.indexOf(0);
  if (end < 0) end = b.length;
  for (let i = end; i < b.length; i++) if (b[i] !== 0) throw new Error(`${what}: byte ${i} after the NUL is not NUL`);
  return new TextDecoder('utf-8', { fatal: true }).decode(b.subarray(0, end));
}

export function readPool(path: string): PoolRecord[] {
  const buf = readFileSync(path);
  if (buf.length % (KEY + VALUE) !== 0) throw new Error(`${path}: ${buf.length} bytes is not a whole number of records`);
  const out: PoolRecord[] = [];
  for (let o = 0, n = 0; o < buf.length; o += KEY + VALUE, n++) {
    out.push({ key: text(buf.subarray(o, o + KEY), `record ${n} key`), value: text(buf.subarray(o + KEY, o + KEY + VALUE), `record ${n} value`) });
  }
  return out;
}

/** A PROVISIONING_REPORT value split into its `name=value` fields (`|` separated, `'` quoting as csv). */
export function reportFields(value: string): Map<string, string> {
  const fields: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === "'" && value[i + 1] === "'") { cur += "'"; i++; } else if (c === "'") quoted = false; else cur += c;
    } else if (c === "'" && cur === '') quoted = true;
    else if (c === '|') { fields.push(cur); cur = ''; } else cur += c;
  }
  fields.push(cur);
  const m = new Map<string, string>();
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq < 0) throw new Error(`report field without "=": ${f}`);
    m.set(f.slice(0, eq), f.slice(eq + 1));
  }
  return m;
}
