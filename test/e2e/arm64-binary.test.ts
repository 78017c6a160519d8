// Both built binaries: the right ELF machine each, stripped, each within its own stripped Node + 1 MiB;
// and dist/waagent-arm64 run under qemu-user (arm64-helpers.ts) answering -version, -help,
// -show-configuration and a usage error exactly as the x64 binary does. Only commands that neither
// reach the network nor change the host run here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT } from '../sandbox/box.ts';
import { defaultConfig } from '../../src/config/config.ts';
import { ARM64_BIN, X64_BIN, arm64Argv, arm64Missing, elfMachine } from './arm64-helpers.ts';

const skip = arm64Missing();
const cleanEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' };

function run(argv: string[]) {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: cleanEnv, timeout: 120_000 });
  return { code: r.status, signal: r.signal, out: r.stdout, err: r.stderr };
}

function sections(file: string): string {
  return execFileSync('readelf', ['-S', '-W', file], { encoding: 'utf8', maxBuffer: 4 << 20 });
}

test('both binaries: x86-64 and aarch64 ELF, stripped, each within its stripped Node + 1 MiB', { skip }, () => {
  assert.equal(elfMachine(X64_BIN), 'x86-64');
  assert.equal(elfMachine(ARM64_BIN), 'aarch64');
  const dir = mkdtempSync(join(tmpdir(), 'waagent-arm64-size-'));
  try {
    for (const [arch, bin, tool] of [['x64', X64_BIN, 'strip'], ['arm64', ARM64_BIN, 'aarch64-linux-gnu-strip']] as const) {
      const s = sections(bin);
      assert.doesNotMatch(s, /\.symtab|\.debug_info/, `${bin} is stripped`);
      assert.match(s, /\.note|NODE_SEA/, `${bin} has sections`);
      const node = join(dir, `node-${arch}`);
      copyFileSync(join(PROJECT, 'node_modules', `node-linux-${arch}`, 'bin', 'node'), node);
      execFileSync(tool, ['--strip-all', node], { stdio: 'pipe' });
      const over = statSync(bin).size - statSync(node).size;
      assert.ok(over > 0 && over <= 1024 * 1024, `${bin}: stripped Node + ${over} bytes`);
      rmSync(node);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('arm64 under qemu-user: -version, -help, -show-configuration and a usage error answer as on x64', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-arm64-cli-'));
  try {
    const version = run(arm64Argv(ARM64_BIN, '-version'));
    assert.equal(version.code, 0, version.err);
    assert.equal(version.err, '');
    assert.match(version.out, /^WALinuxAgent-\d+\.\d+\.\d+\.\d+ running on \S+.*\nNode: 24\.\d+\.\d+ \(waagent-sea\)\nGoal state agent: \d+\.\d+\.\d+\.\d+\n$/);
    assert.equal(version.out, run([X64_BIN, '-version']).out);

    const help = run(arm64Argv(ARM64_BIN, '-help'));
    assert.equal(help.code, 0, help.err);
    assert.match(help.out, /-register-service/);
    assert.equal(help.out, run([X64_BIN, '-help']).out.replace(X64_BIN, ARM64_BIN), 'the same text, naming the binary run');

    const conf = join(dir, 'waagent.conf');
    writeFileSync(conf, 'ResourceDisk.Format=y\nOS.EnableFirewall=y\nOS.EnableFirewallPeriod=60\n');
    const show = run(arm64Argv(ARM64_BIN, `-configuration-path:${conf}`, '-show-configuration'));
    assert.equal(show.code, 0, show.err);
    const expected = defaultConfig().entries().map(([k, v]) => `${k} = ${v}\n`).join('')
      .replace('ResourceDisk.Format = False\n', 'ResourceDisk.Format = True\n')
      .replace('OS.EnableFirewall = False\n', 'OS.EnableFirewall = True\n')
      .replace('OS.EnableFirewallPeriod = 300\n', 'OS.EnableFirewallPeriod = 60\n');
    assert.equal(show.out, expected);
    assert.equal(show.out, run([X64_BIN, `-configuration-path:${conf}`, '-show-configuration']).out);

    const bad = run(arm64Argv(ARM64_BIN, '-no-such-command'));
    assert.equal(bad.code, 2, bad.out + bad.err);
    assert.match(bad.err, /no-such-command/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
