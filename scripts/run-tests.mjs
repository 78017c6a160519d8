// npm test: typecheck, build dist/waagent, then run every test file with node:test on the pinned
// Node (this script is itself started by scripts/node). Arguments narrow the run to given files.
//
// Tiers (`--tier=unit|integration|e2e`, the npm scripts test:unit, test:integration, test:e2e):
//   unit         test/unit/: pure, no root, no child process, no socket (test/helpers/unit-guard.ts
//                makes a spawn or a socket there throw); no typecheck or build: the fast loop.
//   integration  test/integration/: modules with the real tools, root, the fabric simulator on 127.0.0.1.
//   e2e          test/e2e/: the built dist/waagent in the VM-in-a-box (builds it first).
// Without --tier (npm test) every tier runs, after the typecheck and the build.
//
// Every test process gets WAAGENT_TEST_GUARD=1: a Sysroot('/') then refuses every path (src/util/sysroot.ts),
// so feature code under test can never act on this machine's real root.
//
// Bounded: each test has --test-timeout (a hang becomes a failure with a message; the few long
// end-to-end tests give themselves an explicit { timeout }), and the whole run has a wall-clock
// bound (TEST_WALL_MS) after which the run is killed and fails, so a hang outside any test (a
// handle that keeps a file's process alive) cannot eat the CI budget either.
import { execFileSync, spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const node = process.execPath;
const TIERS = ['unit', 'integration', 'e2e'];
const tierArg = process.argv.slice(2).find((a) => a.startsWith('--tier='));
const tier = tierArg?.slice('--tier='.length);
if (tier !== undefined && !TIERS.includes(tier)) {
  console.error(`run-tests: unknown tier ${tier} (one of ${TIERS.join(', ')})`);
  process.exit(2);
}
const args = process.argv.slice(2).filter((a) => a !== tierArg);
// A tier without end-to-end tests needs neither the typecheck nor dist/waagent.
const skipBuild = process.env.WAAGENT_SKIP_BUILD === '1' || (tier !== undefined && tier !== 'e2e');
const testTimeoutMs = Number(process.env.TEST_TIMEOUT_MS ?? 180_000);
const wallMs = Number(process.env.TEST_WALL_MS ?? 15 * 60_000);

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

// Files that take longest go first, so the two workers end together instead of a long file
// starting last on an otherwise idle machine: the slowest files as measured by the clean-clone CI
// run (the list test-times.mjs prints at the end), then the other e2e files, then integration,
// then unit (many small files fill the gaps at the end).
const LONGEST = ['daemon-box', 'ext-storage', 'jit-box', 'ext-crash', 'package', 'ext-failures', 'monitor-box',
  'provision-crash', 'arm64-box', 'sysext-box', 'firewall-box', 'collectlogs-box', 'provision-pps-box', 'ext-lifecycle',
  'sandbox-disks', 'crypto-certs', 'sandbox-box', 'sandbox-peer', 'provision-box', 'media-fuzz'];
function rank(file) {
  const rel = relative(root, file);
  const name = rel.split('/').pop().replace(/\.test\.ts$/, '');
  const i = LONGEST.indexOf(name);
  if (i >= 0) return i;
  if (rel.startsWith('test/e2e/')) return LONGEST.length;
  if (rel.startsWith('test/integration/')) return LONGEST.length + 1;
  return LONGEST.length + 2;
}

const t0 = Date.now();
if (!skipBuild) {
  execFileSync(node, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', root], { stdio: 'inherit' });
  execFileSync(node, [join(root, 'build.mjs')], { stdio: 'inherit' });
}
const files = args.length ? args : find(join(root, 'test', tier ?? '')).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
const label = tier ?? (args.length ? 'chosen' : 'all');
console.log(`running ${files.length} test files (${label}; prepared in ${Date.now() - t0} ms)`);
// Three files at a time on two cores: the e2e files mostly wait (daemon periods, backoff, grace
// periods), so a third worker cut the clean-clone run from ~3.3 to ~2.2 min with the same results.
const child = spawn(node, [
  '--test',
  '--test-reporter=spec', '--test-reporter-destination=stdout',
  `--test-reporter=${join(root, 'scripts', 'test-times.mjs')}`, '--test-reporter-destination=stdout',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? 3}`,
  `--test-timeout=${testTimeoutMs}`,
  `--import=${join(root, 'test', 'helpers', 'unit-guard.ts')}`,
  ...files.map((f) => relative(root, f)),
], { cwd: root, stdio: 'inherit', detached: true, env: { ...process.env, WAAGENT_TEST_GUARD: '1' } });
let wallHit = false;
const wall = setTimeout(() => {
  wallHit = true;
  console.error(`\nrun-tests: the run exceeded ${wallMs} ms (TEST_WALL_MS): killing it`);
  try { process.kill(-child.pid, 'SIGTERM'); } catch { /* gone */ }
  setTimeout(() => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } }, 10_000).unref();
}, wallMs);
// Ctrl-C / CI cancel: pass it on to the test run's process group.
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { try { process.kill(-child.pid, sig); } catch { /* gone */ } });
child.on('exit', (code, signal) => {
  clearTimeout(wall);
  console.log(`run-tests: ${label}: ${files.length} files in ${((Date.now() - t0) / 1000).toFixed(1)} s${skipBuild ? '' : ' (typecheck and build included)'}`);
  process.exit(wallHit ? 1 : code ?? (signal ? 1 : 1));
});
