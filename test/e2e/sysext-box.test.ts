// The x64 sysext image (scripts/package.mjs --fast) merged into a VM-in-a-box the way systemd-sysext
// merges it on Flatcar: the squashfs mounted read-only by the kernel (a read-only loop device), its /usr
// laid over the box's /usr as a read-only overlay. Then, with only what the image ships (no
// /etc/waagent.conf beforehand): `/usr/bin/waagent -register-service` copies the shipped default conf
// to /etc and enables the shipped unit (systemctl is a recording stand-in; the box looks like a running
// systemd), writing nothing under /usr; `/usr/bin/waagent -daemon` with that conf provisions (password,
// key), runs the extension, enables the shipped firewall unit instead of writing one. Needs root
// (namespaces, loop devices, mounts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Box, PINNED_NODE, PROJECT } from '../sandbox/box.ts';
import { attachLoop, releaseLoop } from '../sandbox/disks.ts';
import { baseScenario } from '../fabric/testing.ts';
import { imageFiles, passwordMatches, shadowHash, sh } from './provision-helpers.ts';
import { X64_BIN } from './arm64-helpers.ts';
import { existsSync } from 'node:fs';

const VERSION = JSON.parse(readFileSync(join(PROJECT, 'package.json'), 'utf8')).version as string;
const skip = process.getuid?.() !== 0 ? 'needs root (namespaces, loop devices)' : !existsSync(X64_BIN) ? 'dist/waagent is not built (npm test builds it)' : false;
const CALLS = '/var/log/systemctl-calls';
/** systemctl stand-in: records its arguments; enable and daemon-reload succeed, anything else (is-enabled of cloud-init...) says no unit. */
const SYSTEMCTL = `#!/bin/sh\nprintf '%s\\n' "$*" >> ${CALLS}\ncase "$1" in enable|daemon-reload) exit 0 ;; esac\necho "not-found"\nexit 1\n`;

test('sysext image merged read-only over the box\'s /usr (root): -register-service and -daemon from /usr/bin/waagent, nothing written under /usr', { skip, timeout: 600_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'waagent-sysext-'));
  let box: Box | undefined;
  try {
    execFileSync(PINNED_NODE, [join(PROJECT, 'scripts', 'package.mjs'), '--out', out, '--fast', '--arch', 'x64'], { stdio: 'pipe' });
    const image = join(out, `waagent-sea-${VERSION}-x86-64.raw`);
    const shippedConf = execFileSync('unsquashfs', ['-cat', image, 'usr/share/waagent/waagent-sea.conf'], { encoding: 'utf8' });
    const { '/etc/waagent.conf': _conf, ...image_files } = imageFiles('');
    box = await Box.start({
      scenario: baseScenario({ vmSettings: false }),
      media: { kind: 'udf' },
      files: { ...image_files, '/usr/local/sbin/systemctl': { content: SYSTEMCTL, mode: 0o755 } },
    });
    const b = box;
    assert.equal(b.exists('/etc/waagent.conf'), false, 'no configuration before the extension is used');

    // Merge as systemd-sysext does: image mounted read-only, its /usr over the system's, read-only.
    const loop = await attachLoop(image, true);
    try {
      await sh(b, `mknod -m 600 /dev/waagent-sysext b ${loop.major} ${loop.minor} && mkdir -p /run/waagent-sysext`
        + ' && mount -t squashfs -o ro /dev/waagent-sysext /run/waagent-sysext'
        + ' && mount -t overlay waagent-sea -o ro,lowerdir=/run/waagent-sysext/usr:/usr /usr && mkdir -p /run/systemd/system');
    } finally {
      releaseLoop(loop);
    }
    assert.equal(b.readFile('/usr/lib/extension-release.d/extension-release.waagent-sea').split('\n')[0], 'ID=flatcar');
    const ro = await b.run(['touch', '/usr/bin/written-by-test']);
    assert.notEqual(ro.code, 0, 'the merged /usr is read-only');
    assert.match(ro.stderr, /Read-only file system/);
    const version = await b.run(['/usr/bin/waagent', '-version']);
    assert.equal(version.code, 0, version.stderr);
    assert.match(version.stdout, /^WALinuxAgent-3\.0\.0\.0 /);

    // -register-service from the extension.
    const reg = await b.run(['/usr/bin/waagent', '-register-service']);
    assert.equal(reg.code, 0, reg.stdout + reg.stderr);
    assert.match(reg.stdout, /Copied \/usr\/share\/waagent\/waagent-sea\.conf to \/etc\/waagent\.conf/);
    assert.match(reg.stdout, /Enabled the shipped waagent\.service/);
    assert.equal(b.readFile('/etc/waagent.conf'), shippedConf);
    assert.deepEqual(b.readFile(CALLS).split('\n').filter((l) => /^(enable|daemon-reload|disable)/.test(l)), ['enable waagent.service']);
    assert.equal(b.exists('/etc/systemd/system/waagent.service'), false, 'no unit of its own');
    const changed = b.changedFiles().filter((p) => p !== '/var/log/waagent.log' && p !== CALLS);
    assert.deepEqual(changed.filter((p) => !p.startsWith('/usr/local/sbin/')), ['/etc/waagent.conf'], changed.join(' '));
    const again = await b.run(['/usr/bin/waagent', '-register-service']);
    assert.equal(again.code, 0);
    assert.doesNotMatch(again.stdout, /Copied/, 'an existing /etc/waagent.conf is kept');

    // The shipped unit's command, with the shipped conf: provisioning, extension, firewall persistence.
    const daemon = b.spawn(['/usr/bin/waagent', '-daemon']);
    const fabric = b.fabric!;
    const health = await fabric.waitFor(() => fabric.health(), (h) => h.some((x) => x.state === 'Ready') || daemon.exited, 180_000);
    assert.ok(health.some((x) => x.state === 'Ready'), `Ready:\n${b.agentLog().split('\n').slice(-30).join('\n')}\n${daemon.stderr()}`);
    assert.equal(passwordMatches(shadowHash(b, 'tester'), 'Test-Passw0rd!'), true);
    const key = (await fabric.sshKeys()).find((k) => k.id === 'test-key-a')!.publicKey;
    assert.equal(b.readFile('/home/tester/.ssh/authorized_keys'), `${key}\n`);
    await fabric.waitFor(() => fabric.statusUploads(), (u) => daemon.exited || u.some((d) => JSON.stringify(d.json ?? '').includes('protectedSettingsSha256=')), 180_000);
    await fabric.waitFor(async () => b.readFile(CALLS), (c) => daemon.exited || c.includes('enable waagent-network-setup.service'), 60_000);
    assert.equal(b.exists('/etc/systemd/system/waagent-network-setup.service'), false, 'the shipped firewall unit is enabled, none written');
    const rules = await b.run(['iptables', '-w', '-t', 'security', '-S', 'OUTPUT']);
    assert.match(rules.stdout, /-A OUTPUT -d 168\.63\.129\.16\/32 -p tcp -m owner --uid-owner 0 -j ACCEPT/, 'the shipped conf turns the firewall on');
    daemon.kill('SIGTERM');
    const end = await daemon.wait(60_000);
    assert.equal(end.code, 0, end.stderr);
    assert.deepEqual(b.changedFiles().filter((p) => p.startsWith('/usr/') && !p.startsWith('/usr/local/sbin/')), [], 'nothing written under /usr');
  } catch (e) {
    if (box) (e as Error).message += `\n--- agent log:\n${box.agentLog().split('\n').slice(-40).join('\n')}`;
    throw e;
  } finally {
    await box?.close();
    rmSync(out, { recursive: true, force: true });
  }
});
