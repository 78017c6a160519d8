// npm test: typecheck, build dist/waagent, then run every test file with node:test on the pinned
// Node (this script is itself started by scripts/node). Arguments narrow the run to given files.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const node = process.execPath;
const args = process.argv.slice(2);
const skipBuild = process.env.WAAGENT_SKIP_BUILD === '1';

function find(dir) {
  const out = [];
  let entries = [];
  try { entries = readdirSync(dir); } catch { return out; }
  for (const e of entries) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (e.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const t0 = Date.now();
if (!skipBuild) {
  execFileSync(node, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
  execFileSync(node, [join(root, 'build.mjs')], { stdio: 'inherit' });
}
const files = args.length ? args : find(join(root, 'test'));
console.log(`running ${files.length} test files (prepared in ${Date.now() - t0} ms)`);
const r = spawnSync(node, [
  '--test',
  '--test-reporter=spec',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 2}`,
  '--test-timeout=600000',
  ...files.map((f) => relative(root, f)),
], { cwd: root, stdio: 'inherit' });
process.exit(r.status ?? 1);
