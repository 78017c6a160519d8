// npm run package: the release files, made from the binaries `npm run build` left in dist/:
//   dist/waagent-sea-<version>-<x86-64|arm64>.raw  systemd-sysext image (squashfs) per architecture, for
//                                                 Flatcar: its /usr holds exactly what src/os/sysext.ts lists
//   dist/waagent-<version>-linux-<x64|arm64>.xz    the bare binary, xz-compressed
//   dist/SHA256SUMS                                 `sha256sum -c` format, for the four files above
// Options: --out DIR (default dist), --arch x64|arm64 (repeatable; default both), --fast (uncompressed
// squashfs and xz -0: the same files and layout without the minutes of compression, for tests; never for
// a release).
// Timestamps in the images come from SOURCE_DATE_EPOCH (default: the last commit's time), so the same
// binaries give the same images. Every file is written under a temporary name and renamed into place.
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { agentUnit, firewallUnit, defaultConf, AGENT_UNIT, FIREWALL_UNIT } = await import(join(root, 'src', 'os', 'service.ts'));
const sysext = await import(join(root, 'src', 'os', 'sysext.ts'));

const { values } = parseArgs({
  options: { out: { type: 'string' }, arch: { type: 'string', multiple: true }, fast: { type: 'boolean' } },
  strict: true,
});
const out = resolve(values.out ?? join(root, 'dist'));
const arches = values.arch ?? ['x64', 'arm64'];
for (const a of arches) if (!Object.hasOwn(sysext.SYSEXT_ARCH, a)) throw new Error(`--arch must be x64 or arm64, got ${JSON.stringify(a)}`);
const fast = values.fast === true;
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
if (!/^[0-9A-Za-z.+-]+$/.test(version)) throw new Error(`package.json version ${JSON.stringify(version)} cannot be part of a file name`);
const BIN = { x64: join(root, 'dist', 'waagent'), arm64: join(root, 'dist', 'waagent-arm64') };
// xz's branch/call filter for each architecture's machine code, then LZMA2 at preset 9 (64 MiB dictionary):
// measured on these binaries, x86 -6: 26.30 MB (27.20 without the filter), x86 -9: 25.97 MB, -9e with a
// 128 MiB dictionary only 20 KB less for twice the time; arm64: 25.66 MB plain (-9e), 24.73 MB with the
// ARM64 filter (-9). The ARM64 filter needs xz >= 5.4 to decompress (docs/flatcar.md); x86's is in every xz.
const BCJ = { x64: ['--x86'], arm64: ['--arm64'] };

function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return process.env.SOURCE_DATE_EPOCH;
  try { return execFileSync('git', ['-C', root, 'log', '-1', '--format=%ct'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim(); } catch { return '0'; }
}
const epoch = sourceDateEpoch();
if (!/^\d+$/.test(epoch)) throw new Error(`SOURCE_DATE_EPOCH must be a number of seconds, got ${JSON.stringify(epoch)}`);

function tool(argv, env = {}) {
  try {
    execFileSync(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env }, maxBuffer: 16 << 20 });
  } catch (e) {
    const hint = e.code === 'ENOENT' ? ' (install it: bash scripts/install-test-deps.sh)' : '';
    throw new Error(`${argv[0]} failed${hint}: ${e.message}\n${e.stderr ?? ''}`);
  }
}

function put(stage, path, content, mode) {
  const p = join(stage, path);
  mkdirSync(dirname(p), { recursive: true, mode: 0o755 });
  writeFileSync(p, content, { mode });
  chmodSync(p, mode);
}

/** The image's tree: the agent, its units, the tmpfiles rule, the default conf, the release file. */
function stageTree(stage, arch) {
  const self = [sysext.SYSEXT_BIN];
  put(stage, sysext.SYSEXT_BIN, readFileSync(BIN[arch]), 0o755);
  put(stage, `${sysext.SYSEXT_UNIT_DIR}/${AGENT_UNIT}`, agentUnit({ self, flatcar: true, shipped: true }), 0o644);
  put(stage, `${sysext.SYSEXT_UNIT_DIR}/${FIREWALL_UNIT}`, firewallUnit({ self, endpoint: sysext.SYSEXT_FIREWALL_ENDPOINT, flatcar: true }), 0o644);
  put(stage, sysext.SYSEXT_TMPFILES, sysext.tmpfilesConf(), 0o644);
  put(stage, sysext.SYSEXT_CONF, defaultConf({ flatcar: true, shipped: true }), 0o644);
  put(stage, sysext.SYSEXT_RELEASE, sysext.extensionRelease({ arch }), 0o644);
  // mkdtemp made the top 0700: the image's / must be a normal 0755 directory.
  chmodSync(stage, 0o755);
}

function image(arch) {
  const name = `${sysext.SYSEXT_NAME}-${version}-${sysext.SYSEXT_ARCH[arch]}.raw`;
  const target = join(out, name);
  const stage = mkdtempSync(join(out, `.stage-${arch}-`));
  const tmp = `${target}.tmp-${process.pid}`;
  try {
    stageTree(stage, arch);
    const comp = fast ? ['-noI', '-noD', '-noF', '-noX'] : ['-comp', 'xz', ...(arch === 'x64' ? ['-Xbcj', 'x86'] : [])];
    tool(['mksquashfs', stage, tmp, '-all-root', '-noappend', '-no-xattrs', '-quiet', '-no-progress', ...comp], { SOURCE_DATE_EPOCH: epoch });
    renameSync(tmp, target);
  } finally {
    rmSync(stage, { recursive: true, force: true });
    rmSync(tmp, { force: true });
  }
  return target;
}

async function xz(arch) {
  const target = join(out, `waagent-${version}-linux-${arch}.xz`);
  const tmp = `${target}.tmp-${process.pid}`;
  const argv = ['-c', '-T1', ...(fast ? ['-0'] : [...BCJ[arch], '--lzma2=preset=9']), BIN[arch]];
  try {
    await new Promise((ok, fail) => {
      const sink = createWriteStream(tmp, { mode: 0o644 });
      const p = spawn('xz', argv, { stdio: ['ignore', 'pipe', 'pipe'] });
      let err = '';
      p.stderr.on('data', (b) => { if (err.length < 4096) err += b; });
      p.stdout.pipe(sink);
      p.once('error', (e) => fail(new Error(`xz: ${e.message}`)));
      p.once('close', (code) => {
        if (code !== 0) return fail(new Error(`xz ${argv.join(' ')} failed (exit ${code}): ${err.trim()}`));
        sink.once('finish', ok);
        sink.once('error', fail);
        if (sink.writableFinished) ok();
      });
    });
    renameSync(tmp, target);
  } finally {
    rmSync(tmp, { force: true });
  }
  return target;
}

function sha256(file) {
  return new Promise((ok, fail) => {
    const h = createHash('sha256');
    createReadStream(file).on('data', (b) => h.update(b)).once('error', fail).once('end', () => ok(h.digest('hex')));
  });
}

const started = Date.now();
for (const a of arches) if (!existsSync(BIN[a])) throw new Error(`${BIN[a]} is missing: run npm run build first`);
mkdirSync(out, { recursive: true });
const files = [];
for (const a of arches) {
  files.push(image(a));
  files.push(await xz(a));
}
const sums = [];
for (const f of files) sums.push(`${await sha256(f)}  ${f.slice(out.length + 1)}\n`);
const sumsPath = join(out, 'SHA256SUMS');
writeFileSync(`${sumsPath}.tmp-${process.pid}`, sums.join(''), { mode: 0o644 });
renameSync(`${sumsPath}.tmp-${process.pid}`, sumsPath);
for (const f of [...arches.map((a) => BIN[a]), ...files]) {
  console.log(`${basename(f).padEnd(40)} ${statSync(f).size.toLocaleString('en-US').padStart(13)} bytes (${(statSync(f).size / 1e6).toFixed(1)} MB)`);
}
console.log(`packaged ${files.length} files${fast ? ' (--fast compression)' : ''} and SHA256SUMS in ${Date.now() - started} ms`);
