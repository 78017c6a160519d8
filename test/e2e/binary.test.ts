// The BUILT binary, dist/waagent (npm test builds it first). Only commands that cannot talk to the
// network or change the host are run here: -version, -help, -show-configuration, unknown arguments.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../src/config/config.ts';
import { AGENT_BIN, needsAgentBin, needsRoot } from '../helpers/skip.ts';
import { Box, PINNED_NODE, PROJECT } from '../sandbox/box.ts';

const bin = AGENT_BIN;
const dir = mkdtempSync(join(tmpdir(), 'waagent-bin-'));
// A clean environment: nothing from the test runner (NODE_OPTIONS, NODE_TEST_CONTEXT...) leaks in.
const cleanEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

function waagent(args: string[], env: Record<string, string> = {}) {
  assert.equal(needsAgentBin(), false);
  const r = spawnSync(bin, args, { encoding: 'utf8', env: { ...cleanEnv, ...env }, timeout: 30_000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

test('the binary\'s main script is boot.ts; the agent bundle is an asset with an accepted V8 code cache', () => {
  assert.equal(needsAgentBin(), false);
  // Node compiles a SEA's main script before running it: a small one keeps -version's start-up at Node's own.
  const boot = readFileSync(join(PROJECT, 'dist', 'waagent-boot.cjs'));
  assert.ok(boot.length < 16 * 1024, `dist/waagent-boot.cjs is ${boot.length} bytes`);
  // The bundle asset (wrapped as boot.ts compiles it) is inside the binary exactly once.
  const main = readFileSync(join(PROJECT, 'dist', 'waagent-main.js'));
  assert.ok(main.subarray(0, 64).toString('latin1').startsWith('(function (exports, require, module, __filename, __dirname) {'));
  const binary = readFileSync(bin);
  const at = binary.indexOf(main.subarray(0, 4096));
  assert.ok(at > 0, 'the bundle is in the binary');
  assert.equal(binary.indexOf(main.subarray(0, 4096), at + 1), -1, 'the bundle is in the binary once');
  // The code cache asset is the one build.mjs made and checked; accepted by the pinned Node with the binary's flags.
  const cache = readFileSync(join(PROJECT, 'dist', 'waagent-main.cache'));
  assert.ok(binary.indexOf(cache.subarray(0, 4096)) > 0, 'the code cache is in the binary');
  const flags = /^const V8_FLAGS = (\[[^\]\n]*\]);/m.exec(readFileSync(join(PROJECT, 'build.mjs'), 'utf8'))![1]!;
  const check = `const vm=require('node:vm'),fs=require('node:fs');const s=new vm.Script(fs.readFileSync(process.argv[1],'latin1'),{filename:'waagent.js',cachedData:fs.readFileSync(process.argv[2])});process.stdout.write(String(s.cachedDataRejected))`;
  const r = spawnSync(PINNED_NODE, [...(JSON.parse(flags.replace(/'/g, '"')) as string[]), '-e', check, join(PROJECT, 'dist', 'waagent-main.js'), join(PROJECT, 'dist', 'waagent-main.cache')], { encoding: 'utf8' });
  assert.equal(r.stdout, 'false', r.stderr);
});

test('-version prints three lines and exits 0', () => {
  const r = waagent(['-version']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '');
  const lines = r.out.split('\n');
  assert.equal(lines.length, 4, r.out);
  assert.match(lines[0]!, /^WALinuxAgent-\d+\.\d+\.\d+\.\d+ running on \S+/);
  assert.match(lines[1]!, /^Node: 24\.\d+\.\d+ \(waagent-sea\)$/);
  assert.match(lines[2]!, /^Goal state agent: \d+\.\d+\.\d+\.\d+$/);
  // -version alone takes a short path in main.ts (no command-line modules loaded); with another argument it
  // goes through the command line: the same answer either way, whatever the spelling.
  for (const args of [['--version'], ['/version'], ['-version', '-verbose'], ['-verbose', '-version']]) {
    const o = waagent(args);
    assert.equal(o.code, 0, `${args.join(' ')}: ${o.err}`);
    assert.equal(o.out, r.out, args.join(' '));
  }
});

test('-show-configuration lists every key, sorted, with its default', () => {
  const conf = join(dir, 'comment-only.conf');
  writeFileSync(conf, '# nothing set: every key shows its default\n');
  const r = waagent([`-configuration-path:${conf}`, '-show-configuration']);
  assert.equal(r.code, 0, r.err);
  const expected = defaultConfig().entries().map(([k, v]) => `${k} = ${v}\n`).join('');
  assert.equal(r.out, expected);
  assert.ok(r.out.includes('OS.OpensslPath = /usr/bin/openssl\n'));
  assert.ok(r.out.includes('HttpProxy.Port = None\n'));
  assert.ok(r.out.includes('Debug.AgentMemoryQuota = 31457280\n'));
  assert.ok(r.out.includes('ResourceDisk.EnableNvme = False\n'));
  // And a value from the file shows through.
  writeFileSync(conf, 'ResourceDisk.Format=y\n');
  assert.ok(waagent([`-configuration-path:${conf}`, '-show-configuration']).out.includes('ResourceDisk.Format = True\n'));
});

test('-show-configuration without /etc/waagent.conf shows the defaults (in the box: whatever this host has installed)', { skip: needsRoot('VM-in-a-box') }, async () => {
  // The box hides an installed agent's /etc/waagent.conf, so the answer does not depend on this host.
  const box = await Box.start();
  try {
    const r = await box.run([bin, '-show-configuration']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, defaultConfig().entries().map(([k, v]) => `${k} = ${v}\n`).join(''));
    assert.match(r.stderr, /showing built-in defaults/);
  } finally {
    await box.close();
  }
});

test('-help exits 0; an unknown argument exits 2 with usage; a missing -configuration-path file exits 2', () => {
  const h = waagent(['-help']);
  assert.equal(h.code, 0);
  assert.match(h.out, /^\nusage: \S*waagent /);
  const u = waagent(['-no-such-command']);
  assert.equal(u.code, 2);
  assert.match(u.err, /unknown argument: -no-such-command/);
  assert.match(u.out, /usage:/);
  const m = waagent(['-configuration-path:/nonexistent/waagent.conf', '-show-configuration']);
  assert.equal(m.code, 2);
  assert.match(m.err, /configuration file \/nonexistent\/waagent\.conf does not exist/);
});

test('ldd: only glibc / libstdc++ class libraries', () => {
  const r = spawnSync('ldd', [bin], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const libs = r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
  assert.ok(libs.length >= 3, r.stdout);
  const allowed = /^(linux-vdso\.so\.1|\/lib64\/ld-linux-x86-64\.so\.2|\/lib\/ld-linux-aarch64\.so\.1|lib(c|m|dl|pthread|rt|stdc\+\+|gcc_s)\.so\.\d+)$/;
  for (const l of libs) assert.match(l, allowed, `unexpected shared library: ${l}`);
});

test('NODE_OPTIONS does not reach the binary: no inspector, no --require, same output', () => {
  const plain = waagent(['-version']);
  const marker = join(dir, 'required.marker');
  const evil = join(dir, 'evil.cjs');
  writeFileSync(evil, `require('fs').writeFileSync(${JSON.stringify(marker)}, 'loaded')`);
  for (const opts of ['--inspect', '--inspect-brk=127.0.0.1:0', `--require ${evil}`]) {
    const r = waagent(['-version'], { NODE_OPTIONS: opts });
    assert.equal(r.code, 0, `${opts}: ${r.err}`);
    assert.equal(r.out, plain.out, opts);
    assert.equal(r.err, '', `${opts}: ${r.err}`);
    assert.doesNotMatch(r.err, /Debugger listening/);
  }
  assert.equal(existsSync(marker), false, 'a --require from NODE_OPTIONS was executed');
  // Node's own flags on the command line are not options of the binary either.
  const flag = waagent(['--inspect', '-version']);
  assert.equal(flag.code, 2);
  assert.doesNotMatch(flag.err, /Debugger listening/);
});

test('EPIPE safe: a reader that is already gone does not crash the binary', async () => {
  // The read end is closed before the binary starts writing: every write gets EPIPE.
  for (const args of [['-help'], ['-show-configuration', `-configuration-path:${join(dir, 'comment-only.conf')}`], ['-version']]) {
    const child = spawn(bin, args, { env: cleanEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let err = '';
    child.stderr.on('data', (b: Buffer) => { err += b; });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
    assert.equal(signal, null, `${args[0]}: killed by ${signal}`);
    assert.equal(code, 0, `${args[0]}: ${err}`);
    assert.doesNotMatch(err, /EPIPE|Error|at /, `${args[0]}: ${err}`);
  }
  // The shell form from the issue.
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', `set -o pipefail; "${bin}" -help | head -1`], { encoding: 'utf8', env: cleanEnv });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, '\n');
  assert.equal(r.stderr, '');
});
