import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, readFileSync, statSync } from 'node:fs';
import { deleteRootPassword, lockRootInShadow, LOCKED_ROOT_LINE, ShadowError } from '../../src/os/rootpassword.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

test('as root: root password field becomes *LOCK*; other fields, lines, mode and owner kept; idempotent', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const shadow = 'daemon:*:19000:0:99999:7:::\nroot:$6$salt$hash:19500:0:99999:7:::\nalice:$6$x$y:19600:0:99999:7:::\n';
  r.write('/etc/shadow', shadow, 0o640);
  chownSync(r.p('/etc/shadow'), 0, 42);
  assert.equal(deleteRootPassword(r.root), true);
  assert.equal(readFileSync(r.p('/etc/shadow'), 'utf8'), 'daemon:*:19000:0:99999:7:::\nroot:*LOCK*:19500:0:99999:7:::\nalice:$6$x$y:19600:0:99999:7:::\n');
  const st = statSync(r.p('/etc/shadow'));
  assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o640, 0, 42]);
  assert.equal(deleteRootPassword(r.root), false);
});

test('as root: no root line: upstream line first; duplicate root lines dropped; missing file is an error', (t) => {
  assert.equal(lockRootInShadow('a:x:1::::::\n'), `${LOCKED_ROOT_LINE}\na:x:1::::::\n`);
  assert.equal(lockRootInShadow('root:pw:1\nroot:pw2:2::::::\n'), 'root:*LOCK*:1::::::\n');
  const r = makeRoot();
  t.after(r.cleanup);
  assert.throws(() => deleteRootPassword(r.root), ShadowError);
  r.write('/etc/shadow.alt', 'root:x:1::::::\n', 0o600);
  assert.equal(deleteRootPassword(r.root, { passwordPath: '/etc/shadow.alt' }), true);
  assert.equal(readFileSync(r.p('/etc/shadow.alt'), 'utf8'), 'root:*LOCK*:1::::::\n');
});
