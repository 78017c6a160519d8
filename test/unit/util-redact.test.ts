// Redaction on adversarial input: every pattern is linear (a log line is partly written by anyone
// who reaches syslog or an extension's output), and an unclosed multi-line block drops a bounded
// span, not the rest of the text. Timing is checked loosely: a generous absolute budget (linear
// code takes well under 100 ms for 1 MiB; the old quadratic SAS pattern took 1.7 s for 64 KiB, so
// minutes for 1 MiB) and the growth from 256 KiB to 1 MiB (linear: x4, plus allocation and GC
// effects on big strings that even a one-literal replace shows (x10 measured here); quadratic: x16
// on top of a start that is already seconds), with slack for a busy machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PEM_SPAN, XML_SPAN, redact } from '../../src/util/redact.ts';
import { redactedPieces } from '../../src/logcollector/redactstream.ts';

const KiB = 1024;
const fill = (unit: string, n: number) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
/** Crafted input per pattern: many openers that never complete, or one opener and a long run. */
const CRAFTED: Record<string, (n: number) => string> = {
  'SAS URL without a query': (n) => fill('https://x', n),
  'SAS URL, query keys without a URL': (n) => fill('a?sv=&', n),
  'sig=': (n) => fill('?sig=&sig=', n),
  'PEM openers, never closed': (n) => fill('-----BEGIN PRIVATE KEY-----\n', n),
  'PEM opener with a long type': (n) => '-----BEGIN ' + fill('A ', n - 11),
  'JSON secret field, unterminated': (n) => fill('"password":"', n),
  'JSON secret name and blanks': (n) => '"password"' + fill(' ', n - 10),
  'XML secret elements, never closed': (n) => fill('<UserPassword>', n),
  'XML openers without >': (n) => fill('<ProtectedSettings ' + 'a'.repeat(300), n),
};

/**
 * Asserts that `run(n)` is linear between 256 KiB and 1 MiB: the 1 MiB run within a generous budget
 * every time, and the median of five 1 MiB runs at most 10x the median of five 256 KiB runs (+10 ms),
 * runs interleaved so both sizes see the same load, in one of three attempts (a loaded machine can
 * spoil one; linear code measures ~4-6x here, quadratic code ~16x every time, and misses its budget).
 */
function assertLinear(what: string, run: (n: number) => void): void {
  const seen: string[] = [];
  const time = (n: number) => { const t0 = performance.now(); run(n); return performance.now() - t0; };
  const median = (xs: number[]) => xs.sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  run(256 * KiB); run(1024 * KiB); // warm up
  for (let attempt = 0; attempt < 3; attempt++) {
    const small: number[] = [];
    const big: number[] = [];
    for (let i = 0; i < 5; i++) {
      small.push(time(256 * KiB));
      const tb = time(1024 * KiB);
      assert.ok(tb < 3_000, `${what}: 1 MiB took ${tb.toFixed(0)} ms`);
      big.push(tb);
    }
    const [tSmall, tBig] = [median(small), median(big)];
    if (tBig <= 10 * tSmall + 10) return;
    seen.push(`${tSmall.toFixed(1)} -> ${tBig.toFixed(1)} ms`);
  }
  assert.fail(`${what}: 256 KiB -> 1 MiB not linear (medians): ${seen.join('; ')}`);
}


for (const [name, make] of Object.entries(CRAFTED)) {
  test(`redact is linear on crafted input: ${name}`, () => {
    const inputs = new Map([256 * KiB, 1024 * KiB].map((n) => [n, make(n)]));
    assertLinear(name, (n) => redact(inputs.get(n)!));
  });
}

test('redactedPieces (log collection) is linear on the same crafted files', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'redact-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const p = join(dir, 'f');
  for (const [name, make] of Object.entries(CRAFTED)) {
    const files = new Map([256 * KiB, 1024 * KiB].map((n) => { const f = `${p}-${n}`; writeFileSync(f, make(n)); return [n, f]; }));
    assertLinear(`${name} (stream)`, (n) => {
      const fd = openSync(files.get(n)!, 'r');
      try { for (const _ of redactedPieces(fd, 0, n)) { /* drain */ } } finally { closeSync(fd); }
    });
  }
});

const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';

test('closed blocks are redacted whole; an unclosed PEM or XML opener drops a bounded span only', () => {
  assert.equal(redact(`a ${KEY} b`), 'a <redacted private key> b');
  assert.equal(redact('<UserPassword>hunter22</UserPassword>'), '<UserPassword><redacted></UserPassword>');
  const after = fill('later log line\n', 200 * KiB);
  const out = redact(`before\n-----BEGIN PRIVATE KEY-----\nMIIEsecret\n${after}`);
  assert.ok(out.startsWith('before\n<redacted private key>'));
  assert.ok(!out.includes('MIIEsecret'));
  const kept = out.length - 'before\n<redacted private key>'.length;
  assert.ok(kept >= after.length + 12 - PEM_SPAN - 1 && kept > 100 * KiB, `only ${PEM_SPAN} characters after the opener are dropped (kept ${kept})`);
  const x = redact(`<ProtectedSettings>${fill('z', XML_SPAN + 100)}`);
  assert.equal(x, `<ProtectedSettings><redacted>${'z'.repeat(100)}`);
});

test('SAS: the query of a URL is redacted, other ? text is not', () => {
  assert.equal(redact('GET https://acct.blob.core.windows.net/c/b?sv=2020&sig=abc%3D done'), 'GET https://acct.blob.core.windows.net/c/b?<redacted> done');
  assert.equal(redact('"https://h/p?se=1&sp=r"'), '"https://h/p?<redacted>"');
  assert.equal(redact('what?sv=1 is not a URL'), 'what?sv=1 is not a URL');
  assert.equal(redact('x https://h/a?foo=1&sig=s3cret'), 'x https://h/a?foo=1&sig=<redacted>');
});

test('a syslog line with an unclosed key opener does not drop the rest of a collected file', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'redact-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const lines = Array.from({ length: 40_000 }, (_, i) => `Dec  7 06:00:00 vm app[1]: line ${i}\n`).join('');
  const text = `Dec  7 05:59:59 vm evil[9]: -----BEGIN PRIVATE KEY-----\n${lines}`;
  const p = join(dir, 'syslog');
  writeFileSync(p, text);
  const fd = openSync(p, 'r');
  let out = '';
  try { for (const b of redactedPieces(fd, 0, Buffer.byteLength(text), { block: 64 * KiB })) out += b.toString('utf8'); } finally { closeSync(fd); }
  assert.match(out, /line 39999\n$/);
  const lost = text.length - out.length;
  assert.ok(lost <= PEM_SPAN + 64, `${lost} characters dropped`);
});

test('goal-state history redaction (redactDocument) is linear too and still hides protected settings and URL queries', async () => {
  const { redactDocument } = await import('../../src/agent/history.ts');
  const doc = '<Plugin><ProtectedSettings certificateThumbprint="AB">MIIBsecret</ProtectedSettings><StatusUploadBlob>https://a.blob/c?sv=1&sig=XYZ</StatusUploadBlob></Plugin>'
    + '{"protectedSettings":"MIIBjson","url":"https://h/p?token=abc"}';
  const out = redactDocument(doc);
  for (const s of ['MIIBsecret', 'XYZ', 'MIIBjson', 'token=abc']) assert.ok(!out.includes(s), `${s}: ${out}`);
  assert.match(out, /<ProtectedSettings certificateThumbprint="AB">\*\*\*REDACTED\*\*\*<\/ProtectedSettings>/);
  assert.match(out, /https:\/\/h\/p\?\*\*\*REDACTED\*\*\*/);
  for (const [name, make] of [['SAS', CRAFTED['SAS URL without a query']!], ['XML', CRAFTED['XML secret elements, never closed']!], ['ProtectedSettings', (n: number) => fill('<ProtectedSettings>', n)]] as const) {
    const inputs = new Map([256 * KiB, 1024 * KiB].map((n) => [n, make(n)]));
    assertLinear(`history ${name}`, (n) => redactDocument(inputs.get(n)!));
  }
});
