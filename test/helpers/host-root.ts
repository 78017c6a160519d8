// The real root for the rare integration test that must look at this machine itself (e.g. probing
// the host's block devices for a loop device it created). Every other test gets a temp root or the
// box: while the runner's WAAGENT_TEST_GUARD=1 is set, a plain Sysroot('/') refuses every path, and
// this helper is the one visible, greppable way around it.
import { Sysroot, TEST_GUARD_ENV } from '../../src/util/sysroot.ts';
import { withEnv } from './env.ts';

export function hostRootForTest(why: string): Sysroot {
  if (!why.trim()) throw new Error('hostRootForTest: say why this test needs the real root');
  return withEnv({ [TEST_GUARD_ENV]: undefined }, () => new Sysroot('/'));
}
