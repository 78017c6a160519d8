// The command launch contract (docs/extensions.md §3.6, §8) with real processes: environment, cwd, process
// group killed on timeout (grandchildren too), background children not waited for, output capture and
// truncation, error texts and codes, the systemd-run scope with a fallback when systemd-run fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerLayout } from '../../src/extensions/layout.ts';
import { extensionSliceName, formatOutput, handoverCode, launchCommand, resetScopeFailure, type LaunchOptions } from '../../src/extensions/launcher.ts';
import { ExtensionError, ExtensionOperationError } from '../../src/extensions/errors.ts';
import { trimLogHead } from '../../src/extensions/commandLog.ts';

const NAME = 'Test.Publisher.ShellExt';

function setup(scripts: Record<string, string>) {
  const d = mkdtempSync(join(tmpdir(), 'ext-launch-'));
  const roots = { libDir: join(d, 'lib'), extLogDir: join(d, 'log') };
  const layout = new HandlerLayout(roots, NAME, '1.0.0');
  mkdirSync(join(layout.dir, 'bin'), { recursive: true });
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(join(layout.dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(layout.dir, name), 0o755);
  }
  const base = (over: Partial<LaunchOptions>): LaunchOptions => ({
    layout, command: 'bin/x.sh', operation: 'enable', wireServer: '127.0.0.1', baseEnv: { PATH: '/usr/bin:/bin', KEEP_ME: 'yes' }, ...over,
  });
  return { d, layout, base };
}

/** Running (a zombie waiting for a reaper counts as dead). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch { return false; }
}

function envOf(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\0')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

test('environment, cwd, leading slash stripped, no temp files left, command log written', async () => {
  const { d, layout, base } = setup({ 'bin/x.sh': 'pwd > "$AZURE_GUEST_AGENT_EXTENSION_PATH/cwd.txt"; env -0 > "$AZURE_GUEST_AGENT_EXTENSION_PATH/env.txt"; echo out; echo err >&2' });
  try {
    const before = readdirSync(layout.dir).sort();
    const r = await launchCommand(base({ command: '/bin/x.sh', seqNo: 4, baseEnv: { PATH: '/usr/bin:/bin', KEEP_ME: 'yes', ConfigSequenceNumber: 'stale' } }));
    assert.equal(r.exitCode, 0);
    assert.equal(r.fullCommand, join(layout.dir, 'bin/x.sh'));
    assert.equal(r.output, '[stdout]\nout\n\n\n[stderr]\nerr\n');
    assert.equal(readFileSync(join(layout.dir, 'cwd.txt'), 'utf8').trim(), layout.dir);
    const env = envOf(join(layout.dir, 'env.txt'));
    assert.equal(env['AZURE_GUEST_AGENT_EXTENSION_PATH'], layout.dir);
    assert.equal(env['AZURE_GUEST_AGENT_EXTENSION_VERSION'], '1.0.0');
    assert.equal(env['AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS'], '127.0.0.1');
    assert.equal(env['ConfigSequenceNumber'], '4');
    assert.equal(env['AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES'], '[{"Key": "ExtensionTelemetryPipeline", "Value": "1.0"}]');
    assert.equal(env['AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE'], 'NOT_RUN');
    assert.equal(env['KEEP_ME'], 'yes');
    assert.equal(env['ConfigExtensionName'], undefined);
    assert.equal(env['http_proxy'], undefined);
    assert.deepEqual(Object.keys(r.env).sort(), ['AZURE_GUEST_AGENT_EXTENSION_PATH', 'AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES', 'AZURE_GUEST_AGENT_EXTENSION_VERSION',
      'AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE', 'AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS', 'ConfigSequenceNumber']);
    assert.deepEqual(readdirSync(layout.dir).sort(), [...before, 'cwd.txt', 'env.txt'].sort());
    const logText = readFileSync(layout.commandLogPath(), 'utf8');
    assert.match(logText, /Executing command: .*bin\/x\.sh with environment variables: \{"AZURE_GUEST_AGENT_EXTENSION_PATH": /);
    assert.match(logText, /Command: \/bin\/x\.sh\n\[stdout\]\nout\n\[stderr\]\nerr/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('no settings => ConfigSequenceNumber 0; MC name; update variables; conf proxy exported only when env has none', async () => {
  const { d, layout, base } = setup({ 'bin/x.sh': 'env -0 > "$AZURE_GUEST_AGENT_EXTENSION_PATH/env.txt"' });
  try {
    await launchCommand(base({ operation: 'update', extensionName: 'ext1', proxy: { host: 'proxy.local', port: 3128 },
      extraEnv: { VERSION: '1.0.0', AZURE_GUEST_AGENT_UPDATING_FROM_VERSION: '0.9', AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE: '0' } }));
    let env = envOf(join(layout.dir, 'env.txt'));
    assert.equal(env['ConfigSequenceNumber'], '0');
    assert.equal(env['ConfigExtensionName'], 'ext1');
    assert.equal(env['VERSION'], '1.0.0');
    assert.equal(env['AZURE_GUEST_AGENT_UPDATING_FROM_VERSION'], '0.9');
    assert.equal(env['AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE'], '0');
    assert.equal(env['AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE'], undefined, 'update does not get the uninstall code');
    assert.equal(env['http_proxy'], 'http://proxy.local:3128');
    assert.equal(env['HTTPS_PROXY'], 'http://proxy.local:3128');
    assert.ok(existsSync(layout.commandLogPath('ext1')));
    await launchCommand(base({ proxy: { host: 'proxy.local', port: 3128 }, baseEnv: { PATH: '/bin', https_proxy: 'http://other:1' } }));
    env = envOf(join(layout.dir, 'env.txt'));
    assert.equal(env['https_proxy'], 'http://other:1');
    assert.equal(env['http_proxy'], undefined);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('non-zero exit => ExtensionOperationError with the operation code, exit code and output', async () => {
  const { d, base } = setup({ 'bin/x.sh': 'echo "some progress"; echo "it broke" >&2; exit 3' });
  try {
    await assert.rejects(launchCommand(base({ operation: 'install' })), (e: unknown) => {
      assert.ok(e instanceof ExtensionOperationError);
      assert.equal(e.code, 1007);
      assert.equal(e.exitCode, 3);
      assert.equal(handoverCode(e), 3);
      assert.match(e.describe(), /^\[ExtensionOperationError\] Non-zero exit code: 3, \/.*\/bin\/x\.sh\n\[stdout\]\nsome progress\n\n\n\[stderr\]\nit broke\n$/);
      return true;
    });
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('missing script => exit 127 reported; missing handler dir => Failed to launch', async () => {
  const { d, layout, base } = setup({});
  try {
    await assert.rejects(launchCommand(base({ command: 'bin/nope.sh', operation: 'disable' })), (e: unknown) => e instanceof ExtensionOperationError && e.exitCode === 127 && e.code === 1010);
    rmSync(layout.dir, { recursive: true });
    await assert.rejects(launchCommand(base({ operation: 'uninstall' })), (e: unknown) => e instanceof ExtensionError && e.code === 1000 && /^Failed to launch/.test(e.message));
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('timeout kills the whole process group, grandchildren included => code 1011', async () => {
  const { d, layout, base } = setup({
    'bin/x.sh': 'sleep 300 & echo $! > "$AZURE_GUEST_AGENT_EXTENSION_PATH/grandchild.pid"; echo waiting; sleep 300',
  });
  try {
    await assert.rejects(launchCommand(base({ timeoutSec: 1 })), (e: unknown) => {
      assert.ok(e instanceof ExtensionError && !(e instanceof ExtensionOperationError));
      assert.equal(e.code, 1011);
      assert.equal(handoverCode(e), 1011);
      assert.match(e.message, /^Timeout\(1\): \/.*bin\/x\.sh\n\[stdout\]\nwaiting\n/);
      return true;
    });
    const pid = Number(readFileSync(join(layout.dir, 'grandchild.pid'), 'utf8'));
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(pid), false, 'grandchild must be dead');
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('a forked background child does not delay completion and is left running', async () => {
  const { d, layout, base } = setup({ 'bin/x.sh': 'sleep 60 & echo $! > "$AZURE_GUEST_AGENT_EXTENSION_PATH/bg.pid"; echo started' });
  try {
    const r = await launchCommand(base({}));
    assert.equal(r.output, '[stdout]\nstarted\n\n\n[stderr]\n');
    const pid = Number(readFileSync(join(layout.dir, 'bg.pid'), 'utf8'));
    assert.equal(alive(pid), true, 'the daemonised child outlives the command');
    process.kill(pid, 'SIGKILL');
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('large output: first 3200 bytes read per stream, tails kept within the 3200-char message budget', async () => {
  const { d, base } = setup({ 'bin/x.sh': 'i=0; while [ $i -lt 400 ]; do echo "line-$i-abcdefgh"; i=$((i+1)); done; echo short >&2; exit 1' });
  try {
    await assert.rejects(launchCommand(base({})), (e: unknown) => {
      const m = (e as Error).message;
      const output = m.slice(m.indexOf('\n') + 1);
      assert.ok(output.length <= 3200, String(output.length));
      assert.match(output, /\n\n\[stderr\]\nshort\n$/);
      assert.ok(!output.includes('line-0-'), 'head dropped');
      return true;
    });
  } finally { rmSync(d, { recursive: true, force: true }); }
  assert.equal(formatOutput('a', 'b'), '[stdout]\na\n\n[stderr]\nb');
  const big = formatOutput('o'.repeat(5000), 'e'.repeat(5000));
  assert.equal(big, `[stdout]\n${'o'.repeat(1590)}\n\n[stderr]\n${'e'.repeat(1590)}`);
  const uneven = formatOutput('o'.repeat(100), 'e'.repeat(5000));
  assert.equal(uneven, `[stdout]\n${'o'.repeat(100)}\n\n[stderr]\n${'e'.repeat(3080)}`);
  const uneven2 = formatOutput('x'.repeat(2000) + 'END', 'e'.repeat(10));
  assert.ok(uneven2.startsWith('[stdout]\nxx') && uneven2.includes('END\n\n[stderr]\neeeeeeeeee'));
});

test('systemd present: runs in a scope under the extension slice with the CPU quota (fake systemd-run)', async () => {
  resetScopeFailure();
  const { d, layout, base } = setup({ 'bin/x.sh': 'echo ran >> "$AZURE_GUEST_AGENT_EXTENSION_PATH/runs.txt"; echo hello' });
  try {
    const marker = join(d, 'systemd-marker');
    mkdirSync(marker);
    const fake = join(d, 'systemd-run');
    // Records its argv, announces the scope like the real one, then runs the command after the options.
    writeFileSync(fake, `#!/bin/sh\nprintf '%s\\n' "$@" > ${d}/sdrun-args.txt\necho "Running scope as unit: x.scope" >&2\nwhile [ "\${1#--}" != "$1" ]; do shift; done\nexec "$@"\n`);
    chmodSync(fake, 0o755);
    const r = await launchCommand(base({ limits: { enforce: true, cpuQuotaPercentage: 25, sliceName: `${NAME}.run-1`, systemdMarker: marker, systemdRun: fake } }));
    assert.equal(r.scoped, true);
    assert.equal(r.output, '[stdout]\nhello\n\n\n[stderr]\n');
    const args = readFileSync(join(d, 'sdrun-args.txt'), 'utf8').split('\n');
    assert.match(args[0]!, /^--unit=enable_[0-9a-f-]{36}$/);
    assert.ok(args.includes('--scope'));
    assert.ok(args.includes('--slice=azure-vmextensions-Test.Publisher.ShellExt.run_1.slice'));
    assert.ok(args.includes('--property=CPUQuota=25%'));
    assert.deepEqual(args.slice(-4, -1), ['/bin/sh', '-c', join(layout.dir, 'bin/x.sh')]);
    assert.equal(readFileSync(join(layout.dir, 'runs.txt'), 'utf8'), 'ran\n');

    // systemd-run failing by itself: the command runs once, plainly; later commands skip the scope.
    writeFileSync(fake, `#!/bin/sh\necho "Failed to connect to bus: No such file or directory" >&2\nexit 1\n`);
    const r2 = await launchCommand(base({ limits: { enforce: true, sliceName: NAME, systemdMarker: marker, systemdRun: fake } }));
    assert.equal(r2.scoped, false);
    assert.equal(readFileSync(join(layout.dir, 'runs.txt'), 'utf8'), 'ran\nran\n');
    const r3 = await launchCommand(base({ limits: { enforce: true, sliceName: NAME, systemdMarker: marker, systemdRun: fake } }));
    assert.equal(r3.scoped, false);
    // No systemd: plain run.
    resetScopeFailure();
    const r4 = await launchCommand(base({ limits: { enforce: true, sliceName: NAME, systemdMarker: join(d, 'absent'), systemdRun: fake } }));
    assert.equal(r4.scoped, false);
    assert.equal(readFileSync(join(layout.dir, 'runs.txt'), 'utf8'), 'ran\nran\nran\nran\n');
  } finally { rmSync(d, { recursive: true, force: true }); resetScopeFailure(); }
});

test('slice names and command-log trimming', () => {
  assert.equal(extensionSliceName('Microsoft.OSTCExtensions.VMAccess-For-Linux'), 'azure-vmextensions-Microsoft.OSTCExtensions.VMAccess_For_Linux.slice');
  const d = mkdtempSync(join(tmpdir(), 'ext-log-'));
  try {
    const p = join(d, 'CommandExecution.log');
    writeFileSync(p, Array.from({ length: 100 }, (_, i) => `line ${i}`).join('\n') + '\n');
    trimLogHead(p, 100);
    const t = readFileSync(p, 'utf8');
    assert.ok(t.length <= 100);
    assert.ok(t.startsWith('line ') && t.endsWith('line 99\n'));
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('a Lib.Dir with spaces and shell metacharacters is one path to the shell; the manifest command line keeps its arguments', async () => {
  const d = mkdtempSync(join(tmpdir(), 'ext-launch-'));
  try {
    const weird = join(d, "lib dir;touch PWNED $(touch PWNED2) `x` 'q' & \"d\"");
    const layout = new HandlerLayout({ libDir: weird, extLogDir: join(d, 'log') }, NAME, '1.0.0');
    mkdirSync(join(layout.dir, 'bin'), { recursive: true });
    writeFileSync(join(layout.dir, 'bin/x.sh'), '#!/bin/sh\nprintf "%s|" "$@" > "$AZURE_GUEST_AGENT_EXTENSION_PATH/args.txt"\n');
    chmodSync(join(layout.dir, 'bin/x.sh'), 0o755);
    const r = await launchCommand({ layout, command: 'bin/x.sh enable "two words"', operation: 'enable', wireServer: '127.0.0.1', baseEnv: { PATH: '/usr/bin:/bin' } });
    assert.equal(r.exitCode, 0);
    assert.equal(readFileSync(join(layout.dir, 'args.txt'), 'utf8'), 'enable|two words|');
    for (const n of ['PWNED', 'PWNED2']) {
      assert.equal(existsSync(join(layout.dir, n)), false);
      assert.equal(existsSync(join(d, n)), false);
    }
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('the proxy URL given to extensions: HttpProxy.Host with or without a scheme, credentials, its own port', async () => {
  const { d, layout, base } = setup({ 'bin/x.sh': 'env -0 > "$AZURE_GUEST_AGENT_EXTENSION_PATH/env.txt"' });
  try {
    for (const [host, want] of [
      ['proxy.local', 'http://proxy.local:3128'],
      ['http://proxy.local', 'http://proxy.local:3128'],
      ['https://proxy.local/', 'https://proxy.local:3128'],
      ['http://user:pw@proxy.local', 'http://user:pw@proxy.local:3128'],
      ['http://proxy.local:8080', 'http://proxy.local:8080'],
    ] as const) {
      await launchCommand(base({ proxy: { host, port: 3128 }, baseEnv: { PATH: '/bin' } }));
      const env = envOf(join(layout.dir, 'env.txt'));
      assert.equal(env['http_proxy'], want, host);
      assert.equal(env['HTTPS_PROXY'], want, host);
    }
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('shellQuote: plain paths as they are, anything else single-quoted so sh reads it back unchanged', async () => {
  const { shellQuote } = await import('../../src/extensions/launcher.ts');
  assert.equal(shellQuote('/var/lib/waagent/Pub.Ext-1.0.0'), '/var/lib/waagent/Pub.Ext-1.0.0');
  const { execFileSync } = await import('node:child_process');
  for (const s of ["a b", "it's", "$(x) `y` ;&|<>*?[]{}~#!\\\"", "'", "\n"]) {
    assert.equal(execFileSync('/bin/sh', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' }), s);
  }
});
