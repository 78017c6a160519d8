// `waagent -deprovision[+user]` (the BUILT binary) in the VM-in-a-box, after a real provisioning run
// by the same binary and one extension pass (-run-exthandlers): the prompt answered "n" and a closed stdin change
// nothing, -dry-run lists exactly what the real run then removes and changes nothing, and
// -deprovision+user -force leaves no host key, user, sudoers line, extension state, ovf-env.xml,
// lease or hostname behind; a plain resolv.conf goes, a systemd-resolved symlink stays.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import {
  LEASES, SCENARIO_USER, WAAGENT, assertOk, diffSnapshots, provisionedBox, removedPaths, snapshot,
} from './deprovision-helpers.ts';
import { firstReason, needsAgentBin, needsRoot } from '../helpers/skip.ts';

const skip = firstReason(needsRoot('VM-in-a-box'), needsAgentBin());
const EXTRA = [...LEASES, '/etc/resolv.conf'];

test('deprovision+user in the box (root, namespaces): "n" and EOF change nothing, -dry-run lists what -force removes, -force cleans everything', { skip }, async () => {
  const box = await provisionedBox();
  try {
    // What provisioning and the extension pass left: the things deprovision must remove.
    assert.ok(readdirSync(box.root.path('/etc/ssh')).some((n) => n.startsWith('ssh_host_')), 'provisioning made host keys');
    assert.match(box.readFile('/etc/passwd'), new RegExp(`^${SCENARIO_USER}:`, 'm'));
    assert.match(box.readFile('/etc/sudoers.d/waagent'), new RegExp(`^${SCENARIO_USER} `, 'm'));
    assert.ok(box.exists('/var/lib/waagent/ovf-env.xml'));
    assert.ok(box.exists('/var/lib/waagent/Waagent.Test.ShellExt-1.0.0/config/0.settings'), 'extension state');
    assert.ok(box.exists('/var/log/azure/Waagent.Test.ShellExt'), 'extension logs');
    assert.equal((await box.run(['hostname'])).stdout.trim(), 'demovm', 'provisioning set the scenario hostname');
    assert.ok(lstatSync(box.root.pathNoFollow('/etc/resolv.conf')).isFile(), 'a plain resolv.conf (the host\'s copy)');
    const before = await snapshot(box, EXTRA);

    // 1. The prompt, answered "n": nothing changes, exit 0 (like waagent).
    const no = await box.run([WAAGENT, '-deprovision+user'], { input: 'n\n' });
    assertOk(no, 'deprovision answered n');
    assert.match(no.stdout, /WARNING! azureuser account and entire home directory will be deleted\.\nWARNING! \/etc\/resolv\.conf will be deleted\.\n/);
    assert.ok(no.stdout.endsWith('Do you want to proceed (y/n)'), JSON.stringify(no.stdout.slice(-80)));
    assert.deepEqual(diffSnapshots(before, await snapshot(box, EXTRA)), [], '"n" changed nothing');

    // 2. No answer at all (stdin closed): nothing changes and it says so (non-zero, unlike waagent's 0).
    const eof = await box.run([WAAGENT, '-deprovision+user'], { input: '' });
    assert.equal(eof.code, 1, eof.stderr);
    assert.match(eof.stderr, /nothing was changed/);
    assert.deepEqual(diffSnapshots(before, await snapshot(box, EXTRA)), [], 'EOF changed nothing');

    // 2b. -root naming the running system itself (a link to /, a bind mount of /) is refused.
    assertOk(await box.run(['bash', '-c', 'ln -s / /mnt/self && mkdir /mnt/bind && mount --bind / /mnt/bind']), 'make / reachable twice');
    for (const alias of ['/mnt/self', '/mnt/bind']) {
      const r = await box.run([WAAGENT, '-deprovision+user', '-force', `-root:${alias}`]);
      assert.equal(r.code, 2, `${alias}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /is the running system itself/);
    }
    assertOk(await box.run(['bash', '-c', 'umount /mnt/bind && rmdir /mnt/bind && rm /mnt/self']), 'undo');
    assert.deepEqual(diffSnapshots(before, await snapshot(box, EXTRA)), [], '-root:<the running system> changed nothing');

    // 3. -dry-run: every item listed, nothing changed.
    const dry = await box.run([WAAGENT, '-deprovision+user', '-dry-run']);
    assertOk(dry, 'dry run');
    assert.match(dry.stdout, /Dry run: nothing is changed/);
    assert.ok(!dry.stdout.includes('(y/n)'), 'no prompt in a dry run');
    assert.deepEqual(diffSnapshots(before, await snapshot(box, EXTRA)), [], 'the dry run changed nothing');
    const listed = removedPaths(dry.stdout);
    for (const p of [...LEASES, '/etc/resolv.conf', '/var/lib/waagent/ovf-env.xml', '/var/lib/waagent/provisioned',
      '/var/lib/waagent/Waagent.Test.ShellExt-1.0.0', '/var/lib/waagent/history', '/var/log/azure/Waagent.Test.ShellExt', '/root/.bash_history', '/var/log/waagent.log']) {
      assert.ok(listed.includes(p), `dry run lists ${p}:\n${dry.stdout}`);
    }
    for (const k of readdirSync(box.root.path('/etc/ssh')).filter((n) => n.startsWith('ssh_host_'))) assert.ok(listed.includes(`/etc/ssh/${k}`), k);
    for (const p of listed) assert.doesNotThrow(() => lstatSync(box.root.pathNoFollow(p)), `${p} exists before the run`);
    assert.match(dry.stdout, /^ {2}delete user azureuser with its home directory \/home\/azureuser \(userdel -r\) and its lines in \/etc\/sudoers\.d\/waagent$/m);
    assert.match(dry.stdout, /^ {2}write localhost\.localdomain to \/etc\/hostname and set the running hostname$/m);

    // 4. The real thing.
    const run = await box.run([WAAGENT, '-deprovision+user', '-force'], { timeoutMs: 120_000 });
    assertOk(run, 'deprovision+user -force');
    assert.ok(!run.stdout.includes('(y/n)'), '-force does not prompt');
    assert.deepEqual(removedPaths(run.stdout), listed, 'the run removed exactly what the dry run listed');
    for (const p of listed) assert.throws(() => lstatSync(box.root.pathNoFollow(p)), `${p} is gone`);

    assert.deepEqual(readdirSync(box.root.path('/etc/ssh')).filter((n) => n.startsWith('ssh_host_')), [], 'no host keys');
    assert.doesNotMatch(box.readFile('/etc/passwd'), new RegExp(`^${SCENARIO_USER}:`, 'm'), 'user gone');
    assert.doesNotMatch(box.readFile('/etc/shadow'), new RegExp(`^${SCENARIO_USER}:`, 'm'));
    assert.doesNotMatch(box.readFile('/etc/group'), new RegExp(`^${SCENARIO_USER}:`, 'm'));
    assert.equal(box.exists('/home/azureuser'), false, 'home gone');
    const sudoers = box.exists('/etc/sudoers.d/waagent') ? box.readFile('/etc/sudoers.d/waagent') : '';
    assert.doesNotMatch(sudoers, /azureuser/, 'no sudoers entry');
    assert.deepEqual(readdirSync(box.root.path('/var/lib/waagent')), [], 'Lib.Dir emptied (the directory stays)');
    assert.deepEqual(readdirSync(box.root.path('/var/log/azure')), [], 'extension logs gone');
    for (const l of LEASES) assert.equal(box.exists(l), false, `${l} gone`);
    assert.equal(box.readFile('/etc/hostname'), 'localhost.localdomain\n');
    assert.equal((await box.run(['hostname'])).stdout.trim(), 'localhost.localdomain', 'running hostname reset');
    assert.throws(() => lstatSync(box.root.pathNoFollow('/etc/resolv.conf')), 'a plain resolv.conf is deleted');
    assert.equal(box.exists('/root/.bash_history'), false);

    // 5. Twice = same state: the user is already gone (ovf-env.xml too), nothing fails.
    const again = await box.run([WAAGENT, '-deprovision+user', '-force'], { timeoutMs: 120_000 });
    assertOk(again, 'second deprovision');
    assert.match(again.stdout, /WARNING! ovf-env\.xml is not found\.\nWARNING! Skip delete user\./);
    assert.deepEqual(removedPaths(again.stdout), []);
  } finally {
    await box.close();
  }
});

test('deprovision in the box (root, namespaces): "Yes" proceeds; a systemd-resolved resolv.conf symlink is kept; Flatcar loses machine-id; the user stays without +user', { skip }, async () => {
  const box = await provisionedBox({}, { extension: false });
  try {
    // systemd-resolved's layout (also Flatcar's): /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf
    const ln = await box.run(['bash', '-c', 'mkdir -p /run/systemd/resolve && printf "nameserver 127.0.0.53\\n" > /run/systemd/resolve/stub-resolv.conf && ln -sfn ../run/systemd/resolve/stub-resolv.conf /etc/resolv.conf']);
    assertOk(ln, 'make the resolved symlink');
    // After provisioning, call the image Flatcar (its deprovision also removes /etc/machine-id).
    box.writeFile('/etc/os-release', 'NAME="Flatcar Container Linux by Kinvolk"\nID=flatcar\nID_LIKE=coreos\nVERSION_ID=4152.2.0\n');
    box.writeFile('/etc/machine-id', '0123456789abcdef0123456789abcdef\n', { mode: 0o444 });

    const dry = await box.run([WAAGENT, '-deprovision', '-dry-run']);
    assertOk(dry, 'dry run');
    assert.match(dry.stdout, /WARNING! \/etc\/resolv\.conf is a symbolic link .* will NOT be removed\./);
    assert.match(dry.stdout, /WARNING! \/etc\/machine-id will be removed\.\n/);
    assert.ok(!removedPaths(dry.stdout).includes('/etc/resolv.conf'));
    assert.ok(removedPaths(dry.stdout).includes('/etc/machine-id'));

    // This time through the prompt: any answer starting with y proceeds.
    const run = await box.run([WAAGENT, '-deprovision'], { timeoutMs: 120_000, input: 'Yes\n' });
    assertOk(run, 'deprovision answered Yes');
    assert.match(run.stdout, /Do you want to proceed \(y\/n\)done: /);
    assert.deepEqual(removedPaths(run.stdout), removedPaths(dry.stdout));
    assert.ok(lstatSync(box.root.pathNoFollow('/etc/resolv.conf')).isSymbolicLink(), 'the symlink is kept');
    assert.equal(readlinkSync(box.root.pathNoFollow('/etc/resolv.conf')), '../run/systemd/resolve/stub-resolv.conf');
    assert.equal(box.readFile('/etc/resolv.conf'), 'nameserver 127.0.0.53\n', 'and still resolves');
    assert.equal(box.exists('/etc/machine-id'), false);
    assert.deepEqual(readdirSync(box.root.path('/etc/ssh')).filter((n) => n.startsWith('ssh_host_')), []);
    assert.deepEqual(readdirSync(box.root.path('/var/lib/waagent')), []);
    for (const l of LEASES) assert.equal(box.exists(l), false, `${l} gone`);
    assert.match(box.readFile('/etc/passwd'), new RegExp(`^${SCENARIO_USER}:`, 'm'), 'without +user the user stays');
    assert.equal(box.exists('/home/azureuser/.ssh/authorized_keys'), true);
    assert.equal(box.readFile('/etc/hostname'), 'localhost.localdomain\n');
  } finally {
    await box.close();
  }
});
