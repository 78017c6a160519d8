import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseOsRelease, familyOf, detectDistro, profileFor } from '../../src/os/distro.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

test('os-release parsing: quotes, escapes, comments, ID_LIKE', () => {
  const o = parseOsRelease('# c\nNAME="Red Hat \\"Enterprise\\" Linux"\nID=rhel\nID_LIKE="fedora centos"\nVERSION_ID=\'9.4\'\ngarbage\n');
  assert.equal(o.name, 'Red Hat "Enterprise" Linux');
  assert.equal(o.id, 'rhel');
  assert.deepEqual(o.idLike, ['fedora', 'centos']);
  assert.equal(o.versionId, '9.4');
  assert.equal(parseOsRelease('').id, 'linux');
});

test('families and their strategies', () => {
  const fam = (t: string) => familyOf(parseOsRelease(t));
  assert.equal(fam('ID=flatcar\nID_LIKE=coreos'), 'flatcar');
  assert.equal(fam('ID=ubuntu\nID_LIKE=debian'), 'ubuntu');
  assert.equal(fam('ID=debian'), 'debian');
  assert.equal(fam('ID=almalinux\nID_LIKE="rhel centos fedora"'), 'rhel');
  assert.equal(fam('ID=alpine'), 'generic');
  const fc = profileFor(parseOsRelease('ID=flatcar'));
  assert.equal(fc.sshd.dropInName, '80-flatcar-walinuxagent.conf');
  assert.equal(fc.sshd.dropInWithoutInclude, true);
  assert.deepEqual(fc.publishers, ['networkd']);
  assert.deepEqual(fc.user.neverSystemUsers, ['core']);
  assert.deepEqual(profileFor(parseOsRelease('ID=rhel')).sshd.restart, ['systemctl', 'condrestart', 'sshd']);
  assert.deepEqual(profileFor(parseOsRelease('ID=debian')).sshd.restart, ['systemctl', '--job-mode=ignore-dependencies', 'try-reload-or-restart', 'ssh']);
  assert.equal(fc.sshd.restart, null);
});

test('detectDistro reads /etc/os-release, then /usr/lib/os-release (through a symlink inside the root)', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  assert.equal(detectDistro(r.root).family, 'generic');
  r.write('/usr/lib/os-release', 'ID=flatcar\nVERSION_ID=4152.2.0\n');
  assert.equal(detectDistro(r.root).family, 'flatcar');
  r.write('/etc/os-release', 'ID=debian\nVERSION_ID="12"\n');
  const d = detectDistro(r.root);
  assert.equal(d.family, 'debian');
  assert.equal(d.os.versionId, '12');
});
