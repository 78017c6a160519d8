import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { decodeCustomData, saveCustomData, executeCustomDataOnce, customDataExecuted, CustomDataError } from '../../src/os/customdata.ts';
import { realRunner, RecordingRunner } from '../../src/util/exec.ts';
import { makeRoot } from '../helpers/os-fixtures.ts';

const LIB = '/var/lib/waagent';
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

test('decode: strict base64 with line breaks; binary kept; garbage refused', () => {
  assert.equal(decodeCustomData(b64('#!/bin/sh\necho hi\n').replace(/(.{8})/g, '$1\n')).toString(), '#!/bin/sh\necho hi\n');
  const bin = Buffer.from([0x1f, 0x8b, 0x08, 0xff, 0x00]);
  assert.deepEqual(decodeCustomData(b64(bin)), bin);
  for (const bad of ['not base64!', 'abc', 'YWJj=ZA==']) assert.throws(() => decodeCustomData(bad), CustomDataError);
});

test('as root: save: raw by default, decoded with Decode or Execute; 0600; idempotent', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const raw = b64('hello');
  assert.deepEqual(saveCustomData(r.root, raw, { libDir: LIB, decode: false }), { path: `${LIB}/CustomData`, bytes: raw.length, decoded: false });
  assert.equal(readFileSync(r.p(`${LIB}/CustomData`), 'utf8'), raw);
  assert.equal(statSync(r.p(`${LIB}/CustomData`)).mode & 0o777, 0o600);
  saveCustomData(r.root, raw, { libDir: LIB, decode: true });
  assert.equal(readFileSync(r.p(`${LIB}/CustomData`), 'utf8'), 'hello');
  saveCustomData(r.root, raw, { libDir: LIB, decode: false, execute: true });
  assert.equal(readFileSync(r.p(`${LIB}/CustomData`), 'utf8'), 'hello');
  assert.throws(() => saveCustomData(r.root, '%%%', { libDir: LIB, decode: true }), /not valid base64/);
});

test('as root: execute: runs once ever (marker written before start), output captured, second call skips', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const out = r.p('/ran.log');
  saveCustomData(r.root, b64(`#!/bin/sh\necho run >> '${out}'\necho to-stdout\necho to-stderr >&2\nexit 3\n`), { libDir: LIB, decode: true });
  const res = await executeCustomDataOnce(realRunner, r.root, { libDir: LIB, live: true });
  assert.equal(res.ran, true);
  if (!res.ran) return;
  assert.equal(res.code, 3);
  assert.equal(res.stdout, 'to-stdout\n');
  assert.equal(res.stderr, 'to-stderr\n');
  assert.equal(readFileSync(out, 'utf8'), 'run\n');
  assert.equal(statSync(r.p(`${LIB}/CustomData`)).mode & 0o777, 0o700);
  assert.ok(customDataExecuted(r.root, LIB));
  const marker = JSON.parse(readFileSync(r.p(`${LIB}/CustomData.executed`), 'utf8'));
  assert.match(marker.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(await executeCustomDataOnce(realRunner, r.root, { libDir: LIB, live: true }), { ran: false, reason: 'already-executed' });
  assert.equal(readFileSync(out, 'utf8'), 'run\n');
});

test('as root: execute: the marker is on disk before the script starts (a crash mid-script never re-runs it)', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const seen = r.p('/marker-seen');
  saveCustomData(r.root, b64(`#!/bin/sh\ntest -f '${r.p(`${LIB}/CustomData.executed`)}' && echo yes > '${seen}'\nexit 0\n`), { libDir: LIB, decode: true });
  // Simulate the crash: a runner that "dies" after the script started (throws instead of returning).
  const crashing = { run: async (argv: string[], o?: object) => { await realRunner.run(argv, o); throw new Error('agent killed'); } };
  await assert.rejects(executeCustomDataOnce(crashing, r.root, { libDir: LIB, live: true }), /agent killed/);
  assert.equal(readFileSync(seen, 'utf8'), 'yes\n');
  const rr = new RecordingRunner();
  assert.deepEqual(await executeCustomDataOnce(rr, r.root, { libDir: LIB, live: true }), { ran: false, reason: 'already-executed' });
  assert.equal(rr.calls.length, 0);
});

test('as root: execute: no shebang runs under sh; bounded by a timeout; argv never carries the content; not on another root', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  saveCustomData(r.root, b64('echo plain-sh'), { libDir: LIB, decode: true });
  const rr = new RecordingRunner();
  assert.deepEqual(await executeCustomDataOnce(rr, r.root, { libDir: LIB }), { ran: false, reason: 'not-live' });
  assert.equal(existsSync(r.p(`${LIB}/CustomData.executed`)), false);
  const res = await executeCustomDataOnce(realRunner, r.root, { libDir: LIB, live: true });
  assert.ok(res.ran && res.stdout === 'plain-sh\n');
  const r2 = makeRoot();
  t.after(r2.cleanup);
  saveCustomData(r2.root, b64('#!/bin/sh\nsleep 30\n'), { libDir: LIB, decode: true });
  const slow = await executeCustomDataOnce(realRunner, r2.root, { libDir: LIB, live: true, timeoutMs: 300 });
  assert.ok(slow.ran && slow.timedOut);
  const r3 = makeRoot();
  t.after(r3.cleanup);
  assert.deepEqual(await executeCustomDataOnce(rr, r3.root, { libDir: LIB, live: true }), { ran: false, reason: 'no-custom-data' });
  saveCustomData(r3.root, b64('echo x'), { libDir: LIB, decode: true });
  await executeCustomDataOnce(rr, r3.root, { libDir: LIB, live: true });
  assert.deepEqual(rr.calls[0]!.argv, ['/bin/sh', '-c', '"$0"', r3.p(`${LIB}/CustomData`)]);
});
