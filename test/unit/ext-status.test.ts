// Status files written by extensions (docs/extensions.md §5.1–5.2), heartbeat (§3.7) and the aggregate
// status blob (§5.3–5.4): every error mapping, truncation, and the exact serialised document.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerLayout } from '../../src/extensions/layout.ts';
import { applyHeartbeat, collectExtensionStatus, handlingStatus, readHeartbeat, statusFromText, type StatusContext } from '../../src/extensions/statusFile.ts';
import { StatusTextMemo, aggregateStatusJson, buildAggregateStatus, crpSupportedFeatures, type AggregateInput } from '../../src/extensions/aggregate.ts';
import { pyDumps } from '../../src/extensions/pyjson.ts';
import type { HandlerStatus } from '../../src/extensions/state.ts';

const H = 'Microsoft.Azure.Extensions.CustomScript';
const ctx: StatusContext = { handlerName: H, handlerVersion: '2.1.6', name: H, seq: 3 };

function setup() {
  const d = mkdtempSync(join(tmpdir(), 'ext-status-'));
  const layout = new HandlerLayout({ libDir: join(d, 'lib'), extLogDir: join(d, 'log') }, H, '2.1.6');
  mkdirSync(layout.statusDir, { recursive: true });
  return { d, layout };
}

const good = [{ version: 1.0, timestampUTC: '2024-01-01T00:00:00Z', status: {
  name: 'ignored', operation: 'Enable', status: 'success', code: 0, configurationAppliedTime: '2024-01-01T00:00:01Z',
  formattedMessage: { lang: 'en-US', message: 'Enable succeeded' },
  substatus: [{ name: 'stdout', status: 'success', code: 0, formattedMessage: { lang: 'en-US', message: 'hello' } }, null] } }];

test('a valid status file is parsed; name comes from the goal state; code passed through', () => {
  const s = statusFromText(JSON.stringify(good), ctx);
  assert.equal(s.name, H);
  assert.equal(s.status, 'success');
  assert.equal(s.operation, 'Enable');
  assert.equal(s.configurationAppliedTime, '2024-01-01T00:00:01Z');
  assert.equal(s.message, 'Enable succeeded');
  assert.deepEqual(s.substatus, [{ name: 'stdout', status: 'success', code: 0, message: 'hello' }]);
  const strCode = statusFromText('[{"status":{"status":"warning","code":"0"}}]', ctx);
  assert.equal(strCode.code, '0');
  assert.equal(strCode.message, null);
  const unknown = statusFromText('[{"status":{"status":"failed"}}]', ctx);
  assert.equal(unknown.status, 'error');
  assert.equal(unknown.code, 0);
  const empty = statusFromText('[]', ctx);
  assert.equal(empty.status, null);
});

test('invalid JSON => error 1012 with the first 2000 chars; schema violations => 1012', () => {
  const bad = statusFromText('{broken' + 'x'.repeat(5000), ctx);
  assert.equal(bad.status, 'error');
  assert.equal(bad.code, 1012);
  assert.match(bad.message!, /^The status reported by the extension Microsoft\.Azure\.Extensions\.CustomScript-2\.1\.6\(Sequence number 3\), was in an incorrect format/);
  assert.match(bad.message!, /Failed due to \[ExtensionStatusError\] (.+) \n First 2000 Bytes of status file:\n \{brokenx{1993}\nInner error: \1$/);
  for (const [text, re] of [
    ['{"status":{}}', /must be an array/],
    ['[{"nostatus":1}]', /Missing status key/],
    ['[{"status":{"code":1}}]', /Missing status\/status key/],
    ['[{"status":{"status":"success","formattedMessage":{"message":"m"}}}]', /Missing formattedMessage\/lang key/],
    ['[{"status":{"status":"success","substatus":[{"status":"weird"}]}}]', /Invalid value "weird"/],
  ] as const) {
    const s = statusFromText(text, ctx);
    assert.equal(s.status, 'error', text);
    assert.equal(s.code, 1012, text);
    assert.match(s.message!, /^Could not get a valid status from the extension Microsoft\.Azure\.Extensions\.CustomScript-2\.1\.6\. Encountered the following error: \[ExtensionStatusError\] /);
    assert.match(s.message!, re, text);
  }
});

test('a status file over 128 KiB keeps its status but truncates message and substatus (41 large items -> 12)', () => {
  const big = 'm'.repeat(11000);
  const doc = [{ status: { status: 'success', code: 0, formattedMessage: { lang: 'en-US', message: 'M'.repeat(5000) },
    substatus: Array.from({ length: 41 }, (_, i) => ({ name: `n${i}`, status: 'success', formattedMessage: { lang: 'en-US', message: big } })) } }];
  const s = statusFromText(JSON.stringify(doc), ctx);
  assert.equal(s.status, 'success');
  assert.equal(s.message, 'M'.repeat(1024) + ' ... [TRUNCATED]');
  assert.equal(s.substatus.length, 12);
  assert.equal(s.substatus[0]!.message, 'm'.repeat(10240) + ' ... [TRUNCATED]');
});

test('collect: missing file => transitioning with the Guest Agent message; MC names; negative seq => null', async () => {
  const { d, layout } = setup();
  try {
    const s = (await collectExtensionStatus(layout, ctx, { retryDelayMs: 0 }))!;
    assert.equal(s.status, 'transitioning');
    assert.equal(s.code, 0);
    assert.equal(s.message, `This status is being reported by the Guest Agent since no status file was reported by extension ${H}: [ExtensionStatusError] Status file ${layout.statusPath(3)} does not exist`);
    const mc = { handlerName: H, handlerVersion: '2.1.6', ext: 'run1', name: 'run1', seq: 0 };
    writeFileSync(layout.statusPath(0, 'run1'), JSON.stringify(good));
    const m = (await collectExtensionStatus(layout, mc, { retryDelayMs: 0 }))!;
    assert.equal(m.name, 'run1');
    assert.equal(m.status, 'success');
    assert.equal(await collectExtensionStatus(layout, { ...ctx, seq: -1 }), null);
    assert.equal(await handlingStatus(layout, ctx), 'warning');
    assert.equal(await handlingStatus(layout, mc), 'success');
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('collect: unreadable file => error -1; garbage => 1012 after a retry; a directory is unreadable', async () => {
  const { d, layout } = setup();
  try {
    mkdirSync(layout.statusPath(3));
    const s = (await collectExtensionStatus(layout, ctx, { retryDelayMs: 0 }))!;
    assert.equal(s.status, 'error');
    assert.equal(s.code, -1);
    assert.match(s.message!, /^We couldn't read any status for Microsoft\.Azure\.Extensions\.CustomScript-2\.1\.6 extension, for the sequence number 3\. It failed due to /);
    writeFileSync(layout.statusPath(4), 'garbage');
    const g = (await collectExtensionStatus(layout, { ...ctx, seq: 4 }, { retryDelayMs: 0 }))!;
    assert.equal(g.code, 1012);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('heartbeat: missing, stale, valid, malformed', () => {
  const { d, layout } = setup();
  try {
    const hs: HandlerStatus = { name: H, version: '2.1.6', status: 'Ready', code: 0, message: 'Plugin enabled', supports_multi_config: false };
    assert.deepEqual(applyHeartbeat(hs, layout), { ...hs, status: 'NotReady', code: -1, message: '[ExtensionError] Failed to get heart beat file' });
    writeFileSync(layout.heartbeatPath, JSON.stringify([{ version: 1.0, heartbeat: { status: 'ready', code: 0, formattedMessage: { lang: 'en-US', message: 'alive' } } }]));
    assert.deepEqual(applyHeartbeat(hs, layout), { ...hs, status: 'ready', message: 'alive' });
    const old = (Date.now() - 700_000) / 1000;
    utimesSync(layout.heartbeatPath, old, old);
    assert.deepEqual(applyHeartbeat(hs, layout), { ...hs, status: 'Unresponsive' });
    writeFileSync(layout.heartbeatPath, '[{"nope":1}]');
    const m = applyHeartbeat(hs, layout);
    assert.equal(m.status, 'NotReady');
    assert.match(m.message!, /^\[ExtensionError\] Malformed heartbeat file: /);
    assert.equal(readHeartbeat(hs, layout).failed, true, 'a failure is what gets persisted');
    writeFileSync(layout.heartbeatPath, JSON.stringify([{ version: 1.0, heartbeat: { status: 'ready', code: 0 } }]));
    assert.deepEqual(readHeartbeat(hs, layout), { status: { ...hs, status: 'ready' }, failed: false }, 'a good heartbeat only changes the report');
    utimesSync(layout.heartbeatPath, old, old);
    assert.equal(readHeartbeat(hs, layout).failed, false, 'unresponsive is not a failure to persist');
    rmSync(layout.heartbeatPath);
    assert.equal(readHeartbeat(hs, layout).failed, true);
    chmodSync(layout.statusDir, 0o700);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('aggregate status: exact document, key order, redaction, our version, no VersioningGovernance', () => {
  const now = new Date('2025-01-01T10:00:00.123Z');
  const sc: HandlerStatus = { name: H, version: '2.1.6', status: 'Ready', code: 0, message: 'Plugin enabled', supports_multi_config: false };
  const ext = statusFromText(JSON.stringify(good), { ...ctx, seq: 3 });
  ext.message = 'downloaded https://acct.blob.core.windows.net/c/f.sh?sv=2020-01-01&sig=SECRETSIG ok é';
  const mcH: HandlerStatus = { name: 'Microsoft.CPlat.Core.RunCommandHandlerLinux', version: '1.3.2', status: 'NotReady', code: 1009, message: null, supports_multi_config: true };
  const mcExt = statusFromText('[{"status":{"status":"error","code":1009,"operation":"Enable","formattedMessage":{"lang":"en-US","message":"bad"}}}]',
    { handlerName: mcH.name, handlerVersion: '1.3.2', ext: 'myRunCmd', name: 'myRunCmd', seq: 0 });
  const input = {
    handlers: [{ handler: sc, extension: ext }, { handler: mcH, extension: mcExt, isMultiConfig: true }, { handler: { ...sc, name: 'No.Settings' } }],
    goalState: { status: 'Success' as const, code: 0, message: 'GoalState executed successfully', inSvdSeqNo: '12', timestampUTC: '2025-01-01T09:59:58Z' },
    guestOS: { computerName: 'vm1', osName: 'flatcar', osVersion: '4081.2.0' },
    features: crpSupportedFeatures({ fastTrack: true }),
    now,
  };
  const text = aggregateStatusJson(input);
  assert.ok(/^[\x20-\x7e]*$/.test(text), 'pure printable ASCII');
  assert.ok(!text.includes('SECRETSIG'));
  assert.ok(text.includes('\\u00e9'));
  assert.ok(!text.includes('VersioningGovernance'));
  assert.ok(text.startsWith('{"version": "1.1", "timestampUTC": "2025-01-01T10:00:00Z", "aggregateStatus": {"guestAgentStatus": {"version": "3.0.0.0", "status": "Ready", "formattedMessage": {"lang": "en-US", "message": "Guest Agent is running"}}, "handlerAggregateStatus": [{"handlerVersion": "2.1.6", "handlerName": "Microsoft.Azure.Extensions.CustomScript", "status": "Ready", "code": 0, "useExactVersion": true, "formattedMessage": {"lang": "en-US", "message": "Plugin enabled"}, "runtimeSettingsStatus": {"settingsStatus": {"status": {"name": "Microsoft.Azure.Extensions.CustomScript", "configurationAppliedTime": "2024-01-01T00:00:01Z", "operation": "Enable", "status": "success", "code": 0, "formattedMessage": {"lang": "en-US", "message": "downloaded https://acct.blob.core.windows.net/c/f.sh?'), text.slice(0, 900));
  assert.ok(text.includes('"substatus": [{"name": "stdout", "status": "success", "code": 0, "formattedMessage": {"lang": "en-US", "message": "hello"}}]}, "version": 1.0, "timestampUTC": "2025-01-01T10:00:00Z"}, "sequenceNumber": 3}}'));
  assert.ok(text.includes('{"handlerVersion": "1.3.2", "handlerName": "Microsoft.CPlat.Core.RunCommandHandlerLinux", "status": "NotReady", "code": 1009, "useExactVersion": true, "runtimeSettingsStatus": {"settingsStatus": {"status": {"name": "myRunCmd", "configurationAppliedTime": null, "operation": "Enable", "status": "error", "code": 1009, "formattedMessage": {"lang": "en-US", "message": "bad"}}, "version": 1.0, "timestampUTC": "2025-01-01T10:00:00Z"}, "sequenceNumber": 0, "extensionName": "myRunCmd"}}'));
  assert.ok(text.includes('{"handlerVersion": "2.1.6", "handlerName": "No.Settings", "status": "Ready", "code": 0, "useExactVersion": true, "formattedMessage": {"lang": "en-US", "message": "Plugin enabled"}}]'));
  assert.ok(text.endsWith('"vmArtifactsAggregateStatus": {"goalStateAggregateStatus": {"formattedMessage": {"lang": "en-US", "message": "GoalState executed successfully"}, "timestampUTC": "2025-01-01T09:59:58Z", "inSvdSeqNo": "12", "status": "Success", "code": 0}}}, "guestOSInfo": {"computerName": "vm1", "osName": "flatcar", "osVersion": "4081.2.0", "version": "3.0.0.0"}, "supportedFeatures": [{"Key": "MultipleExtensionsPerHandler", "Value": "1.0"}, {"Key": "FastTrack", "Value": "1.0"}]}'));
  const parsed = JSON.parse(text);
  assert.equal(parsed.aggregateStatus.handlerAggregateStatus.length, 3);
  const noGs = buildAggregateStatus({ ...input, goalState: null, features: crpSupportedFeatures({ fastTrack: false }) });
  assert.equal('vmArtifactsAggregateStatus' in (noGs['aggregateStatus'] as object), false);
  assert.deepEqual(noGs['supportedFeatures'], [{ Key: 'MultipleExtensionsPerHandler', Value: '1.0' }]);
});

test('aggregate: an unchanged extension status is serialised once and reused; a newly registered secret invalidates it', async () => {
  const { addSecret } = await import('../../src/util/logger.ts');
  const h: HandlerStatus = { name: 'Test.Ext', version: '1.0', status: 'Ready', code: 0, message: 'Plugin enabled', supports_multi_config: false };
  const ext = statusFromText('[{"status":{"status":"success","code":0,"operation":"Enable","formattedMessage":{"lang":"en-US","message":"token hunter2-later-secret used"}}}]',
    { handlerName: h.name, handlerVersion: '1.0', ext: undefined, name: h.name, seq: 1 });
  const input = { handlers: [{ handler: h, extension: ext }], guestOS: { computerName: 'vm', osName: 'x', osVersion: '1' }, features: [], now: new Date('2025-01-01T10:00:00Z') };
  const first = aggregateStatusJson(input);
  assert.ok(first.includes('hunter2-later-secret'));
  // Same object, later cycle: the same text (only the timestamps follow the clock).
  const again = aggregateStatusJson({ ...input, now: new Date('2025-01-01T10:00:06Z') });
  assert.equal(again.replaceAll('10:00:06', '10:00:00'), first);
  addSecret('hunter2-later-secret');
  const after = aggregateStatusJson(input);
  assert.ok(!after.includes('hunter2-later-secret'), 'the kept text is redacted again with the new secret');
  assert.equal(after, pyDumps(buildAggregateStatus(input)), 'the same text as serialising the plain objects');
});

test('aggregate memo: an unchanged report reuses the last text with the new timestamps; any change of its input builds it again', async () => {
  const { addSecret } = await import('../../src/util/logger.ts');
  const h: HandlerStatus = { name: 'Test.Ext', version: '1.0', status: 'Ready', code: 0, message: 'Plugin enabled', supports_multi_config: false };
  const ext = statusFromText('[{"status":{"status":"success","code":0,"operation":"Enable","formattedMessage":{"lang":"en-US","message":"memo-secret-one ok"}}}]',
    { handlerName: h.name, handlerVersion: '1.0', ext: undefined, name: h.name, seq: 1 });
  const base: AggregateInput = {
    handlers: [{ handler: { ...h }, extension: ext }, { handler: { ...h, name: 'No.Settings' } }],
    goalState: { status: 'Success', code: 0, message: 'GoalState executed successfully', inSvdSeqNo: '3', timestampUTC: '2025-01-01T09:00:00Z' },
    guestOS: { computerName: 'vm', osName: 'x', osVersion: '1' },
    features: crpSupportedFeatures({ fastTrack: false }),
    now: new Date('2025-01-01T10:00:00Z'),
  };
  const memo = new StatusTextMemo();
  // What a fresh build says: the memo must always answer exactly that.
  const fresh = (i: AggregateInput) => pyDumps(buildAggregateStatus(i, false));
  const at = (sec: number, i: AggregateInput = base): AggregateInput => ({ ...i, now: new Date(Date.UTC(2025, 0, 1, 10, 0, sec)) });
  assert.equal(aggregateStatusJson(base, memo), fresh(base));
  // The next poll: new objects with the same content (as the report cycle makes), a later clock.
  const next = at(6, { ...base, handlers: base.handlers.map((r) => ({ ...r, handler: { ...r.handler } })), guestOS: { ...base.guestOS }, features: crpSupportedFeatures({ fastTrack: false }) });
  const reused = aggregateStatusJson(next, memo);
  assert.equal(reused, fresh(next));
  assert.match(reused, /"timestampUTC": "2025-01-01T10:00:06Z"/);
  assert.equal(reused.split('2025-01-01T10:00:06Z').length, 3, 'the document and the extension status carry the new time');
  // Each change of what the document is made of is seen.
  const changes: [string, AggregateInput][] = [
    ['handler status', { ...base, handlers: [{ handler: { ...h, status: 'NotReady' }, extension: ext }, base.handlers[1]!] }],
    ['handler message', { ...base, handlers: [{ handler: { ...h, message: 'other' }, extension: ext }, base.handlers[1]!] }],
    ['extension status object', { ...base, handlers: [{ handler: { ...h }, extension: { ...ext!, status: 'error' } }, base.handlers[1]!] }],
    ['a handler less', { ...base, handlers: [base.handlers[0]!] }],
    ['goal state', { ...base, goalState: { ...base.goalState!, inSvdSeqNo: '4' } }],
    ['no goal state', { ...base, goalState: null }],
    ['host name', { ...base, guestOS: { ...base.guestOS, computerName: 'vm2' } }],
    ['features', { ...base, features: crpSupportedFeatures({ fastTrack: true }) }],
    ['agent message', { ...base, agentMessage: 'Guest Agent is running; ERROR: no firewall' }],
  ];
  for (const [what, input] of changes) {
    assert.equal(aggregateStatusJson(at(12, input), memo), fresh(at(12, input)), what);
    assert.equal(aggregateStatusJson(at(18), memo), fresh(at(18)), `${what}, then back`);
  }
  // The caller changing its objects after the call does not change what the memo compares with.
  const mutable = at(24, { ...base, handlers: [{ handler: { ...h }, extension: ext }, base.handlers[1]!] });
  aggregateStatusJson(mutable, memo);
  mutable.handlers[0]!.handler.code = 7;
  assert.equal(aggregateStatusJson(at(30, mutable), memo), fresh(at(30, mutable)));
  // A newly registered secret: the kept text is not used.
  addSecret('memo-secret-one');
  const redacted = aggregateStatusJson(at(36), memo);
  assert.ok(!redacted.includes('memo-secret-one'));
  assert.equal(redacted, fresh(at(36)));
  // A message that is exactly a timestamp of the document is not taken for one.
  const tricky = statusFromText('[{"status":{"status":"success","code":0,"formattedMessage":{"lang":"en-US","message":"2025-01-01T10:00:42Z"}}}]',
    { handlerName: h.name, handlerVersion: '1.0', ext: undefined, name: h.name, seq: 1 });
  const withTricky = at(42, { ...base, handlers: [{ handler: { ...h }, extension: tricky }] });
  assert.equal(aggregateStatusJson(withTricky, memo), fresh(withTricky));
  assert.equal(aggregateStatusJson(at(48, withTricky), memo), fresh(at(48, withTricky)), 'the message stays as it was written');
});

test('aggregate memo: a text the size limit cut is built again every time, as without the memo', () => {
  const h: HandlerStatus = { name: 'Test.Ext', version: '1.0', status: 'Ready', code: 0, message: 'x'.repeat(400), supports_multi_config: false };
  const input: AggregateInput = { handlers: [{ handler: h }, { handler: { ...h, name: 'Test.Two' } }], guestOS: { computerName: 'vm', osName: 'x', osVersion: '1' }, features: [], now: new Date('2025-01-01T10:00:00Z'), maxBytes: 900 };
  const memo = new StatusTextMemo();
  const first = aggregateStatusJson(input, memo);
  assert.ok(first.length <= 900);
  const later = { ...input, now: new Date('2025-01-01T10:00:06Z') };
  assert.equal(aggregateStatusJson(later, memo), aggregateStatusJson(later));
});
