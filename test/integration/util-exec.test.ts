import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecError, RecordingRunner, exec, execOk } from '../../src/util/exec.ts';

/** Alive = exists and is not a zombie (a zombie is dead, only not yet reaped by its new parent). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 300; i++) { if (!alive(pid)) return true; await sleep(10); }
  return false;
}

test('timeout kills the whole process group: the grandchild is gone too', async () => {
  // sh forks a long sleep (the grandchild), prints its pid, and waits for it.
  const r = await exec(['/bin/sh', '-c', 'sleep 300 & echo $!; wait'], { timeoutMs: 300, killGraceMs: 200 });
  assert.equal(r.timedOut, true);
  const grandchild = Number(r.stdout.trim());
  assert.ok(grandchild > 1, `grandchild pid from stdout: ${JSON.stringify(r.stdout)}`);
  assert.equal(await gone(grandchild), true, `grandchild ${grandchild} still alive`);
});

test('a group that ignores SIGTERM is SIGKILLed after the grace period', async () => {
  // trap '' TERM is inherited by the children: only SIGKILL can end them.
  const r = await exec(['/bin/sh', '-c', "trap '' TERM; sleep 300 & echo $!; while :; do sleep 0.05; done"], { timeoutMs: 200, killGraceMs: 200 });
  assert.equal(r.timedOut, true);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(await gone(Number(r.stdout.trim())), true);
});

test('a grandchild holding the pipes open does not hold us forever once the child exited', async () => {
  const r = await exec(['/bin/sh', '-c', 'sleep 30 & echo $!'], { timeoutMs: 0 });
  assert.equal(r.code, 0);
  const pid = Number(r.stdout.trim());
  assert.ok(pid > 1);
  process.kill(pid, 'SIGKILL'); // our own stray sleep: do not leave it behind
});

test('output is capped per stream and flagged as truncated', async () => {
  const r = await exec(['/bin/sh', '-c', 'head -c 200000 /dev/zero | tr "\\0" a; head -c 5000 /dev/zero | tr "\\0" b >&2'], { maxOutput: 1000 });
  assert.equal(r.code, 0);
  assert.equal(r.stdout, 'a'.repeat(1000));
  assert.equal(r.stderr, 'b'.repeat(1000));
  assert.equal(r.truncated, true);
  const small = await exec(['/bin/echo', 'hi']);
  assert.equal(small.truncated, false);
});

test('argv is passed verbatim (no shell): metacharacters stay literal', async () => {
  const r = await exec(['/bin/echo', '$(id)', ';', '`x`', '*']);
  assert.equal(r.stdout, '$(id) ; `x` *\n');
});

test('stdin input reaches the command (secrets go there, not into argv)', async () => {
  const r = await exec(['/bin/cat'], { input: 'user:password\n' });
  assert.equal(r.stdout, 'user:password\n');
});

test('without input a command reading stdin sees its end at once (stdin is /dev/null, not left open)', async () => {
  const r = await exec(['/bin/sh', '-c', 'cat; readlink /proc/self/fd/0'], { timeoutMs: 5_000 });
  assert.equal(r.timedOut, false);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), '/dev/null');
});

test('ExecError names the failure and hides the secrets in its message', async () => {
  await assert.rejects(
    execOk(['/bin/sh', '-c', 'echo "chpasswd: bad password hunter2-secret for user" >&2; exit 3'], { secrets: ['hunter2-secret'] }),
    (e: unknown) => {
      assert.ok(e instanceof ExecError);
      assert.match(e.message, /^command \/bin\/sh failed: exit code 3: chpasswd: bad password \*\*\* for user$/);
      assert.ok(!e.message.includes('hunter2'));
      assert.equal(e.result.code, 3);
      return true;
    },
  );
  await assert.rejects(execOk(['/bin/sh', '-c', 'sleep 5'], { timeoutMs: 100, killGraceMs: 100 }), /timed out after \d+ ms/);
  await assert.rejects(execOk(['/bin/sh', '-c', 'kill -9 $$']), /killed by SIGKILL/);
});

test('a missing program gives code 127, not an exception', async () => {
  const r = await exec(['/nonexistent/tool', 'x']);
  assert.equal(r.code, 127);
  assert.match(r.stderr, /ENOENT/);
  assert.throws(() => exec([]), /empty argv/);
});

test('RecordingRunner records argv and stdin and answers by prefix', async () => {
  const rr = new RecordingRunner().answer('useradd', { code: 9, stderr: 'exists' });
  const a = await rr.run(['useradd', '-m', 'azureuser']);
  const b = await rr.run(['chpasswd', '-e'], { input: 'u:$6$x' });
  assert.equal(a.code, 9);
  assert.equal(b.code, 0);
  assert.deepEqual(rr.calls, [{ argv: ['useradd', '-m', 'azureuser'], input: undefined }, { argv: ['chpasswd', '-e'], input: 'u:$6$x' }]);
});
