// Extension telemetry events (docs/extensions.md §6.7): validation, mapping, caps, deletion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectExtensionEvents, normaliseEvent } from '../../src/extensions/events.ts';

const ev = (over: Record<string, unknown> = {}) => ({
  Version: '1.2.3', Timestamp: '2025-01-01T00:00:00Z', TaskName: 'Enable', EventLevel: 'Informational',
  Message: '  hello  ', EventPid: 12, EventTid: '34', OperationId: 'op-1', Extra: 'dropped', ...over,
});

test('normalise: case-insensitive keys, trimmed, ints to strings, message capped, SAS redacted', () => {
  const n = normaliseEvent({ ...ev(), version: undefined, VERSION: '9', Message: 'x'.repeat(4000) });
  assert.equal(n.version, '9');
  assert.equal(n.message.length, 3072);
  assert.equal(n.eventpid, '12');
  const r = normaliseEvent(ev({ Message: 'see https://a.blob.core.windows.net/c/x?sv=1&sig=SECRET' }));
  assert.ok(!r.message.includes('SECRET'));
  assert.throws(() => normaliseEvent(ev({ Message: '   ' })), /EmptyMessageError/);
  const missing: Record<string, unknown> = ev();
  delete missing['OperationId'];
  assert.throws(() => normaliseEvent(missing), /MissingKeyError: operationid not found/);
  assert.throws(() => normaliseEvent(ev({ TaskName: 't'.repeat(7000) })), /OversizeEventError/);
});

test('collect: newest first, mapping, per-handler cap, invalid counted, every file deleted', () => {
  const d = mkdtempSync(join(tmpdir(), 'ext-events-'));
  try {
    const dir = join(d, 'Pub.Ext', 'events');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, '100.json'), JSON.stringify(ev({ Message: 'old' })));
    writeFileSync(join(dir, '200.json'), JSON.stringify([ev({ Message: 'new1' }), ev({ Message: '' }), ev({ Message: 'new2' })]));
    writeFileSync(join(dir, '300.json'), '{not json');
    writeFileSync(join(dir, 'notes.txt'), 'ignored but removed');
    writeFileSync(join(dir, '400.json'), 'x'.repeat(2000));
    mkdirSync(join(d, 'Other.Ext'));
    const r = collectExtensionEvents(d, { maxPerHandler: 2, maxFileBytes: 1000 });
    assert.deepEqual(r.events.map((e) => e.event.params.find((p) => p.name === 'Context1')!.value), ['new1', 'new2']);
    const params = Object.fromEntries(r.events[0]!.event.params.map((p) => [p.name, p.value]));
    assert.deepEqual(params, { EventName: 'Pub.Ext-1.2.3', CapabilityUsed: 'Informational', TaskName: 'Enable', Context1: 'new1',
      Context2: '2025-01-01T00:00:00Z', Context3: 'op-1', EventPid: '12', EventTid: '34' });
    assert.equal(r.events[0]!.event.eventId, 7);
    assert.deepEqual(r.dropped['Pub.Ext'], { InvalidJson: 1, EmptyMessageError: 1 });
    assert.deepEqual(readdirSync(dir), []);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
