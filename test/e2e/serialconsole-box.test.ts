// `waagent -serialconsole` (the BUILT binary) in the VM-in-a-box on a Debian-like /etc/default/grub
// (with an update-grub that really regenerates a grub.cfg from it) and on a Flatcar-like
// /oem/grub.cfg: the kernel console goes to ttyS0, the file changed is backed up, a second run
// changes nothing, and Flatcar never runs a grub regenerator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Box } from '../sandbox/box.ts';
import { fingerprintPath } from './deprovision-helpers.ts';
import { statSync } from 'node:fs';
import { AGENT_BIN, firstReason, needsAgentBin, needsRoot } from '../helpers/skip.ts';

const WAAGENT = AGENT_BIN;
const skip = firstReason(needsRoot('VM-in-a-box'), needsAgentBin());
const SERIAL = 'console=ttyS0,115200n8 earlyprintk=ttyS0,115200';

const DEBIAN_GRUB = `# If you change this file, run 'update-grub' afterwards to update
# /boot/grub/grub.cfg.
# For full documentation of the options in this file, see:
#   info -f grub -n 'Simple configuration'

GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=\`lsb_release -i -s 2> /dev/null || echo Debian\`
GRUB_CMDLINE_LINUX_DEFAULT="quiet"
GRUB_CMDLINE_LINUX="net.ifnames=0 rootdelay=300"

# Uncomment to disable graphical terminal (grub-pc only)
#GRUB_TERMINAL=console
`;

// A stand-in for Debian's update-grub: it reads /etc/default/grub like grub-mkconfig does and writes
// the kernel line, and records each call.
const UPDATE_GRUB = `#!/bin/sh
set -e
echo "update-grub $*" >> /var/log/update-grub.calls
. /etc/default/grub
mkdir -p /boot/grub
cat > /boot/grub/grub.cfg.new <<EOF
menuentry 'Debian GNU/Linux' {
	linux /boot/vmlinuz root=/dev/sda1 ro \${GRUB_CMDLINE_LINUX} \${GRUB_CMDLINE_LINUX_DEFAULT}
}
EOF
mv /boot/grub/grub.cfg.new /boot/grub/grub.cfg
`;

const FLATCAR_OS_RELEASE = 'NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\nID_LIKE=coreos\nVERSION_ID=4152.2.0\n';
const FLATCAR_OEM_GRUB = `# Flatcar GRUB settings for this OEM
set oem_id="azure"
set linux_console="console=tty0"
set linux_append="flatcar.autologin"
`;

async function serialconsole(box: Box) {
  const r = await box.run([WAAGENT, '-serialconsole'], { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `-serialconsole: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r;
}

test('serialconsole in the box (root, namespaces): Debian /etc/default/grub edited, backed up, update-grub run; a second run changes nothing', { skip }, async () => {
  const box = await Box.start({ files: {
    '/etc/default/grub': DEBIAN_GRUB,
    '/usr/sbin/update-grub': { content: UPDATE_GRUB, mode: 0o755 },
    // The generated file as the image had it (update-grub is only run where /boot/grub exists).
    '/boot/grub/grub.cfg': "menuentry 'Debian GNU/Linux' {\n\tlinux /boot/vmlinuz root=/dev/sda1 ro net.ifnames=0 rootdelay=300 quiet\n}\n",
  } });
  try {
    const r1 = await serialconsole(box);
    assert.match(r1.stdout, /Configured kernel to use ttyS0 as the boot console: .*\/etc\/default\/grub \(backup .*\/etc\/default\/grub\.waagent\.bak\)/);
    const grub = box.readFile('/etc/default/grub');
    assert.match(grub, new RegExp(`^GRUB_CMDLINE_LINUX="net\\.ifnames=0 rootdelay=300 ${SERIAL}"$`, 'm'));
    assert.deepEqual(grub.split('\n').filter((l) => !l.startsWith('GRUB_CMDLINE_LINUX=')), DEBIAN_GRUB.split('\n').filter((l) => !l.startsWith('GRUB_CMDLINE_LINUX=')), 'every other line untouched');
    assert.equal(box.readFile('/etc/default/grub.waagent.bak'), DEBIAN_GRUB, 'the backup is the original');
    assert.equal(statSync(box.hostPath('/etc/default/grub')).mode & 0o777, 0o644, 'mode kept');
    assert.equal(box.readFile('/var/log/update-grub.calls'), 'update-grub \n', 'grub.cfg regenerated once');
    assert.match(box.readFile('/boot/grub/grub.cfg'), new RegExp(`linux /boot/vmlinuz root=/dev/sda1 ro net\\.ifnames=0 rootdelay=300 ${SERIAL} quiet`));

    const before = ['/etc/default/grub', '/etc/default/grub.waagent.bak', '/boot/grub/grub.cfg'].map((p) => fingerprintPath(box.root.path(p)));
    const ino = statSync(box.hostPath('/etc/default/grub')).ino;
    const r2 = await serialconsole(box);
    assert.match(r2.stdout, /serial console already configured/);
    assert.deepEqual(['/etc/default/grub', '/etc/default/grub.waagent.bak', '/boot/grub/grub.cfg'].map((p) => fingerprintPath(box.root.path(p))), before);
    assert.equal(statSync(box.hostPath('/etc/default/grub')).ino, ino, 'not even rewritten');
    assert.equal(box.readFile('/var/log/update-grub.calls'), 'update-grub \n', 'no second regeneration');
  } finally {
    await box.close();
  }
});

test('serialconsole in the box (root, namespaces): Flatcar /oem/grub.cfg gets ttyS0 as the last console, backed up, no regenerator; idempotent', { skip }, async () => {
  const box = await Box.start({ files: {
    '/etc/os-release': FLATCAR_OS_RELEASE,
    '/oem/grub.cfg': FLATCAR_OEM_GRUB,
    // Present but must not run on Flatcar (its grub.cfg is not generated).
    '/usr/sbin/update-grub': { content: UPDATE_GRUB, mode: 0o755 },
  } });
  try {
    const r1 = await serialconsole(box);
    assert.match(r1.stdout, /Configured kernel to use ttyS0 as the boot console: .*\/oem\/grub\.cfg/);
    assert.equal(box.readFile('/oem/grub.cfg'), FLATCAR_OEM_GRUB.replace('set linux_console="console=tty0"', `set linux_console="console=tty0 ${SERIAL}"`));
    assert.equal(box.readFile('/oem/grub.cfg.waagent.bak'), FLATCAR_OEM_GRUB);
    assert.equal(box.exists('/var/log/update-grub.calls'), false, 'no grub regenerator on Flatcar');
    assert.equal(box.exists('/etc/default/grub.waagent.bak'), false, '/etc/default/grub is not Flatcar\'s');

    const before = fingerprintPath(box.root.path('/oem/grub.cfg'));
    const r2 = await serialconsole(box);
    assert.match(r2.stdout, /already configured/);
    assert.equal(fingerprintPath(box.root.path('/oem/grub.cfg')), before);
    assert.equal(box.readFile('/oem/grub.cfg.waagent.bak'), FLATCAR_OEM_GRUB, 'the backup keeps the original');
  } finally {
    await box.close();
  }
});

test('serialconsole in the box (root, namespaces): an Azure Flatcar image that already uses ttyS0 is left alone', { skip }, async () => {
  const azure = `set oem_id="azure"\nset linux_console="${SERIAL}"\n`;
  const box = await Box.start({ files: { '/etc/os-release': FLATCAR_OS_RELEASE, '/oem/grub.cfg': azure } });
  try {
    const r = await serialconsole(box);
    assert.match(r.stdout, /already configured/);
    assert.equal(box.readFile('/oem/grub.cfg'), azure);
    assert.equal(box.exists('/oem/grub.cfg.waagent.bak'), false);
  } finally {
    await box.close();
  }
});

test('serialconsole in the box (root, namespaces): a failing update-grub is a failure (exit 1); the next run regenerates', { skip }, async () => {
  const box = await Box.start({ files: {
    '/etc/default/grub': DEBIAN_GRUB,
    '/usr/sbin/update-grub': { content: '#!/bin/sh\necho "grub-probe: error: cannot find a device for / (is /dev mounted?)." >&2\nexit 1\n', mode: 0o755 },
    '/boot/grub/grub.cfg': 'old\n',
  } });
  try {
    const r = await box.run([WAAGENT, '-serialconsole'], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /grub\.cfg not regenerated.*update-grub failed \(exit 1\): grub-probe: error/);
    assert.match(box.readFile('/etc/default/grub'), /console=ttyS0/);
    assert.equal(box.readFile('/etc/default/grub.waagent.bak'), DEBIAN_GRUB);
    assert.equal(box.readFile('/boot/grub/grub.cfg'), 'old\n');

    // Fixed tool, second run: the file is already right, but grub.cfg lacks the console, so it is
    // regenerated now instead of reporting a success that is not in effect.
    box.writeFile('/usr/sbin/update-grub', UPDATE_GRUB, { mode: 0o755 });
    const again = await serialconsole(box);
    assert.match(again.stdout, /already configured; grub\.cfg lacked it; \/boot\/grub\/grub\.cfg regenerated/);
    assert.match(box.readFile('/boot/grub/grub.cfg'), /console=ttyS0/);
    assert.equal(box.readFile('/etc/default/grub.waagent.bak'), DEBIAN_GRUB, 'backup still the original');
    const third = await serialconsole(box);
    assert.doesNotMatch(third.stdout, /regenerated/);
  } finally {
    await box.close();
  }
});
