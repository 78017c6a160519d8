// waagent.conf text -> raw key/value entries, with exactly waagent's rules (docs/os.md §2.2,
// ConfigurationProvider.load). Pure: no file access, no knowledge of which keys exist.
//
//   * split on "\n" only;
//   * a line counts only if it does NOT start with "#" in column 0 (an indented "#" line is a
//     key/value line like any other) and contains "=";
//   * split at the first "="; key = left part trimmed (case-sensitive);
//   * value = right part cut at the first "#" (so a value can never contain "#"), then leading and
//     trailing '"' and ' ' stripped, then remaining whitespace (\t, \r...) stripped. Single quotes
//     are kept;
//   * the literal value None means "absent" (the default applies); an empty value is kept as "";
//   * a later duplicate overrides an earlier one.

export interface RawEntry {
  /** null for the literal None. */
  value: string | null;
  /** 1-based line of the occurrence that won (the last one). */
  line: number;
  /** How many times the key appeared. */
  count: number;
}

export interface ParsedConf {
  entries: Map<string, RawEntry>;
  /** Lines that look like settings but cannot be (e.g. "=value" with no key): line number + text. */
  oddLines: { line: number; reason: string }[];
}

/** Python's str.strip(chars): remove any of `chars` from both ends. */
function stripChars(s: string, chars: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && chars.includes(s[a]!)) a++;
  while (b > a && chars.includes(s[b - 1]!)) b--;
  return s.slice(a, b);
}

/** Python's str.strip() with no argument: Unicode whitespace (JS trim() covers the same set in practice). */
function stripWs(s: string): string {
  return s.trim();
}

export function parseConfText(text: string): ParsedConf {
  const entries = new Map<string, RawEntry>();
  const oddLines: ParsedConf['oddLines'] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = stripWs(line.slice(0, eq));
    const value = stripWs(stripChars(line.slice(eq + 1).split('#')[0]!, '" '));
    if (key === '') {
      // Python stores it under the empty key, which nothing reads; we say so.
      oddLines.push({ line: i + 1, reason: 'a setting without a key name' });
      continue;
    }
    const prev = entries.get(key);
    entries.set(key, { value: value === 'None' ? null : value, line: i + 1, count: (prev?.count ?? 0) + 1 });
  }
  return { entries, oddLines };
}

/** Python's y/n switch: only y or n, any case. Anything else is not a switch value. */
export function parseSwitch(v: string): boolean | undefined {
  const l = v.toLowerCase();
  return l === 'y' ? true : l === 'n' ? false : undefined;
}

/**
 * Python's int() on a string: optional surrounding whitespace, an optional sign, decimal digits
 * with single underscores between them ("1_000"). Values outside the safe integer range are
 * refused rather than silently rounded. (Python also accepts non-ASCII Unicode digits; we do not.)
 */
export function parsePythonInt(v: string): number | undefined {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(v);
  if (!m) return undefined;
  const n = Number(m[2]!.replace(/_/g, ''));
  if (!Number.isSafeInteger(n)) return undefined;
  return m[1] === '-' ? (n === 0 ? 0 : -n) : n;
}
