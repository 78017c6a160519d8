// The extension pipeline against the fabric simulator on 127.0.0.1 only: goal state from the WireServer,
// manifest and package through the platform's artifact fetcher, the demo shell extension installed and
// enabled by our executor (it decrypts its protected settings with the tenant cert the platform wrote),
// the aggregate status built and uploaded; the simulator's record of the status blob is checked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { baseScenario } from '../fabric/testing.ts';
import { ExtensionsExecutor } from '../../src/extensions/executor.ts';
import { platformArtifactSource } from '../../src/extensions/artifacts.ts';
import { aggregateStatusJson, crpSupportedFeatures } from '../../src/extensions/aggregate.ts';
import type { ExtensionsGoalState } from '../../src/platform/types.ts';
import { quickClock } from '../helpers/clock.ts';
import { withProtocol } from '../helpers/protocol.ts';

const clock = quickClock();

test('fabric (loopback): install + enable the demo extension, protected settings decrypted, status blob uploaded', async () => {
  await withProtocol(baseScenario({ vmSettings: false }), async ({ f, p, roots }) => {
    const poll = await p.detect();
    const egs = poll.extensions;
    assert.equal(egs.handlers[0]!.name, 'Waagent.Test.ShellExt');
    const ex = new ExtensionsExecutor({
      roots, wireServer: '127.0.0.1', artifacts: platformArtifactSource(p.artifacts, { fastTrack: egs.source === 'FastTrack' }),
      baseEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, statusRead: { retryDelayMs: 0 },
    });
    const agg = await ex.process(egs);
    assert.equal(agg.status, 'Success');
    const reports = await ex.report(egs);
    assert.equal(reports[0]!.handler.status, 'Ready', reports[0]!.handler.message ?? '');
    const expected = createHash('sha256').update(JSON.stringify({ secret: 'test-protected' })).digest('hex');
    assert.equal(reports[0]!.extension!.message, `protectedSettingsSha256=${expected}; message=from-test`);
    assert.deepEqual(readdirSync(roots.libDir).filter((n) => n.endsWith('.zip')), [], 'package deleted after extraction');
    assert.ok(existsSync(join(roots.libDir, 'Waagent.Test.ShellExt-1.0.0', 'HandlerEnvironment.json')));

    const blob = aggregateStatusJson({ handlers: reports, goalState: agg, guestOS: { computerName: 'testvm', osName: 'flatcar', osVersion: '1' }, features: crpSupportedFeatures({ fastTrack: poll.fastTrackSupported }) });
    const outcome = await p.uploadStatus(blob);
    assert.equal(outcome.ok, true, JSON.stringify(outcome.attempts));
    const up = f.statusUploads().at(-1)!;
    const json = up.json as { aggregateStatus: { guestAgentStatus: { version: string }; handlerAggregateStatus: Array<{ handlerName: string; status: string; runtimeSettingsStatus: { sequenceNumber: number; settingsStatus: { status: { status: string } } } }>; vmArtifactsAggregateStatus: { goalStateAggregateStatus: { inSvdSeqNo: string; status: string } } } };
    assert.equal(json.aggregateStatus.guestAgentStatus.version, '3.0.0.0');
    const hs = json.aggregateStatus.handlerAggregateStatus[0]!;
    assert.equal(hs.handlerName, 'Waagent.Test.ShellExt');
    assert.equal(hs.status, 'Ready');
    assert.equal(hs.runtimeSettingsStatus.sequenceNumber, 3);
    assert.equal(hs.runtimeSettingsStatus.settingsStatus.status.status, 'success');
    assert.equal(json.aggregateStatus.vmArtifactsAggregateStatus.goalStateAggregateStatus.status, 'Success');
    assert.equal(up.text.includes('test-protected'), false, 'the secret never reaches the status blob');
  }, { clock });
});

test('fabric (loopback): a Fast Track (vmSettings) goal state; direct storage failing => HostGAPlugin with the verify header', async () => {
  await withProtocol(baseScenario({
    vmSettings: { enabled: true, source: 'FastTrack' },
    faults: [{ endpoint: 'blob', path: '/extensions/', action: 'status', status: 404, count: 0 }],
  }), async ({ f, p, roots }) => {
    await p.detect();
    // Take the vmSettings goal state itself (which source wins a tie is the platform's selection, not ours).
    const vm = await p.hgap.vmSettings();
    assert.notEqual(vm.kind, 'unsupported');
    const egs = (vm as { goalState: ExtensionsGoalState }).goalState;
    assert.equal(egs.source, 'FastTrack');
    assert.match(egs.id, /^etag_/);
    const poll = { extensions: egs };
    const ex = new ExtensionsExecutor({
      roots, wireServer: '127.0.0.1', artifacts: platformArtifactSource(p.artifacts, { fastTrack: true }),
      baseEnv: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' }, statusRead: { retryDelayMs: 0 },
    });
    const agg = await ex.process(poll.extensions);
    assert.equal(agg.inSvdSeqNo, poll.extensions.inSvdSeqNo);
    const reports = await ex.report(poll.extensions);
    assert.equal(reports[0]!.handler.status, 'Ready', reports[0]!.handler.message ?? '');
    const arts = f.requests({ path: '/extensionArtifact' });
    assert.ok(arts.length >= 2, 'manifest and package came through the plugin');
    assert.ok(arts.every((r) => r.headers['x-ms-verify-from-artifacts-blob'] === 'true'));
    assert.ok(arts.some((r) => typeof r.headers['x-ms-artifact-manifest-location'] === 'string'), 'package request names its manifest');
  }, { clock });
});
