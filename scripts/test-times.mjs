// node:test reporter used by run-tests.mjs next to `spec`: at the end, the test files that took
// longest (sum of their top-level tests' durations, import time not included), so the CI budget
// stays visible and the slowest files can be ordered first (LONGEST in run-tests.mjs).
import { relative } from 'node:path';

export default async function* fileTimes(source) {
  const perFile = new Map();
  for await (const e of source) {
    if ((e.type !== 'test:pass' && e.type !== 'test:fail') || e.data.nesting !== 0 || !e.data.file) continue;
    const ms = e.data.details?.duration_ms ?? 0;
    const f = relative(process.cwd(), e.data.file);
    const cur = perFile.get(f) ?? { ms: 0, tests: 0 };
    perFile.set(f, { ms: cur.ms + ms, tests: cur.tests + 1 });
  }
  const top = [...perFile.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12);
  yield '\nslowest test files (sum of their tests):\n';
  for (const [f, { ms, tests }] of top) yield `  ${(ms / 1000).toFixed(1).padStart(7)} s  ${String(tests).padStart(3)} tests  ${f}\n`;
}
