// Process facts read from this process's own /proc: its children (spawns one: integration tier), its mounts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Sysroot } from '../../src/util/sysroot.ts';
import { mountHolding, ownMounts } from '../../src/os/mounts.ts';
import { hostRootForTest } from '../helpers/host-root.ts';
import { childPids } from '../../src/os/process.ts';
import { waitFor } from '../helpers/wait.ts';

test('childPids lists a running child and drops it once reaped', async () => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  await once(child, 'spawn');
  const root = hostRootForTest('childPids reads this test process\'s own /proc/self/task');
  assert.ok(childPids(root).includes(child.pid!), 'the child is listed');
  child.kill('SIGKILL');
  await once(child, 'exit');
  await waitFor(() => !childPids(root).includes(child.pid!), { what: 'the reaped child to leave the list' });
});

test('childPids is [] without procfs in the root', () => {
  assert.deepEqual(childPids(new Sysroot('/nonexistent-root-for-test')), []);
});

test('ownMounts: this process\'s mount table holds / and /proc', () => {
  const m = ownMounts();
  assert.ok(m.some((e) => e.mountPoint === '/'), 'the root mount is listed');
  assert.equal(mountHolding(m, '/proc/self')?.type, 'proc');
});
