// Nothing in src/ loads node:crypto: once loaded it stays resident (+3.3 MiB RSS measured) for the
// daemon's life. Digests, certificates, keys and salts are src/crypto/digest.ts, der.ts, keys.ts and
// random.ts. This scan fails on any way in: an import or require of 'crypto'/'node:crypto' (static,
// dynamic or getBuiltinModule), the old nodeCrypto() accessor, and Node's global `crypto` (WebCrypto,
// a getter that loads the module). Comments are left out of the scan. Nothing is allowed: node:https
// (TLS, which needs crypto) is a separate, deliberate lazy load for https downloads (src/platform/http.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

/** Block comments and line comments (not `//` inside a URL such as http://) removed. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const FORBIDDEN: [RegExp, string][] = [
  [/['"`](node:)?crypto['"`]/, "the module name 'crypto' / 'node:crypto'"],
  [/\bnodeCrypto\b/, 'the removed nodeCrypto() accessor'],
  [/\bglobalThis\s*\.\s*crypto\b/, 'globalThis.crypto'],
  [/(^|[^\w$.'"`/-])crypto\s*\.\s*\w/m, "Node's global crypto object"],
  [/\b(webcrypto|subtle)\b/, 'WebCrypto'],
];

test('no source file in src/ reaches node:crypto', () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 50);
  const hits: string[] = [];
  for (const f of files) {
    const c = code(readFileSync(f, 'utf8'));
    for (const [re, what] of FORBIDDEN) if (re.test(c)) hits.push(`${relative(SRC, f)}: ${what}`);
  }
  assert.deepEqual(hits, []);
});

test('the scan itself catches each form', () => {
  const samples = [
    "import { createHash } from 'node:crypto';", 'const c = require("crypto");', "await import('node:crypto')",
    "process.getBuiltinModule('node:crypto')", 'nodeCrypto().randomInt(3)', 'globalThis.crypto.randomUUID()',
    'const id = crypto.randomUUID();', 'x = crypto.subtle', '  crypto.getRandomValues(b)',
  ];
  for (const s of samples) assert.ok(FORBIDDEN.some(([re]) => re.test(code(s))), s);
  for (const s of ["import { sha1 } from '../crypto/digest.ts';", '// node:crypto in a comment', '/* crypto.x */', "const u = 'http://x/crypto.ts';"]) {
    assert.ok(!FORBIDDEN.some(([re]) => re.test(code(s))), s);
  }
});
