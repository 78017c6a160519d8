// scripts/package.mjs (what `npm run package` runs) on the built binaries, with --fast (uncompressed
// squashfs, xz -0: the release's files and layout without minutes of compression). Each sysext image is
// read back by squashfs-tools: its exact file list with modes and owners, the extension-release fields,
// the shipped units and default conf, the binary byte for byte; the .xz files decompress to the binaries;
// SHA256SUMS passes `sha256sum -c`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PINNED_NODE, PROJECT } from '../sandbox/box.ts';
import { ARM64_BIN, X64_BIN, arm64Missing, elfMachine } from './arm64-helpers.ts';

const VERSION = JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8')).version as string;
const skip = arm64Missing();

function sha256(data: Buffer): string { return createHash('sha256').update(data).digest('hex'); }

/** `unsquashfs -lls`: path -> "mode owner" for every entry (the image root is squashfs-root). */
function listing(image: string): Record<string, string> {
  const out: Record<string, string> = {};
  const text = execFileSync('unsquashfs', ['-lls', image], { encoding: 'utf8', maxBuffer: 4 << 20 });
  for (const line of text.split('\n')) {
    const m = /^([-dlrwxst]{10}) (\S+)\s+\d+ \S+ \S+ squashfs-root(\/\S*)?$/.exec(line);
    if (m) out[m[3] ?? '/'] = `${m[1]} ${m[2]}`;
  }
  return out;
}

function cat(image: string, path: string): Buffer {
  return execFileSync('unsquashfs', ['-cat', image, path], { maxBuffer: 256 << 20 });
}

test('npm run package (--fast): one sysext image per architecture with the exact file list and extension-release, .xz files, SHA256SUMS', { skip, timeout: 600_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'waagent-package-'));
  try {
    execFileSync(PINNED_NODE, [join(PROJECT, 'scripts', 'package.mjs'), '--out', out, '--fast'], { stdio: 'pipe', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SOURCE_DATE_EPOCH: '1700000000' } });
    const names = [`waagent-sea-${VERSION}-x86-64.raw`, `waagent-${VERSION}-linux-x64.xz`, `waagent-sea-${VERSION}-arm64.raw`, `waagent-${VERSION}-linux-arm64.xz`];
    assert.deepEqual(readdirSync(out).sort(), [...names, 'SHA256SUMS'].sort(), 'only the release files, no temporary left');

    for (const [arch, sysArch, bin] of [['x64', 'x86-64', X64_BIN], ['arm64', 'arm64', ARM64_BIN]] as const) {
      const image = join(out, `waagent-sea-${VERSION}-${sysArch}.raw`);
      assert.equal(readFileSync(image).subarray(0, 4).toString('latin1'), 'hsqs', 'a squashfs image');
      assert.deepEqual(listing(image), {
        '/': 'drwxr-xr-x root/root',
        '/usr': 'drwxr-xr-x root/root',
        '/usr/bin': 'drwxr-xr-x root/root',
        '/usr/bin/waagent': '-rwxr-xr-x root/root',
        '/usr/lib': 'drwxr-xr-x root/root',
        '/usr/lib/extension-release.d': 'drwxr-xr-x root/root',
        '/usr/lib/extension-release.d/extension-release.waagent-sea': '-rw-r--r-- root/root',
        '/usr/lib/systemd': 'drwxr-xr-x root/root',
        '/usr/lib/systemd/system': 'drwxr-xr-x root/root',
        '/usr/lib/systemd/system/waagent-network-setup.service': '-rw-r--r-- root/root',
        '/usr/lib/systemd/system/waagent.service': '-rw-r--r-- root/root',
        '/usr/lib/tmpfiles.d': 'drwxr-xr-x root/root',
        '/usr/lib/tmpfiles.d/waagent-sea.conf': '-rw-r--r-- root/root',
        '/usr/share': 'drwxr-xr-x root/root',
        '/usr/share/waagent': 'drwxr-xr-x root/root',
        '/usr/share/waagent/waagent-sea.conf': '-rw-r--r-- root/root',
      }, `${arch}: nothing outside /usr, nothing else in it`);
      const release = cat(image, 'usr/lib/extension-release.d/extension-release.waagent-sea').toString();
      const fields = Object.fromEntries(release.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
      assert.deepEqual(fields, { ID: 'flatcar', SYSEXT_LEVEL: '1.0', ARCHITECTURE: sysArch, EXTENSION_RELOAD_MANAGER: '1' });
      const unit = cat(image, 'usr/lib/systemd/system/waagent.service').toString();
      assert.match(unit, /^ExecStart=\/usr\/bin\/waagent -daemon$/m);
      assert.match(unit, /^ConditionPathExists=\/etc\/waagent\.conf$/m);
      assert.match(cat(image, 'usr/lib/systemd/system/waagent-network-setup.service').toString(), /^ExecStart=\/usr\/bin\/waagent -setup-firewall=168\.63\.129\.16$/m);
      assert.match(cat(image, 'usr/lib/tmpfiles.d/waagent-sea.conf').toString(), /^C \/etc\/waagent\.conf - - - - \/usr\/share\/waagent\/waagent-sea\.conf$/m);
      const conf = cat(image, 'usr/share/waagent/waagent-sea.conf').toString();
      assert.match(conf, /^OS\.HomeDir=\/home$/m, 'the Flatcar layout');
      assert.match(conf, /^AutoUpdate\.Enabled=n$/m);
      const shipped = cat(image, 'usr/bin/waagent');
      assert.equal(sha256(shipped), sha256(readFileSync(bin)), `${arch}: the built binary, unchanged`);
      const xz = join(out, `waagent-${VERSION}-linux-${arch}.xz`);
      const plain = execFileSync('xz', ['-dc', xz], { maxBuffer: 256 << 20 });
      assert.equal(sha256(plain), sha256(readFileSync(bin)), `${arch}: the .xz is the binary`);
      assert.equal(elfMachine(bin), arch === 'x64' ? 'x86-64' : 'aarch64');
    }
    const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8');
    assert.deepEqual(sums.trim().split('\n').map((l) => l.split('  ')[1]), names);
    const check = execFileSync('sha256sum', ['-c', 'SHA256SUMS'], { cwd: out, encoding: 'utf8' });
    assert.equal(check, names.map((n) => `${n}: OK\n`).join(''));

    // The same binaries and SOURCE_DATE_EPOCH give the same image.
    const again = mkdtempSync(join(tmpdir(), 'waagent-package-'));
    try {
      execFileSync(PINNED_NODE, [join(PROJECT, 'scripts', 'package.mjs'), '--out', again, '--fast', '--arch', 'arm64'], { stdio: 'pipe', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', SOURCE_DATE_EPOCH: '1700000000' } });
      const n = `waagent-sea-${VERSION}-arm64.raw`;
      assert.equal(sha256(readFileSync(join(again, n))), sha256(readFileSync(join(out, n))), 'reproducible');
    } finally {
      rmSync(again, { recursive: true, force: true });
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
