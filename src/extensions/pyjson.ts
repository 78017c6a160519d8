// Python json.dumps() output, byte for byte: ", " and ": " separators, non-ASCII escaped as \uXXXX
// (ensure_ascii), and floats written with a decimal point (1.0). Files extensions read
// (HandlerEnvironment.json, settings) and the status blob CRP parses have always had this shape.

/** A number that must be written as a Python float (`1.0`, not `1`). */
export class PyFloat {
  readonly value: number;
  constructor(value: number) { this.value = value; }
}

export function pyFloat(v: number): PyFloat { return new PyFloat(v); }

/** Text already serialised by pyDumps, inserted as it is (a part of a document kept between cycles). */
export class PyRaw {
  readonly text: string;
  constructor(text: string) { this.text = text; }
}

function floatText(v: number): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity';
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return `${v}.0`;
  return String(v).replace(/e\+?(-?)(\d)$/, (_m, s: string, d: string) => `e${s || '+'}0${d}`);
}

const NON_ASCII = /[\u007f-\uffff]/;
const NON_ASCII_ALL = /[\u007f-\uffff]/g;

function stringText(s: string, ensureAscii: boolean): string {
  const j = JSON.stringify(s);
  // JSON.stringify leaves DEL and non-ASCII raw; Python escapes everything outside ' '..'~'. (Tested first:
  // most texts are ASCII, and a replace always builds a new string.)
  return ensureAscii && NON_ASCII.test(j) ? j.replace(NON_ASCII_ALL, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) : j;
}

/** Serialised object keys ("name": ), reused: the status blob repeats the same few dozen keys every poll. */
const keyTexts = new Map<string, string>();
function keyText(k: string, ensureAscii: boolean): string {
  if (!ensureAscii) return `${stringText(k, false)}: `;
  let t = keyTexts.get(k);
  if (t === undefined) {
    t = `${stringText(k, true)}: `;
    if (keyTexts.size >= 1024) keyTexts.clear();
    keyTexts.set(k, t);
  }
  return t;
}

export interface PyDumpsOptions {
  /** Default true, like Python. */
  ensureAscii?: boolean;
  /** Maximum nesting depth (bad input cannot blow the stack). Default 100. */
  maxDepth?: number;
}

/**
 * One pass appending to one string (no per-level arrays, entries or joins): the idle daemon serialises its
 * status blob every poll, and this ran interpreted (docs/architecture.md "Idle cost").
 */
export function pyDumps(value: unknown, opts: PyDumpsOptions = {}): string {
  const ascii = opts.ensureAscii ?? true;
  const maxDepth = opts.maxDepth ?? 100;
  let out = '';
  const walk = (v: unknown, depth: number): void => {
    if (depth > maxDepth) throw new Error('pyDumps: nesting too deep');
    if (v === null || v === undefined) { out += 'null'; return; }
    switch (typeof v) {
      case 'string': out += stringText(v, ascii); return;
      case 'boolean': out += v ? 'true' : 'false'; return;
      case 'number': out += Number.isFinite(v) ? String(v) : floatText(v); return;
      case 'bigint': out += v.toString(); return;
      case 'object': break;
      default: out += 'null'; return;
    }
    if (v instanceof PyFloat) { out += floatText(v.value); return; }
    if (v instanceof PyRaw) { out += v.text; return; }
    if (Array.isArray(v)) {
      out += '[';
      for (let i = 0; i < v.length; i++) {
        if (i > 0) out += ', ';
        walk(v[i], depth + 1);
      }
      out += ']';
      return;
    }
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    out += '{';
    let first = true;
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i]!;
      const x = o[k];
      if (x === undefined || typeof x === 'function') continue;
      if (!first) out += ', ';
      first = false;
      out += keyText(k, ascii);
      walk(x, depth + 1);
    }
    out += '}';
  };
  walk(value, 0);
  return out;
}
