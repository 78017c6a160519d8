// A hostile OS disk attached to a rescue VM: its directories are symbolic links (absolute, relative,
// climbing out with `..`, loops) aimed at the rescue VM's own files, and files of absurd size. `waagent -deprovision+user
// -force -root:/mnt/hostile` run in the VM-in-a-box (the rescue VM) must change nothing outside
// the disk, byte for byte, and say which paths it skipped. Root + namespaces (the box).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Box } from '../sandbox/box.ts';
import { WAAGENT, assertOk, diffSnapshots, fingerprintPath } from './deprovision-helpers.ts';
import { firstReason, needsAgentBin, needsRoot } from '../helpers/skip.ts';

const skip = firstReason(needsRoot('VM-in-a-box'), needsAgentBin());
const D = '/mnt/hostile';
/** The rescue VM's files the links aim at. */
const OUTSIDE = ['/etc/hostname', '/etc/shadow', '/etc/ssh/ssh_host_rsa_key', '/etc/resolv.conf', '/etc/machine-id', '/root/.bash_history',
  '/var/log/waagent.log', '/var/lib/waagent/provisioned', '/var/lib/waagent/ovf-env.xml', '/var/lib/dhcp/dhclient.eth0.leases',
  '/home/outsider/.ssh/authorized_keys', '/srv/etc/hostname', '/srv/etc/dhcp/dhclient.conf', '/var/log/azure/Outside.Ext/handler.log'];

test('hostile rescued disk (root, namespaces): links out of -root:PATH change nothing outside PATH and are reported', { skip, timeout: 180_000 }, async () => {
  const box = await Box.start({});
  try {
    const r0 = await box.run(['bash', '-euo', 'pipefail', '-c', [
      // The rescue VM's own state, at the paths deprovision cleans.
      'useradd -m outsider && mkdir -p /home/outsider/.ssh && echo "ssh-ed25519 AAAA outsider" > /home/outsider/.ssh/authorized_keys',
      'echo "root:Rescue-Root-Pw-1" | chpasswd',
      'mkdir -p /etc/ssh /var/lib/waagent /var/lib/dhcp /var/log/azure/Outside.Ext /srv/etc/dhcp',
      'echo key > /etc/ssh/ssh_host_rsa_key && echo rescue-vm > /etc/hostname && echo "nameserver 10.0.0.1" > /etc/resolv.conf',
      'echo 0123456789abcdef0123456789abcdef > /etc/machine-id && echo "ls" > /root/.bash_history && echo log > /var/log/waagent.log',
      'echo vm > /var/lib/waagent/provisioned && echo "<UserName>outsider</UserName>" > /var/lib/waagent/ovf-env.xml',
      'echo "lease {}" > /var/lib/dhcp/dhclient.eth0.leases && echo ext > /var/log/azure/Outside.Ext/handler.log',
      'echo rescue-file > /srv/etc/hostname && echo "send host-name \\"rescue\\";" > /srv/etc/dhcp/dhclient.conf',
      // The hostile disk.
      `mkdir -p ${D}/var/lib ${D}/home ${D}/srv/etc/dhcp ${D}/usr`,
      `ln -s /srv/etc ${D}/etc`,                                  // absolute: inside the disk, /srv/etc of the disk
      `echo "send host-name \\"disk\\";" > ${D}/srv/etc/dhcp/dhclient.conf`,
      `ln -s /etc/shadow ${D}/srv/etc/shadow`,                    // absolute file link: a loop through etc
      `ln -s ../../../../../etc/ssh ${D}/srv/etc/ssh`,            // relative, climbing out
      `ln -s /etc/resolv.conf ${D}/srv/etc/resolv.conf`,
      `ln -s ../../../root ${D}/root`,                            // relative out of the disk: a loop inside it
      `ln -s /var/log ${D}/var/log`,                              // absolute self-reference: a loop
      `ln -s ../../../../var/lib/waagent ${D}/var/lib/waagent`,
      `ln -s dhcp2 ${D}/var/lib/dhcp && ln -s dhcp ${D}/var/lib/dhcp2`, // a plain loop
      `ln -s /home/outsider ${D}/home/azureuser`,
      `ln -s /proc/1/root/etc ${D}/usr/etc`,
      // Files of absurd size (sparse): read with a bound, never whole.
      `truncate -s 8G ${D}/srv/etc/os-release ${D}/srv/etc/hostname`,
    ].join('\n')], { timeoutMs: 60_000 });
    assertOk(r0, 'prepare the rescue VM and the hostile disk');
    // Everything any command changed in the box outside the disk, plus the files the links aim at.
    const isOutside = (k: string) => !k.startsWith(`${D}/`) && k !== D;
    const outside = async () => {
      const m = new Map<string, string>();
      for (const c of box.changes()) if (isOutside(c.path)) m.set(c.path, fingerprintPath(box.root.pathNoFollow(c.path)));
      for (const p of OUTSIDE) m.set(p, fingerprintPath(box.root.pathNoFollow(p)));
      m.set('<hostname>', (await box.run(['hostname'])).stdout.trim());
      return m;
    };
    const before = await outside();

    const dry = await box.run([WAAGENT, '-deprovision+user', '-dry-run', `-root:${D}`]);
    assertOk(dry, 'dry run');
    const run = await box.run([WAAGENT, '-deprovision+user', '-force', `-root:${D}`], { timeoutMs: 120_000 });
    const out = run.stdout + run.stderr;
    assert.deepEqual(diffSnapshots(before, await outside()), [], `nothing outside ${D} changed:\n${out}`);

    // Reported clearly: the skipped paths are named with the reason.
    assertOk(run, 'deprovision of the hostile disk');
    for (const p of ['/var/lib/dhcp', '/var/lib/waagent']) {
      assert.match(out, new RegExp(`WARNING! ${p}: ${p} under ${D}: too many levels of symbolic links.*: skipped`), out);
    }
    // Globs never descend through a link: /var/log/waagent.log, /root/.bash_history, the host keys match nothing.
    assert.match(out, /done: shell history and agent log \(nothing to do\)/);
    // The links themselves are not part of the rescue VM: the hostname went into the disk's own /srv/etc.
    assert.equal(box.readFile(`${D}/srv/etc/hostname`), 'localhost.localdomain\n');
    assert.equal(box.readFile('/srv/etc/hostname'), 'rescue-file\n');
    assert.match(box.readFile(`${D}/srv/etc/dhcp/dhclient.conf`), /send host-name "localhost\.localdomain";/);
    assert.equal(box.lstat(`${D}/var/log`).isSymbolicLink(), true, 'the disk\'s links stay as they were');
  } finally {
    await box.close();
  }
});
