// Rescue mode end to end: an OS disk attached to another VM. Inside the VM-in-a-box a second root
// tree is mounted at /mnt/rescue (an overlay whose lower layer is the box's own root and whose upper
// layer is on the box's /tmp, so it starts as a full copy of the system). That tree is provisioned
// by the BUILT binary run in a chroot (plus one extension pass), the chroot's helper mounts are
// taken away, and then `waagent -deprovision+user -force -root:/mnt/rescue` runs from OUTSIDE the
// tree, in the box's own root. Checked from the host: the tree is deprovisioned with ITS own
// waagent.conf (which locks root's password), and nothing of the running (rescue) system changed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { PROJECT } from '../sandbox/box.ts';
import type { Box } from '../sandbox/box.ts';
import {
  LEASES, extensionPass, SCENARIO_USER, WAAGENT, assertOk, diffSnapshots,
  freshBox, removedPaths, snapshot,
} from './deprovision-helpers.ts';
import { firstReason, needsAgentBin, needsRoot } from '../helpers/skip.ts';
import { treeSnapshot } from '../helpers/tree.ts';

// The tree is an overlay mounted inside the box, whose root is an overlay of ours: when our `/` is
// itself an overlay (scripts/with-host-waagent.sh), that is a third level, more than the kernel stacks.
const rootFs = readFileSync('/proc/self/mounts', 'utf8').split('\n').map((l) => l.split(' ')).filter((f) => f[1] === '/').at(-1)?.[2];
const skip = firstReason(needsRoot('VM-in-a-box'), needsAgentBin(),
  rootFs === 'overlay' ? "this machine's / is already an overlay (scripts/with-host-waagent.sh?): the tree's overlay in the box would be a third level; run it on the host itself" : false);
const T = '/mnt/rescue';
const UPPER = '/tmp/rescue/upper';
/** Outside-the-tree paths that share names with what deprovision removes inside it. */
const OUTSIDE = ['/etc/ssh/ssh_host_rsa_key', '/var/lib/waagent/outside-sentinel', '/var/log/azure/Outside.Ext/handler.log', '/root/.bash_history', '/etc/resolv.conf', '/etc/machine-id', ...LEASES];

async function sh(box: Box, script: string, what: string, timeoutMs = 60_000): Promise<string> {
  const r = await box.run(['bash', '-euo', 'pipefail', '-c', script], { timeoutMs });
  assertOk(r, what);
  return r.stdout;
}

/** Fingerprints of everything in the tree's upper layer: what any command changed in the tree. */
function treeState(box: Box): Map<string, string> {
  return treeSnapshot(box.root.path(UPPER));
}

test('rescue deprovision (root, namespaces): -root:/mnt/rescue cleans a provisioned tree from outside and touches nothing else', { skip }, async () => {
  // The box itself is the rescue VM, never provisioned: it has its own admin "outsider", host key,
  // agent state, leases and root password, all planted here, at the paths deprovision cleans.
  const box = await freshBox();
  try {
    await sh(box, [
      'mkdir -p /var/lib/waagent /var/log/azure',
      'useradd -m outsider',
      'echo "root:Rescue-Root-Pw-1" | chpasswd',
      'printf "outsider ALL=(ALL) ALL\\n" > /etc/sudoers.d/waagent && chmod 0440 /etc/sudoers.d/waagent',
      'printf "outside key\\n" > /etc/ssh/ssh_host_rsa_key && chmod 600 /etc/ssh/ssh_host_rsa_key',
      'printf "rescue VM state\\n" > /var/lib/waagent/outside-sentinel',
      'mkdir -p /var/log/azure/Outside.Ext && printf "rescue VM extension\\n" > /var/log/azure/Outside.Ext/handler.log',
      'printf "0123456789abcdef0123456789abcdef\\n" > /etc/machine-id',
    ].join('\n'), 'prepare the rescue VM');

    // The attached OS disk: a full root tree at /mnt/rescue, provisioned in a chroot.
    await sh(box, [
      `mkdir -p /tmp/rescue/upper /tmp/rescue/work ${T}`,
      `mount -t overlay rescue-disk -o lowerdir=/,upperdir=${UPPER},workdir=/tmp/rescue/work ${T}`,
      `mount --rbind /dev ${T}/dev`,
      `mount -t proc proc ${T}/proc`,
      `mount --bind /sys ${T}/sys`,
      `mount -t tmpfs chroot-run ${T}/run`,
      `mount -t tmpfs chroot-tmp ${T}/tmp`,
      `mkdir -p ${T}${PROJECT} && mount --bind ${PROJECT} ${T}${PROJECT} && mount -o remount,bind,ro ${T}${PROJECT}`,
    ].join('\n'), 'mount the tree');
    assertOk(await box.run(['chroot', T, WAAGENT, '-provision'], { timeoutMs: 180_000 }), 'provision the tree in a chroot');
    await extensionPass(box, T);
    await sh(box, [
      // After provisioning, the disk's configuration is changed to differ from the rescue VM's: it
      // now asks deprovision to lock root's password.
      `sed 's/^Provisioning.DeleteRootPassword=n$/Provisioning.DeleteRootPassword=y/' /etc/waagent.conf > ${T}/etc/waagent.conf.new`,
      `mv ${T}/etc/waagent.conf.new ${T}/etc/waagent.conf`,
      // The project first: a clone under /tmp (CI clones into mktemp -d) is mounted on top of the
      // chroot's /tmp, which would otherwise be busy.
      `umount ${T}${PROJECT}`, `umount -R ${T}/dev`, `umount ${T}/proc ${T}/sys ${T}/run ${T}/tmp`,
      ...LEASES.map((l) => `mkdir -p $(dirname ${T}${l}) && printf "lease {}\\n" > ${T}${l}`),
      ...LEASES.map((l) => `mkdir -p $(dirname ${l}) && printf "rescue VM lease {}\\n" > ${l}`),
    ].join('\n'), 'take the chroot mounts away; leases on both sides');

    assert.match(box.readFile(`${T}/etc/waagent.conf`), /^Provisioning\.DeleteRootPassword=y$/m);
    assert.match(box.readFile('/etc/waagent.conf'), /^Provisioning\.DeleteRootPassword=n$/m);
    // The tree is provisioned; the rescue VM is not.
    assert.match(box.readFile(`${T}/etc/passwd`), new RegExp(`^${SCENARIO_USER}:`, 'm'));
    assert.doesNotMatch(box.readFile('/etc/passwd'), new RegExp(`^${SCENARIO_USER}:`, 'm'));
    assert.ok(box.exists(`${T}/var/lib/waagent/Waagent.Test.ShellExt-1.0.0/config/0.settings`));
    assert.ok(box.exists(`${T}/var/lib/waagent/ovf-env.xml`));
    assert.ok(readdirSync(box.root.path(`${T}/etc/ssh`)).includes('ssh_host_ed25519_key'));
    assert.match(box.readFile(`${T}/etc/sudoers.d/waagent`), /^azureuser /m);
    const treeShadowRoot = () => box.readFile(`${T}/etc/shadow`).split('\n').find((l) => l.startsWith('root:'))!.split(':')[1]!;
    assert.match(treeShadowRoot(), /^\$/, 'root has a password hash in the tree');
    const outside = await snapshot(box, OUTSIDE);
    const outsideShadow = box.readFile('/etc/shadow');
    const hostnameBefore = (await box.run(['hostname'])).stdout.trim();

    // Dry run from outside: lists the tree's items, changes nothing anywhere.
    const tree0 = treeState(box);
    const dry = await box.run([WAAGENT, '-deprovision+user', '-dry-run', `-root:${T}`]);
    assertOk(dry, 'rescue dry run');
    assert.match(dry.stdout, new RegExp(`^Target: the system mounted at ${T}, configuration \\S*${T}/etc/waagent\\.conf\n`));
    assert.match(dry.stdout, new RegExp(`Dry run \\(target root ${T}\\): nothing is changed`));
    assert.ok(!dry.stdout.includes('waagent service will be stopped'), 'no service to stop on a disk');
    assert.match(dry.stdout, /WARNING! root password will be disabled/, 'the tree\'s own waagent.conf is read');
    const listed = removedPaths(dry.stdout);
    assert.ok(listed.includes('/var/lib/waagent/ovf-env.xml') && listed.includes('/etc/ssh/ssh_host_ed25519_key'), dry.stdout);
    assert.deepEqual(diffSnapshots(tree0, treeState(box)), [], 'the dry run changed nothing in the tree');
    assert.deepEqual(diffSnapshots(outside, await snapshot(box, OUTSIDE)), [], 'nor outside');

    // The real run, from outside the tree.
    const run = await box.run([WAAGENT, '-deprovision+user', '-force', `-root:${T}`], { timeoutMs: 120_000 });
    assertOk(run, 'rescue deprovision');
    assert.deepEqual(removedPaths(run.stdout), listed, 'removed exactly what the dry run listed');

    // The tree, checked from the host.
    const tp = (p: string) => box.root.path(`${T}${p}`);
    assert.deepEqual(readdirSync(tp('/etc/ssh')).filter((n) => n.startsWith('ssh_host_')), [], 'no host keys in the tree');
    assert.doesNotMatch(readFileSync(tp('/etc/passwd'), 'utf8'), new RegExp(`^${SCENARIO_USER}:`, 'm'), 'user deleted in the tree (userdel --root)');
    assert.doesNotMatch(readFileSync(tp('/etc/shadow'), 'utf8'), new RegExp(`^${SCENARIO_USER}:`, 'm'));
    assert.match(readFileSync(tp('/etc/passwd'), 'utf8'), /^outsider:/m, 'other users stay');
    assert.throws(() => lstatSync(tp('/home/azureuser')), 'home deleted in the tree');
    assert.equal(readFileSync(tp('/etc/sudoers.d/waagent'), 'utf8'), 'outsider ALL=(ALL) ALL\n', 'only the user\'s sudoers line went');
    assert.deepEqual(readdirSync(tp('/var/lib/waagent')), [], 'Lib.Dir emptied');
    assert.deepEqual(readdirSync(tp('/var/log/azure')), []);
    for (const l of LEASES) assert.throws(() => lstatSync(tp(l)), `${l} gone in the tree`);
    assert.equal(readFileSync(tp('/etc/hostname'), 'utf8'), 'localhost.localdomain\n');
    assert.match(treeShadowRoot(), /^[!*]/, 'root locked in the tree (its own DeleteRootPassword=y)');
    assert.throws(() => lstatSync(tp('/etc/resolv.conf')));

    // The rescue VM: byte for byte as before.
    assert.deepEqual(diffSnapshots(outside, await snapshot(box, OUTSIDE)), [], 'nothing outside the tree changed');
    assert.equal(box.readFile('/etc/shadow'), outsideShadow, 'the rescue VM\'s root password untouched');
    assert.equal((await box.run(['hostname'])).stdout.trim(), hostnameBefore, 'the running hostname untouched');
    assert.equal(box.readFile('/var/lib/waagent/outside-sentinel'), 'rescue VM state\n');
    assert.equal(box.readFile('/etc/ssh/ssh_host_rsa_key'), 'outside key\n');
    for (const l of LEASES) assert.equal(box.readFile(l), 'rescue VM lease {}\n');
  } finally {
    await box.close();
  }
});

test('rescue deprovision (root, namespaces): a disk without a readable waagent.conf (Flatcar: a link into the unmounted /usr) uses the built-in defaults, not the rescue VM\'s settings', { skip }, async () => {
  const { Box } = await import('../sandbox/box.ts');
  // The rescue VM's own configuration would lock root's password and look elsewhere for state.
  const box = await Box.start({ files: { '/etc/waagent.conf': 'Provisioning.DeleteRootPassword=y\nLib.Dir=/srv/rescue-vm-state\n' } });
  try {
    await sh(box, [
      'mkdir -p /mnt/disk/etc/ssh /mnt/disk/var/lib/waagent /mnt/disk/srv/rescue-vm-state',
      'ln -s ../usr/share/waagent/waagent.conf /mnt/disk/etc/waagent.conf',
      'printf "k\\n" > /mnt/disk/etc/ssh/ssh_host_ed25519_key',
      'printf "state\\n" > /mnt/disk/var/lib/waagent/provisioned',
      'printf "not agent state\\n" > /mnt/disk/srv/rescue-vm-state/keep',
    ].join('\n'), 'a minimal Flatcar-like root');
    const r = await box.run([WAAGENT, '-deprovision', '-force', '-root:/mnt/disk']);
    assertOk(r, 'deprovision of the minimal root');
    assert.match(r.stdout, /^Target: the system mounted at \/mnt\/disk, configuration built-in defaults$/m);
    assert.doesNotMatch(r.stdout, /root password will be disabled/, 'the rescue VM\'s DeleteRootPassword=y does not apply');
    assert.deepEqual(removedPaths(r.stdout), ['/etc/ssh/ssh_host_ed25519_key', '/var/lib/waagent/provisioned']);
    assert.equal(box.readFile('/mnt/disk/srv/rescue-vm-state/keep'), 'not agent state\n', 'the rescue VM\'s Lib.Dir is not used');
    assert.ok(lstatSync(box.root.pathNoFollow('/mnt/disk/etc/waagent.conf')).isSymbolicLink(), 'the dangling link stays');
  } finally {
    await box.close();
  }
});
