// collectAfterBurst: one full GC when the runtime exposes gc (the binary runs with --expose-gc), so dead
// objects holding native memory are released; a no-op otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const mod = JSON.stringify(fileURLToPath(new URL('../../src/util/memory.ts', import.meta.url)));
const script = `
  const { collectAfterBurst } = await import(${mod});
  let freed = 0;
  const reg = new FinalizationRegistry(() => { freed++; });
  // A burst of work: objects that outlive a few scavenges (promoted to the old generation, which only a
  // major GC frees), then dropped.
  (() => {
    const keep = [];
    for (let i = 0; i < 200; i++) { const o = { big: 'x'.repeat(1000) + i }; reg.register(o, i); keep.push(o); }
    for (let i = 0; i < 5; i++) { const junk = []; for (let j = 0; j < 20000; j++) junk.push({ j }); }
  })();
  collectAfterBurst();
  await new Promise((r) => setTimeout(r, 50));
  console.log(freed);`;

test('with --expose-gc, a full collection frees what is dead; without it, nothing happens and nothing throws', () => {
  const withGc = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(Number(withGc.trim()), 200);
  const without = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.ok(Number(without.trim()) < 200, `without gc exposed nothing forces a collection (${without.trim()} freed)`);
});
