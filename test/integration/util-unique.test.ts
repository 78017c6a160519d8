// Non-secret unique names without node:crypto, and node:crypto loaded only where it is really needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { randomHex, randomId } from '../../src/util/unique.ts';

test('randomHex and randomId: shape, length, and no repeats over many draws', () => {
  for (const n of [1, 8, 12, 33]) assert.match(randomHex(n), new RegExp(`^[0-9a-f]{${n}}$`));
  const ids = new Set<string>();
  for (let i = 0; i < 2000; i++) ids.add(randomId());
  assert.equal(ids.size, 2000);
  for (const id of [...ids].slice(0, 50)) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('the daemon\'s idle path (atomic writes, HostGAPlugin headers, zip names) does not load node:crypto', () => {
  const mod = (p: string) => JSON.stringify(fileURLToPath(new URL(`../../src/${p}`, import.meta.url)));
  const script = `
    import { mkdtempSync, rmSync } from 'node:fs';
    const { writeFileAtomic } = await import(${mod('util/atomic.ts')});
    await import(${mod('platform/hostplugin.ts')});
    await import(${mod('util/zipwrite.ts')});
    await import(${mod('util/zipread.ts')});
    await import(${mod('util/zipextract.ts')});
    await import(${mod('extensions/launcher.ts')});
    const { randomId } = await import(${mod('util/unique.ts')});
    const d = mkdtempSync('/tmp/unique-test-');
    writeFileAtomic(d + '/f', randomId());
    rmSync(d, { recursive: true });
    console.log(JSON.stringify(process.moduleLoadList.filter((m) => m === 'NativeModule crypto')));`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
  assert.deepEqual(JSON.parse(out.trim()), []);
  // The probe itself can see a loaded node:crypto:
  const seen = execFileSync(process.execPath, ['-e', "require('node:crypto'); console.log(process.moduleLoadList.includes('NativeModule crypto'))"], { encoding: 'utf8' });
  assert.equal(seen.trim(), 'true');
});
