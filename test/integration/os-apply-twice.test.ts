// All OS actions of provisioning, composed in upstream order on a Flatcar-like temp root with the
// real tools, applied twice: the second application must leave every file byte-identical.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { detectDistro } from '../../src/os/distro.ts';
import { validateUserName, validateHostname, keyPathLexical, validateKeyPath } from '../../src/os/validate.ts';
import { setHostname, publishHostname } from '../../src/os/hostname.ts';
import { ensureUser, ensurePassword } from '../../src/os/users.ts';
import { ensureSudoers } from '../../src/os/sudoers.ts';
import { configureSshd } from '../../src/os/sshd.ts';
import { addAuthorizedKeys } from '../../src/os/sshkeys.ts';
import { saveCustomData } from '../../src/os/customdata.ts';
import { deleteRootPassword } from '../../src/os/rootpassword.ts';
import { realRunner } from '../../src/util/exec.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';
import { treeSnapshot as snapshot } from '../helpers/tree.ts';

test('as root: Flatcar-like root, every provisioning action applied twice = identical files', async (t) => {
  const r = makeRoot({ accounts: true });
  t.after(r.cleanup);
  r.write('/usr/lib/os-release', 'ID=flatcar\nID_LIKE=coreos\nVERSION_ID=4152.2.0\n');
  r.write('/usr/share/ssh/sshd_config', 'Include /etc/ssh/sshd_config.d/*.conf\nUsePAM yes\n');
  mkdirSync(r.p('/etc/ssh/sshd_config.d'), { recursive: true });
  symlinkSync('../../usr/share/ssh/sshd_config', r.p('/etc/ssh/sshd_config'));
  mkdirSync(r.p('/etc/sudoers.d'), { mode: 0o750 });
  const key = (() => {
    execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'azure', '-f', r.p('/tmpkey')]);
    return readFileSync(r.p('/tmpkey.pub'), 'utf8').trim();
  })();
  const distro = detectDistro(r.root);
  assert.equal(distro.family, 'flatcar');
  const ovf = { user: 'azureuser', host: 'fc-vm-1', password: 'Pw-1234567!', keyPath: '$HOME/azureuser/.ssh/authorized_keys', customData: Buffer.from('#cloud-config\n').toString('base64') };

  const apply = async () => {
    // Everything from the platform is checked before anything changes.
    const user = validateUserName(ovf.user);
    const host = validateHostname(ovf.host);
    keyPathLexical(ovf.keyPath, { homeRoot: '/home', userHome: `/home/${user}` });
    await setHostname(realRunner, r.root, host, distro.hostname);
    await publishHostname(realRunner, r.root, host, { libDir: '/var/lib/waagent', publishers: distro.publishers });
    const { user: entry } = await ensureUser(realRunner, r.root, { name: user, shell: distro.user.shell, groups: distro.user.groups, neverSystemUsers: distro.user.neverSystemUsers });
    await ensurePassword(realRunner, r.root, user, ovf.password, { neverSystemUsers: distro.user.neverSystemUsers });
    await ensureSudoers(realRunner, r.root, user, false);
    configureSshd(r.root, { disablePasswordAuth: false, profile: distro.sshd });
    const path = validateKeyPath(r.root, ovf.keyPath, { homeRoot: '/home', userHome: entry.home });
    addAuthorizedKeys(r.root, { path, base: entry.home, owner: { uid: entry.uid, gid: entry.gid } }, [key]);
    saveCustomData(r.root, ovf.customData, { libDir: '/var/lib/waagent', decode: true });
    deleteRootPassword(r.root);
  };
  await apply();
  const first = snapshot(r.dir);
  await apply();
  const second = snapshot(r.dir);
  assert.deepEqual([...second.entries()], [...first.entries()]);
  // And the state is the one wanted.
  assert.equal(readFileSync(r.p('/etc/hostname'), 'utf8'), 'fc-vm-1\n');
  assert.equal(readFileSync(r.p('/etc/sudoers.d/waagent'), 'utf8'), 'azureuser ALL=(ALL) ALL\n');
  assert.equal(readFileSync(r.p('/etc/ssh/sshd_config.d/80-flatcar-walinuxagent.conf'), 'utf8'),
    'PasswordAuthentication yes\nChallengeResponseAuthentication yes\nClientAliveInterval 180\n');
  assert.ok(lstatSync(r.p('/etc/ssh/sshd_config')).isSymbolicLink(), 'read-only main config untouched');
  assert.equal(readFileSync(r.p('/home/azureuser/.ssh/authorized_keys'), 'utf8'), key + '\n');
  assert.equal(readFileSync(r.p('/var/lib/waagent/CustomData'), 'utf8'), '#cloud-config\n');
  assert.equal(readFileSync(r.p('/var/lib/waagent/published_hostname'), 'utf8'), 'fc-vm-1');
  assert.match(readFileSync(r.p('/etc/shadow'), 'utf8'), /^root:\*LOCK\*:/m);
  assert.match(readFileSync(r.p('/etc/shadow'), 'utf8'), /^azureuser:\$6\$[A-Za-z0-9]{10}\$/m);
});
