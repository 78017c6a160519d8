// The status blob's size limit and truncation rule (docs/extensions.md §5.4.1): 50 handlers each reporting a
// maximal status file, through the same parsing as the agent's (statusFromText), then the aggregate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateStatusJson, buildAggregateStatus, type AggregateInput, type HandlerReport } from '../../src/extensions/aggregate.ts';
import { statusFromText } from '../../src/extensions/statusFile.ts';
import { pyDumps } from '../../src/extensions/pyjson.ts';
import { MAX_STATUS_BLOB_BYTES, TEXT_FLOOR, cutText, escapedLength } from '../../src/extensions/statusLimit.ts';
import type { HandlerStatus } from '../../src/extensions/state.ts';
import { captureLog } from '../helpers/log.ts';

interface Sub { name: string; status: string; code: number; formattedMessage: { lang: string; message: string } }
interface Entry {
  handlerName: string; status: string; code: number; formattedMessage?: { message: string };
  runtimeSettingsStatus?: { sequenceNumber: number; settingsStatus: { status: { status: string; code: number; formattedMessage: { message: string | null }; substatus?: Sub[] } } };
}

function statusFile(message: string, subs: { name: string; message: string }[]): string {
  return JSON.stringify([{ version: 1.0, timestampUTC: '2026-12-07T00:00:00Z', status: {
    name: 'x', operation: 'Enable', status: 'success', code: 0, formattedMessage: { lang: 'en-US', message },
    substatus: subs.map((s, i) => ({ name: s.name, status: i % 2 ? 'success' : 'warning', code: i, formattedMessage: { lang: 'en-US', message: s.message } })),
  } }]);
}

/** n handlers, each with its own name and the status file `file(i)` parsed as the agent parses it. */
function reports(n: number, file: (i: number) => string): HandlerReport[] {
  const out: HandlerReport[] = [];
  for (let i = 0; i < n; i++) {
    const name = `Scale.Test.Handler${String(i).padStart(2, '0')}`;
    const handler: HandlerStatus = { name, version: '1.0.0', status: 'Ready', code: 0, message: 'Plugin enabled', supports_multi_config: false };
    out.push({ handler, extension: statusFromText(file(i), { handlerName: name, handlerVersion: '1.0.0', name, seq: i }) });
  }
  return out;
}

function input(handlers: HandlerReport[], maxBytes?: number): AggregateInput {
  return {
    handlers, guestOS: { computerName: 'vm', osName: 'flatcar', osVersion: '1' }, features: [],
    goalState: { status: 'Success', code: 0, message: 'GoalState executed successfully', inSvdSeqNo: '7', timestampUTC: '2026-12-07T00:00:00Z' },
    now: new Date('2026-12-07T00:00:01Z'), ...(maxBytes === undefined ? {} : { maxBytes }),
  };
}

function entriesOf(text: string): Entry[] {
  return (JSON.parse(text) as { aggregateStatus: { handlerAggregateStatus: Entry[] } }).aggregateStatus.handlerAggregateStatus;
}

/** Every handler kept, in order, with its status, code, sequence number and extension status/code. */
function assertEntriesKept(text: string, hs: HandlerReport[]): Entry[] {
  const es = entriesOf(text);
  assert.equal(es.length, hs.length);
  es.forEach((e, i) => {
    const h = hs[i]!;
    assert.equal(e.handlerName, h.handler.name);
    assert.equal(e.status, h.handler.status);
    assert.equal(e.code, h.handler.code);
    assert.equal(e.runtimeSettingsStatus?.sequenceNumber, h.extension!.sequenceNumber);
    assert.equal(e.runtimeSettingsStatus?.settingsStatus.status.status, h.extension!.status);
    assert.equal(e.runtimeSettingsStatus?.settingsStatus.status.code, h.extension!.code);
  });
  return es;
}

test('escapedLength is the length pyDumps gives a string; cutText respects the cap and surrogate pairs', () => {
  for (const s of ['', 'plain', 'q"b\\s', 'tab\tnl\ncr\r\b\f', '\u0001\u001f\u007f', 'é中😀', 'x'.repeat(300)]) {
    assert.equal(escapedLength(s), pyDumps(s).length - 2, JSON.stringify(s));
  }
  assert.equal(cutText('abcdef', 3), 'abc ... [TRUNCATED]');
  assert.equal(cutText('a中b', 6), 'a ... [TRUNCATED]', 'an escape is never split');
  const emoji = cutText('a😀b', 7 + 6);
  assert.equal(emoji, 'a😀 ... [TRUNCATED]');
  assert.equal(cutText('a😀b', 7), 'a ... [TRUNCATED]', 'a surrogate pair is never split');
});

test('50 handlers with maximal (> 128 KiB) status files: within 4 MiB, longest texts cut, every entry and substatus kept', () => {
  // Over 128 KiB: the agent keeps a 1 KiB message and 10 KiB substatus fields while their total stays <= 128 KiB.
  const file = (i: number): string => statusFile(`m${i}`.repeat(60_000), Array.from({ length: 20 }, (_, j) => ({ name: `n${j}`.padEnd(12_000, 'N'), message: `s${i}.${j} `.padEnd(12_000, 'S') })));
  const hs = reports(50, file);
  const untouched = pyDumps(buildAggregateStatus(input(hs)));
  assert.ok(untouched.length > MAX_STATUS_BLOB_BYTES, `the fixture exceeds the limit (${untouched.length})`);
  const text = aggregateStatusJson(input(hs));
  assert.ok(text.length <= MAX_STATUS_BLOB_BYTES, `${text.length} bytes`);
  assert.ok(text.length > MAX_STATUS_BLOB_BYTES - 64 * 1024, 'the limit is used, not undercut by far');
  assert.ok(/^[\x20-\x7e]*$/.test(text));
  const es = assertEntriesKept(text, hs);
  es.forEach((e, i) => {
    const subs = e.runtimeSettingsStatus!.settingsStatus.status.substatus!;
    assert.equal(subs.length, hs[i]!.extension!.substatus.length, 'step A drops no substatus');
    for (const s of subs) {
      assert.match(s.formattedMessage.message, /^s\d+\.\d+ S+ \.\.\. \[TRUNCATED\]$/);
      assert.ok(s.formattedMessage.message.length < 10_240, 'the long substatus texts were cut');
    }
    assert.equal(e.formattedMessage?.message, 'Plugin enabled', 'short texts are not touched');
  });
  assert.equal(aggregateStatusJson(input(hs)), text, 'deterministic');
});

test('non-ASCII text counts as escaped: 50 status files of 128 KiB characters, 6 bytes each in the blob', () => {
  const file = (i: number): string => statusFile(`${i}`, Array.from({ length: 12 }, (_, j) => ({ name: `n${j}`, message: '中'.repeat(10_000) })));
  const hs = reports(50, file);
  assert.ok(pyDumps(buildAggregateStatus(input(hs))).length > 30_000_000);
  const text = aggregateStatusJson(input(hs));
  assert.ok(text.length <= MAX_STATUS_BLOB_BYTES, `${text.length} bytes`);
  for (const e of assertEntriesKept(text, hs)) assert.equal(e.runtimeSettingsStatus!.settingsStatus.status.substatus!.length, 12);
});

test('many small substatus items: texts at the floor, then each extension keeps its first K items and says so', () => {
  const file = (i: number): string => statusFile(`status of ${i}`, Array.from({ length: 1300 }, (_, j) => ({ name: `item${j}`, message: 'ok' })));
  const hs = reports(50, file);
  assert.ok(pyDumps(buildAggregateStatus(input(hs))).length > MAX_STATUS_BLOB_BYTES);
  const text = aggregateStatusJson(input(hs));
  assert.ok(text.length <= MAX_STATUS_BLOB_BYTES, `${text.length} bytes`);
  const es = assertEntriesKept(text, hs);
  const kept = es[0]!.runtimeSettingsStatus!.settingsStatus.status.substatus!.length;
  assert.ok(kept > 500 && kept < 1300, `${kept} kept`);
  es.forEach((e, i) => {
    const st = e.runtimeSettingsStatus!.settingsStatus.status;
    assert.equal(st.substatus!.length, kept, 'the same K for every extension');
    assert.deepEqual(st.substatus!.map((s) => s.name), Array.from({ length: kept }, (_, j) => `item${j}`), 'the first items, in order');
    assert.equal(st.formattedMessage.message, `status of ${i} [status blob over ${MAX_STATUS_BLOB_BYTES} bytes: ${1300 - kept} of 1300 substatus items omitted by the agent]`);
  });
});

test('a small limit: no substatus, texts cut to what fits; an impossible one keeps every entry anyway', (t) => {
  const logged = captureLog(t);
  const file = (i: number): string => statusFile('x'.repeat(5000), Array.from({ length: 5 }, (_, j) => ({ name: `n${i}.${j}`, message: 'y'.repeat(3000) })));
  const hs = reports(50, file);
  const text = aggregateStatusJson(input(hs, 60_000));
  assert.ok(text.length <= 60_000, `${text.length}`);
  assert.equal(aggregateStatusJson(input(hs, 60_000)), text);
  const warned = logged.lines.filter((l) => l.includes('over the 60000-byte limit'));
  assert.equal(warned.length, 1, 'one warning, not one per poll');
  assert.match(warned[0]!, /Status blob of 50 handler entries is \d+ bytes, over the 60000-byte limit: no substatus, texts over \d+ bytes cut; uploading \d+ bytes/);
  for (const e of assertEntriesKept(text, hs)) {
    const st = e.runtimeSettingsStatus!.settingsStatus.status;
    assert.equal(st.substatus, undefined);
    assert.match(st.formattedMessage.message!, /^x+ \.\.\. \[TRUNCATED\]$/);
    assert.ok(st.formattedMessage.message!.length < TEXT_FLOOR);
  }
  const tiny = aggregateStatusJson(input(hs, 1000));
  assert.ok(tiny.length > 1000);
  for (const e of assertEntriesKept(tiny, hs)) assert.equal(e.runtimeSettingsStatus!.settingsStatus.status.formattedMessage.message, ' ... [TRUNCATED]');
});

test('under the limit nothing changes', () => {
  const hs = reports(3, (i) => statusFile(`m${i}`, [{ name: 'a', message: 'b' }]));
  assert.equal(aggregateStatusJson(input(hs)), pyDumps(buildAggregateStatus(input(hs))));
});
