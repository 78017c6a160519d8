import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sysroot, TEST_GUARD_ENV } from '../../src/util/sysroot.ts';
import { withEnv } from '../helpers/env.ts';

test('the test runner sets the guard, so a forgotten temp root cannot reach the real one', () => {
  assert.equal(process.env[TEST_GUARD_ENV], '1', 'run tests with npm test / scripts/run-tests.mjs (it sets the guard)');
});

test('with the guard set, Sysroot("/") refuses every path and resolve; other roots work', () => {
  const d = mkdtempSync(join(tmpdir(), 'waagent-sysroot-'));
  try {
    withEnv({ [TEST_GUARD_ENV]: '1' }, () => {
      const host = new Sysroot('/');
      assert.equal(host.isHost, true);
      assert.throws(() => host.path('/etc/passwd'), /refusing \/etc\/passwd on the real root: WAAGENT_TEST_GUARD=1 is set/);
      assert.throws(() => host.resolve('/var/lib/waagent'), /refusing .* on the real root/);
      assert.throws(() => new Sysroot('//').path('/etc'), /real root/);
      const temp = new Sysroot(d);
      assert.equal(temp.path('/etc/passwd'), join(d, 'etc', 'passwd'));
      assert.equal(temp.resolve('/var/../etc'), join(d, 'etc'));
    });
    // Without the guard (the product), the host root is the plain `/`.
    withEnv({ [TEST_GUARD_ENV]: undefined }, () => {
      assert.equal(new Sysroot('/').path('/etc/../etc/passwd'), '/etc/passwd');
    });
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});

test('paths stay inside the root: ".." cannot climb out, relative paths are refused', () => {
  const r = new Sysroot('/mnt/rescue/');
  assert.equal(r.root, '/mnt/rescue');
  assert.equal(r.path('/../../etc/shadow'), '/mnt/rescue/etc/shadow');
  assert.equal(r.path('/'), '/mnt/rescue');
  assert.throws(() => r.path('etc/shadow'), /must be absolute/);
  assert.throws(() => new Sysroot('rel'), /must be an absolute path/);
});
