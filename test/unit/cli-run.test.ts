import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS, feature } from '../../src/cli/commands.ts';
import type { CommandContext, Registry } from '../../src/cli/commands.ts';
import { EXIT } from '../../src/util/exit.ts';
import { MemoryOutput } from '../../src/util/output.ts';
import { runCli } from '../../src/cli/run.ts';
import type { RunOptions } from '../../src/cli/run.ts';
import { distro, versionText } from '../../src/cli/version.ts';
import { sortedKeys } from '../../src/config/keys.ts';
import { log } from '../../src/util/logger.ts';

const dir = mkdtempSync(join(tmpdir(), 'waagent-cli-'));
const missingDefault = join(dir, 'no-such-waagent.conf');
let n = 0;
function conf(text: string): string {
  const p = join(dir, `c${n++}.conf`);
  writeFileSync(p, text);
  return p;
}
// SAFETY: unit tests never run a real feature on this host (a real -deprovision -force would reset
// the hostname and delete /etc/resolv.conf). Every feature command is replaced by a stub that only
// records that it was called; the face layer's own commands (help, version, show-configuration,
// start) are kept.
const FACE = new Set(['help', 'version', 'show-configuration', 'start']);
const stubbed: string[] = [];
const SAFE: Registry = Object.fromEntries(Object.entries(COMMANDS).map(([name, spec]) => [
  name,
  FACE.has(name) ? spec : { ...spec, run: async () => { stubbed.push(name); return 99; } },
])) as Registry;

async function run(argv: string[], extra: RunOptions = {}): Promise<{ code: number; out: string; err: string; logFile: string }> {
  const io = new MemoryOutput();
  const logFile = join(dir, `log${n++}.log`);
  const code = await runCli(argv, { io, defaultConfigPath: missingDefault, logFile, argv0: 'waagent', registry: SAFE, ...extra });
  return { code, out: io.stdout, err: io.stderr, logFile };
}
const LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z (VERBOSE|INFO|WARNING|ERROR) \S+ /;

test('-help and no arguments: usage on stdout, exit 0; the usage lists every command and the exit codes', async () => {
  for (const argv of [['-help'], [], ['/?']]) {
    const r = await run(argv);
    assert.equal(r.code, 0);
    assert.match(r.out, /^\nusage: waagent /);
    assert.equal(r.err, '');
  }
  const { out } = await run(['-help']);
  for (const c of ['-version', '-daemon', '-start', '-run-exthandlers', '-provision', '-deprovision+user', '-register-service',
    '-show-configuration', '-collect-logs', '-setup-firewall=IP', '-serialconsole', '-dry-run', '-root:PATH']) {
    assert.ok(out.includes(c), c);
  }
  assert.match(out, /Exit codes:\n  0  success\n  1  .*\n  2  usage or configuration error.*\nUnlike/);
});

test('unknown argument: error on stderr, usage on stdout, exit 2', async () => {
  const r = await run(['-daemon', '-bogus']);
  assert.equal(r.code, EXIT.USAGE);
  assert.equal(r.err, 'waagent: unknown argument: -bogus\n');
  assert.match(r.out, /usage:/);
});

test('-version: three lines, no configuration read even if the named file is missing', async () => {
  const r = await run(['-configuration-path:/nonexistent/waagent.conf', '-version']);
  assert.equal(r.code, 0);
  const lines = r.out.split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^WALinuxAgent-3\.0\.0\.0 running on \S+/);
  assert.equal(lines[1], `Node: ${process.versions.node} (waagent-sea)`);
  assert.equal(lines[2], 'Goal state agent: 3.0.0.0');
  assert.equal(existsSync(r.logFile), false);
});

test('version text reads os-release ID (lower-cased) and VERSION_ID, quoted or not', () => {
  const p = conf('NAME="Flatcar Container Linux by Kinvolk"\nID=Flatcar\nVERSION_ID="4152.2.0"\n');
  assert.deepEqual(distro([p]), { id: 'flatcar', version: '4152.2.0' });
  assert.equal(versionText([join(dir, 'none'), p]).split('\n')[0], 'WALinuxAgent-3.0.0.0 running on flatcar 4152.2.0');
  assert.equal(versionText([join(dir, 'none')]).split('\n')[0], 'WALinuxAgent-3.0.0.0 running on unknown');
});

test('-show-configuration: every key sorted with its value; defaults when the default file is missing', async () => {
  const r = await run(['-show-configuration']);
  assert.equal(r.code, 0);
  assert.match(r.err, /does not exist; showing built-in defaults/);
  const lines = r.out.trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => l.split(' = ')[0]), sortedKeys());
  assert.ok(lines.includes('OS.OpensslPath = /usr/bin/openssl'));
  assert.ok(lines.includes('HttpProxy.Port = None'));
  assert.ok(lines.includes('ResourceDisk.Format = False'));

  const c = conf('ResourceDisk.Format=y\nHttpProxy.Port=3128\nLogs.Verbose=perhaps\n');
  const r2 = await run([`-configuration-path:${c}`, '-show-configuration']);
  assert.equal(r2.code, 0);
  assert.ok(r2.out.includes('ResourceDisk.Format = True\n'));
  assert.ok(r2.out.includes('HttpProxy.Port = 3128\n'));
  // The warning names file, line and key, on stderr: stdout stays machine-readable.
  assert.match(r2.err, new RegExp(`WARNING MainThread ${c.replace(/\./g, '\\.')}:3: invalid value for Logs\\.Verbose`));
  assert.ok(!r2.out.includes('WARNING'));
});

test('a missing file named by -configuration-path is an error, exit 2', async () => {
  const r = await run(['-configuration-path:/nonexistent/w.conf', '-show-configuration']);
  assert.equal(r.code, EXIT.USAGE);
  assert.equal(r.err, 'waagent: configuration file /nonexistent/w.conf does not exist\n');
  assert.equal(r.out, '');
});

function registryWith(name: 'daemon' | 'collect-logs', handler: (ctx: CommandContext) => Promise<number>, opts = {}): Registry {
  return { ...COMMANDS, [name]: feature(async () => ({ handler }), (m) => m.handler, opts) };
}

test('a command that needs configuration: a missing /etc/waagent.conf is exit 2 with a hint', async () => {
  let ran = false;
  const r = await run(['-daemon'], { registry: registryWith('daemon', async () => { ran = true; return 0; }) });
  assert.equal(r.code, EXIT.USAGE);
  assert.equal(ran, false);
  assert.match(r.err, /configuration file .*no-such-waagent\.conf does not exist \(or name one with -configuration-path:PATH\)/);
});

test('config-driven logging: file appender in waagent format, thread/prefix, Logs.Verbose, warnings in the file', async () => {
  const c = conf('Logs.Verbose=y\nUnknown.Key=1\n');
  let seen: CommandContext | undefined;
  const registry = registryWith('daemon', async (ctx) => {
    seen = ctx;
    log.verbose('verbose detail');
    log.info('hello w\u00f6rld https://acct.blob.core.windows.net/c/b?sv=2020&sig=SECRETSIG');
    return 0;
  }, { thread: 'Daemon', prefix: 'Daemon' });
  const r = await run([`-configuration-path:${c}`, '-daemon'], { registry });
  assert.equal(r.code, 0);
  assert.equal(seen?.config.bool('Logs.Verbose'), true);
  assert.equal(seen?.configPath, c);
  const file = readFileSync(r.logFile, 'utf8').split('\n').filter(Boolean);
  for (const l of file) assert.match(l, LINE);
  assert.ok(file.some((l) => / WARNING Daemon Daemon .*unknown key Unknown\.Key/.test(l)));
  assert.ok(file.some((l) => / VERBOSE Daemon Daemon verbose detail$/.test(l)), 'Logs.Verbose=y puts VERBOSE in the file');
  const hello = file.find((l) => l.includes('hello'))!;
  assert.match(hello, / INFO Daemon Daemon hello w\\xf6rld https:\/\/acct\.blob\.core\.windows\.net\/c\/b\?<redacted>$/);
  // stdout gets INFO and up (no -verbose), the file gets VERBOSE.
  assert.ok(r.out.includes('hello'));
  assert.ok(!r.out.includes('verbose detail'));
  assert.ok(!r.out.includes('SECRETSIG') && !readFileSync(r.logFile, 'utf8').includes('SECRETSIG'));
});

test('-verbose raises the terminal level; without Logs.Verbose the file stays at INFO', async () => {
  const c = conf('# defaults\n');
  const registry = registryWith('daemon', async () => { log.verbose('fine detail'); return 0; });
  const r = await run([`-configuration-path:${c}`, '-daemon', '-verbose'], { registry });
  assert.match(r.out, /VERBOSE MainThread fine detail/);
  assert.match(readFileSync(r.logFile, 'utf8'), /VERBOSE MainThread fine detail/, '-verbose also applies to the file');
  const r2 = await run([`-configuration-path:${c}`, '-daemon'], { registry });
  assert.ok(!r2.out.includes('fine detail'));
  assert.ok(!existsSync(r2.logFile) || !readFileSync(r2.logFile, 'utf8').includes('fine detail'));
});

test('a handler that throws: logged as Failed to run, exit 1 (waagent would exit 0)', async () => {
  const c = conf('# defaults\n');
  const registry = registryWith('collect-logs', async () => { throw new Error('disk on fire'); });
  const r = await run([`-configuration-path:${c}`, '-collect-logs'], { registry });
  assert.equal(r.code, EXIT.FAILURE);
  assert.match(r.out, /ERROR MainThread Failed to run 'collect-logs': disk on fire/);
  assert.match(readFileSync(r.logFile, 'utf8'), /Failed to run 'collect-logs': disk on fire/);
});

test('/dev/console echo (Logs.Console) only until provisioned', async () => {
  const lib = mkdtempSync(join(dir, 'lib-'));
  const c = conf(`Lib.Dir=${lib}\n`);
  const consoleDevice = join(dir, 'console');
  writeFileSync(consoleDevice, '');
  const registry = registryWith('daemon', async () => { log.info('to the console'); return 0; }, { console: true });
  await run([`-configuration-path:${c}`, '-daemon'], { registry, consoleDevice });
  assert.match(readFileSync(consoleDevice, 'utf8'), /INFO MainThread to the console/);
  writeFileSync(join(lib, 'provisioned'), '');
  writeFileSync(consoleDevice, '');
  await run([`-configuration-path:${c}`, '-daemon'], { registry, consoleDevice });
  assert.equal(readFileSync(consoleDevice, 'utf8'), '');
  const off = conf(`Lib.Dir=${mkdtempSync(join(dir, 'lib-'))}\nLogs.Console=n\n`);
  await run([`-configuration-path:${off}`, '-daemon'], { registry, consoleDevice });
  assert.equal(readFileSync(consoleDevice, 'utf8'), '');
});

test('-root:PATH must be an existing directory', async () => {
  const before = stubbed.length;
  const r = await run(['-deprovision', '-root:/nonexistent/rescue']);
  assert.equal(r.code, EXIT.USAGE);
  assert.match(r.err, /-root:\/nonexistent\/rescue is not a directory/);
  assert.equal(stubbed.length, before, 'the handler did not run');
});

test('known keys this build does not act on: one warning each at start when set to a non-default value, saying what happens instead', async () => {
  const { INERT_KEYS } = await import('../../src/config/inert.ts');
  const c = conf([
    'OS.EnableRDMA=y', 'Debug.AgentCpuThrottledTimeThreshold=20', 'ResourceDisk.EnableSwapEncryption=y',
    'AutoUpdate.Enabled=n', 'Debug.EnableGAVersioning=y', // Debug.EnableGAVersioning=y is its default: no warning
    'Debug.EnableExtensionPolicy=y', 'Debug.AgentCpuQuota=20', // acted upon: no warning
    'Logs.Verbose=n', '',
  ].join('\n'));
  const registry = registryWith('daemon', async () => 0, { thread: 'Daemon', prefix: 'Daemon' });
  const r = await run([`-configuration-path:${c}`, '-daemon'], { registry });
  assert.equal(r.code, 0);
  const warnings = readFileSync(r.logFile, 'utf8').split('\n').filter((l) => / WARNING .* is set but this agent does not act on it: /.test(l));
  const keys = warnings.map((l) => / WARNING Daemon Daemon (\S+)=/.exec(l)![1]).sort();
  assert.deepEqual(keys, ['AutoUpdate.Enabled', 'Debug.AgentCpuThrottledTimeThreshold', 'OS.EnableRDMA', 'ResourceDisk.EnableSwapEncryption']);
  assert.ok(warnings.some((l) => l.includes('AutoUpdate.Enabled=n is set but this agent does not act on it: this agent never updates itself')));
  // Commands that need no configuration stay quiet; and every inert key is a known key of the table.
  const v = await run([`-configuration-path:${c}`, '-version']);
  assert.doesNotMatch(v.out + v.err, /does not act on it/);
  for (const k of Object.keys(INERT_KEYS)) assert.ok(sortedKeys().includes(k as never), k);
});
