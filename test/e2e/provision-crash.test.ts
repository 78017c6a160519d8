// Crash safety of `dist/waagent -provision` in the VM-in-a-box: the run is killed with SIGKILL at
// several points (the documented test-only hook WAAGENT_TEST_CRASH_AFTER=<step>, and once by the
// test itself while CustomData is running); the next run completes, the end state equals the one of
// an uninterrupted run, and CustomData was executed exactly once. Needs root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { Box } from '../sandbox/box.ts';
import { renderOvfEnv } from '../fabric/server.ts';
import { SCENARIOS, until } from '../fabric/testing.ts';
import { BIN, changedBesidesLog, conf, imageFiles, passwordMatches, provisionRun, shadowHash, skip } from './provision-helpers.ts';

const SCENARIO = join(SCENARIOS, 'provision-password.json');
const CONF = conf('Provisioning.ExecuteCustomData=y', 'Provisioning.DeleteRootPassword=y');
const PASSWORD = 'Prov-e2e-Passw0rd!';
const RUNS = '/var/log/customdata-runs';

/** Files whose bytes legitimately differ between two correct runs (random salt, timestamps, tool backups). */
const VOLATILE = (p: string) => p === '/etc/shadow' || p.endsWith('-') || p.endsWith('/CustomData.executed') || p === RUNS;

function state(box: Box): Map<string, string> {
  const out = new Map<string, string>();
  for (const p of changedBesidesLog(box)) {
    if (!box.exists(p)) { out.set(p, 'deleted'); continue; }
    const st = box.lstat(p);
    const meta = `${(st.mode & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
    if (!st.isFile() || VOLATILE(p)) out.set(p, `${st.isDirectory() ? 'dir' : 'file'} ${meta}`);
    else out.set(p, `${meta} ${createHash('sha256').update(box.readFile(p, null)).digest('hex')}`);
  }
  return out;
}

function checkEnd(box: Box, reference: Map<string, string>, what: string): void {
  assert.deepEqual([...state(box)], [...reference], `${what}: same end state as an uninterrupted run`);
  assert.equal(passwordMatches(shadowHash(box, 'azureuser'), PASSWORD), true, what);
  assert.match(shadowHash(box, 'root'), /^\*LOCK\*$/, `${what}: root password locked`);
}

let reference: Map<string, string> | undefined;

test('box (root): the uninterrupted run (reference end state)', { skip }, async () => {
  const box = await Box.start({ scenario: SCENARIO, media: { kind: 'udf' }, files: imageFiles(CONF) });
  try {
    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(box.readFile(RUNS), 'custom data ran as 0\n');
    reference = state(box);
    assert.ok(reference.has('/var/lib/waagent/provisioned'));
  } finally {
    await box.close();
  }
});

for (const at of ['starting', 'ovf-copy', 'user', 'password', 'keys', 'customdata', 'customdata-exec', 'marker']) {
  test(`box (root): killed (SIGKILL) right after step "${at}", the next run completes to the same state, CustomData ran once`, { skip }, async () => {
    assert.ok(reference, 'the reference run passed');
    const box = await Box.start({ scenario: SCENARIO, media: { kind: 'udf' }, files: imageFiles(CONF) });
    try {
      const crashed = await provisionRun(box, { WAAGENT_TEST_CRASH_AFTER: at });
      assert.notEqual(crashed.code, 0, `killed after ${at}: ${crashed.stdout}`);
      assert.match(crashed.stdout, new RegExp(`WAAGENT_TEST_CRASH_AFTER=${at}: killing this process`));
      assert.equal(box.exists('/var/lib/waagent/provisioned'), at === 'marker', 'the marker is written last');
      const health = await box.fabric!.health();
      assert.ok(!health.some((h) => h.state === 'Ready'), 'no Ready before the work is done');

      const r = await provisionRun(box);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal((await box.fabric!.health()).filter((h) => h.channel === 'xml').at(-1)?.state, 'Ready');
      checkEnd(box, reference!, `after ${at}`);
      const ran = box.exists(RUNS) ? box.readFile(RUNS) : '';
      assert.equal(ran, 'custom data ran as 0\n', 'CustomData executed exactly once');
    } finally {
      await box.close();
    }
  });
}

test('box (root): killed while CustomData is running: the script is never started again, the next run completes', { skip }, async () => {
  assert.ok(reference, 'the reference run passed');
  const slow = '#!/bin/sh\necho started >> /var/log/customdata-runs\nsleep 2\necho finished >> /var/log/customdata-runs\n';
  const ovf = (await renderOvfEnv(SCENARIO)).replace(/<CustomData>[^<]*<\/CustomData>/, `<CustomData>${Buffer.from(slow).toString('base64')}</CustomData>`);
  const box = await Box.start({ scenario: SCENARIO, media: { kind: 'udf', ovfEnv: ovf }, files: imageFiles(CONF) });
  try {
    const p = box.spawn([BIN, '-provision']);
    await until(() => box.exists(RUNS), (v) => v, 60_000);
    p.kill('SIGKILL');
    const killed = await p.wait(30_000);
    assert.notEqual(killed.code, 0);
    assert.equal(box.exists('/var/lib/waagent/provisioned'), false);
    const r = await provisionRun(box);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /CustomData not executed: already-executed/);
    await until(() => box.readFile(RUNS), (t) => t.includes('finished'), 30_000);
    assert.equal(box.readFile(RUNS), 'started\nfinished\n', 'the first (orphaned) start finished; no second start');
    // Same end state except the files that carry this test's other script (CustomData, the ovf copy).
    const cd = '/var/lib/waagent/CustomData';
    const other = (k: string) => k !== cd && k !== '/var/lib/waagent/ovf-env.xml';
    const ref = new Map([...reference!].filter(([k]) => other(k)));
    const got = new Map([...state(box)].filter(([k]) => other(k)));
    assert.deepEqual([...got], [...ref]);
    assert.equal(box.readFile(cd), slow);
  } finally {
    await box.close();
  }
});
