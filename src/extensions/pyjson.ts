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

function stringText(s: string, ensureAscii: boolean): string {
  const j = JSON.stringify(s);
  // JSON.stringify leaves DEL and non-ASCII raw; Python escapes everything outside ' '..'~'.
  return ensureAscii ? j.replace(/[\u007f-\uffff]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')) : j;
}

export interface PyDumpsOptions {
  /** Default true, like Python. */
  ensureAscii?: boolean;
  /** Maximum nesting depth (bad input cannot blow the stack). Default 100. */
  maxDepth?: number;
}

export function pyDumps(value: unknown, opts: PyDumpsOptions = {}): string {
  const ascii = opts.ensureAscii ?? true;
  const maxDepth = opts.maxDepth ?? 100;
  const walk = (v: unknown, depth: number): string => {
    if (depth > maxDepth) throw new Error('pyDumps: nesting too deep');
    if (v === null || v === undefined) return 'null';
    if (v instanceof PyFloat) return floatText(v.value);
    if (v instanceof PyRaw) return v.text;
    switch (typeof v) {
      case 'boolean': return v ? 'true' : 'false';
      case 'number': return Number.isFinite(v) ? String(v) : floatText(v);
      case 'bigint': return v.toString();
      case 'string': return stringText(v, ascii);
      default: break;
    }
    if (Array.isArray(v)) return `[${v.map((x) => walk(x, depth + 1)).join(', ')}]`;
    if (typeof v === 'object') {
      const parts: string[] = [];
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x === undefined || typeof x === 'function') continue;
        parts.push(`${stringText(k, ascii)}: ${walk(x, depth + 1)}`);
      }
      return `{${parts.join(', ')}}`;
    }
    return 'null';
  };
  return walk(value, 0);
}
