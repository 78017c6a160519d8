// Byte compatibility with the Python agent (a peer check; skipped without WALA_SRC, so never in CI): the
// same goal states (a single-config handler with protected settings, a multi-config one, a failing install
// and a dependant skipped because of it; then an upgrade with new settings, bad and huge status files,
// deletions and an uninstall) run by our
// agent and by WALinuxAgent (WALA_SRC: a source tree outside /tmp) in two boxes; the files extensions read
// or the agent keeps in the handler dirs (HandlerEnvironment.json, HandlerManifest.json, settings,
// HandlerState, HandlerStatus, status, mrseq) must be the same byte for byte, except timestamps and the
// protected settings blob (encrypted afresh by each simulator); directory modes and owner bits must match,
// and group/others may never write where the Python agent does not let them. The status blob's handler
// entries and goal-state aggregate must be the same text. The whole e2e suite also runs against it: EXT_E2E_AGENT=upstream.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExtBox, LIB, skip, type AgentMode } from './ext-helpers.ts';
import type { DriverConfig } from './ext-driver.ts';

const WALA_SRC = process.env['WALA_SRC'] ?? '';
const why = skip || (!WALA_SRC || !existsSync(join(WALA_SRC, 'bin', 'waagent')) ? 'set WALA_SRC to a WALinuxAgent source tree outside /tmp' : false);

const SCENARIO = {
  name: 'ext-peer',
  vm: { vmId: 'a06e2b7d-5f9c-4b6a-8d7e-8f9a0b1c2d35', containerId: '4c3b2a1f-0e9d-4c8b-9a7f-6e5d4c3b2a1f', roleName: 'extvm', hostname: 'extvm' },
  user: { name: 'azureuser' },
  vmSettings: false,
  extensions: [
    { name: 'Waagent.Test.Probe', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 2, publicSettings: { message: 'peer', list: [1, 'two', { three: null }] }, protectedSettings: { secret: 'peer-secret' } },
    { name: 'Waagent.Test.MC', version: '1.0.0', package: 'Waagent.Test.ProbeMC', multiConfig: [{ name: 'one', seqNo: 0, publicSettings: { message: 'mc' } }] },
    { name: 'Waagent.Test.FailInstall', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { failOn: 'install', exitCode: '7' } },
    { name: 'Waagent.Test.Second', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, dependsOn: { dependencyLevel: 1, on: [{ handler: 'Waagent.Test.FailInstall' }] } },
  ],
};

interface Entry { kind: 'd' | 'f'; mode: number; content?: string }

async function snapshot(x: ExtBox): Promise<Map<string, Entry>> {
  const out = await x.sh(`cd ${LIB} && find . -mindepth 1 -path './Waagent.Test.*' \\( -type d -printf 'd %m %P\\n' \\) -o -path './Waagent.Test.*' \\( -type f -printf 'f %m %P\\n' \\)`);
  const m = new Map<string, Entry>();
  for (const line of out.split('\n').filter(Boolean)) {
    const [kind, mode, p] = line.split(' ') as ['d' | 'f', string, string];
    const e: Entry = { kind, mode: parseInt(mode, 8) };
    if (kind === 'f') {
      e.content = x.box.readFile(`${LIB}/${p}`)
        .replace(/"timestampUTC": "[^"]*"/g, '"timestampUTC": "T"')
        .replace(/"protectedSettings": "[A-Za-z0-9+/=]+"/g, '"protectedSettings": "P"');
    }
    m.set(p, e);
  }
  return m;
}

/** Goal states after the first, as scenario patches: settings change and upgrade, deletions, uninstall. */
const STEPS: Array<Record<string, unknown>> = [
  { extensions: [
    { name: 'Waagent.Test.Probe', version: '1.1.0', versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.Probe', seqNo: 3, publicSettings: { message: 'peer 2' }, protectedSettings: { secret: 'peer-secret' } },
    { name: 'Waagent.Test.MC', version: '1.0.0', package: 'Waagent.Test.ProbeMC', multiConfig: [{ name: 'one', seqNo: 1, publicSettings: { message: 'mc' } }, { name: 'two', seqNo: 0, publicSettings: { message: 'mc 2' } }] },
    { name: 'Waagent.Test.BadStatus', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { statusMode: 'garbage' } },
    { name: 'Waagent.Test.HugeStatus', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { statusMode: 'huge' } },
    { name: 'Waagent.Test.FailEnable', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { failOn: 'enable', exitCode: '2' } },
  ] },
  { extensions: [
    { name: 'Waagent.Test.Probe', version: '1.1.0', versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.Probe', state: 'disabled', seqNo: 3, publicSettings: { message: 'peer 2' }, protectedSettings: { secret: 'peer-secret' } },
    { name: 'Waagent.Test.MC', version: '1.0.0', package: 'Waagent.Test.ProbeMC', multiConfig: [{ name: 'one', state: 'disabled', seqNo: 1, publicSettings: { message: 'mc' } }, { name: 'two', seqNo: 0, publicSettings: { message: 'mc 2' } }] },
  ] },
  { extensions: [
    { name: 'Waagent.Test.Probe', version: '1.1.0', versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.Probe', state: 'uninstall', seqNo: 3, publicSettings: { message: 'peer 2' }, protectedSettings: { secret: 'peer-secret' } },
    { name: 'Waagent.Test.MC', version: '1.0.0', package: 'Waagent.Test.ProbeMC', multiConfig: [{ name: 'two', seqNo: 0, publicSettings: { message: 'mc 2' } }] },
  ] },
];

interface Observation { files: Map<string, Entry>; blob: string; commands: string[] }

async function observe(x: ExtBox): Promise<Observation> {
  // The handler entries of the status blob, key order included (the text is what CRP parses).
  const up = (await x.box.fabric!.statusUploads()).at(-1)!;
  const agg = (up.json as { aggregateStatus: { handlerAggregateStatus: unknown[]; vmArtifactsAggregateStatus: unknown } }).aggregateStatus;
  const blob = JSON.stringify([agg.handlerAggregateStatus, agg.vmArtifactsAggregateStatus]).replace(/"timestampUTC":"[^"]*"/g, '"timestampUTC":"T"')
    // Only the JSON parsers' own words may differ (Python's json vs V8's).
    .replace(/(Failed due to \[ExtensionStatusError\] )[^\\]*?( \\n First 2000 Bytes)/g, '$1<parser>$2')
    .replace(/(\\nInner error: )[^"]*"/g, '$1<parser>"')
    // Ours is a string for both sources; the Python agent passes a vmSettings number through (known).
    .replace(/"inSvdSeqNo":"?(\d+)"?/g, '"inSvdSeqNo":$1');
  return { files: await snapshot(x), blob, commands: x.newCommands().map((c) => `${c.handler} ${c.version} ${c.op} ${c.env['ext']} seq=${c.env['seq']}`) };
}

/** Runs the goal states with our agent and with the Python one; every observation must agree. */
async function comparePeers(t: TestContext, scenario: Record<string, unknown>, steps: Array<Record<string, unknown>>, o: { cfg?: DriverConfig; conf?: string[]; reports?: number } = {}): Promise<void> {
  const runs: Observation[][] = [];
  const ours = (process.env['EXT_E2E_AGENT'] ?? 'auto') as AgentMode;
  for (const mode of [ours === 'upstream' ? 'auto' : ours, 'upstream'] as const) {
    const x = await ExtBox.start(scenario, o.cfg ?? {}, mode, o.conf ?? []);
    t.diagnostic(`goal-state loop: ${x.mode}`);
    const obs: Observation[] = [];
    try {
      await x.reported('incarnation_1', 90_000, o.reports ?? 1);
      obs.push(await observe(x));
      for (const patch of steps) {
        await x.reported(await x.update(patch), 90_000, o.reports ?? 1);
        obs.push(await observe(x));
      }
    } finally {
      await x.close();
    }
    runs.push(obs);
  }
  const [mineRun, theirRun] = runs as [Observation[], Observation[]];
  mineRun.forEach((mine, step) => {
    const theirs = theirRun[step]!;
    assert.deepEqual(mine.commands, theirs.commands, `goal state ${step + 1}: commands`);
    assert.equal(mine.blob, theirs.blob, `goal state ${step + 1}: handlerAggregateStatus and vmArtifactsAggregateStatus`);
    assert.deepEqual([...mine.files.keys()].sort(), [...theirs.files.keys()].sort(), `goal state ${step + 1}: the same files and directories`);
    for (const [p, th] of theirs.files) {
      const o = mine.files.get(p)!;
      if (th.kind === 'd') {
        assert.equal(o.mode.toString(8), th.mode.toString(8), `goal state ${step + 1}: ${p}: directory mode`);
        continue;
      }
      assert.equal(o.content, th.content, `goal state ${step + 1}: ${p}: content`);
      // Package files keep the zip's read/execute bits (the Python agent ignores zip modes); nobody but root
      // may write where the Python agent would not let them.
      assert.equal(o.mode & ~th.mode & 0o022, 0, `${p}: ours (${o.mode.toString(8)}) lets group/others write where the Python agent (${th.mode.toString(8)}) does not`);
      // The package's programs are executable alike. (Other owner bits vary on the Python side: it adds u+x
      // to whatever is in the dir at each extraction, HandlerEnvironment.json included.)
      if (p.includes('/bin/')) assert.equal(o.mode & 0o700, th.mode & 0o700, `goal state ${step + 1}: ${p}: owner bits`);
    }
  });
}

test('peer (root, WALA_SRC): handler files byte for byte, status entries as text, same commands as the Python agent, over four goal states', { skip: why, timeout: 600_000 }, async (t) => {
  await comparePeers(t, SCENARIO, STEPS);
});

const probe = (version: string, seqNo: number, pub: Record<string, unknown>) => ({ name: 'Waagent.Test.Probe', version, versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.Probe', seqNo, publicSettings: pub });

test('peer (root, WALA_SRC): a failed update, its retry and a downgrade as the Python agent does them', { skip: why, timeout: 600_000 }, async (t) => {
  await comparePeers(t, { ...SCENARIO, name: 'ext-peer-upgrade', extensions: [probe('1.0.0', 0, { message: 'v1' })] }, [
    { extensions: [probe('1.1.0', 1, { message: 'v2', failOn: 'update', exitCode: '9' })] },
    { extensions: [probe('1.1.0', 2, { message: 'v2 fixed' })] },
    { extensions: [probe('1.0.0', 3, { message: 'back' })] },
  ]);
});

const mc = (version: string, state: string, exts: Array<Record<string, unknown>>) => ({ name: 'Waagent.Test.MC', version, versions: ['1.0.0', '1.1.0'], package: 'Waagent.Test.ProbeMC', state, multiConfig: exts });

test('peer (root, WALA_SRC): a multi-config handler through deletion, upgrade and uninstall as the Python agent does it', { skip: why, timeout: 600_000 }, async (t) => {
  await comparePeers(t, { ...SCENARIO, name: 'ext-peer-mc', extensions: [mc('1.0.0', 'enabled', [{ name: 'first', seqNo: 0, publicSettings: { message: 'one' } }, { name: 'second', seqNo: 3 }])] }, [
    { extensions: [mc('1.0.0', 'enabled', [{ name: 'first', seqNo: 1, publicSettings: { message: 'one again' } }, { name: 'second', state: 'disabled', seqNo: 3 }])] },
    { extensions: [mc('1.1.0', 'enabled', [{ name: 'first', seqNo: 1, publicSettings: { message: 'one again' } }, { name: 'third', seqNo: 0 }])] },
    { extensions: [mc('1.1.0', 'uninstall', [{ name: 'first', seqNo: 1, publicSettings: { message: 'one again' } }, { name: 'third', seqNo: 0 }])] },
  ]);
});

test('peer (root, WALA_SRC): Fast Track goal states as the Python agent runs them', { skip: why, timeout: 600_000 }, async (t) => {
  const ft = { ...SCENARIO, name: 'ext-peer-ft', vmSettings: { enabled: true, source: 'FastTrack', newerBySeconds: 60 } };
  await comparePeers(t, ft, [{ extensions: [
    { name: 'Waagent.Test.Probe', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 3, publicSettings: { message: 'fast again' }, protectedSettings: { secret: 'peer-secret' } },
  ] }]);
});

test('peer (root, WALA_SRC): Extensions.Enabled=n as the Python agent reports it', { skip: why, timeout: 600_000 }, async (t) => {
  await comparePeers(t, SCENARIO, [], { cfg: { extensionsEnabled: false }, conf: ['Extensions.Enabled=n'] });
});

test('peer (root, WALA_SRC): a manifest via the HostGAPlugin, a failed install, dependencies failing then waited for', { skip: why, timeout: 600_000 }, async (t) => {
  const pr = (name: string, seqNo: number, pub: Record<string, unknown>, more: Record<string, unknown> = {}) => ({ name, version: '1.0.0', package: 'Waagent.Test.Probe', seqNo, publicSettings: pub, ...more });
  const second = pr('Waagent.Test.Second', 0, { message: 'after first' }, { dependsOn: { dependencyLevel: 1, on: [{ handler: 'Waagent.Test.First' }] } });
  await comparePeers(t, {
    ...SCENARIO, name: 'ext-peer-failures',
    extensions: [pr('Waagent.Test.FailInstall', 0, { failOn: 'install', exitCode: '7' }), pr('Waagent.Test.Fallback', 0, { message: 'via the plugin' })],
    faults: [{ endpoint: 'blob', path: '/extensions/Waagent.Test.Fallback_manifest.xml', action: 'status', status: 404, count: 0 }],
  }, [
    { extensions: [second, pr('Waagent.Test.First', 0, { failOn: 'enable' })], faults: [] },
    { extensions: [second, pr('Waagent.Test.First', 1, { message: 'fixed', statusLater: 'success' })] },
  ]);
});

test('peer (root, WALA_SRC): heartbeats (reportHeartbeat) as the Python agent reports them', { skip: why, timeout: 600_000 }, async (t) => {
  const hb = (name: string, seqNo: number, pub: Record<string, unknown>) => ({ name, version: '1.0.0', package: 'Waagent.Test.ProbeHeartbeat', seqNo, publicSettings: pub });
  await comparePeers(t, { ...SCENARIO, name: 'ext-peer-hb', extensions: [
    hb('Waagent.Test.Beat', 0, { heartbeat: 'write', heartbeatStatus: 'ready' }),
    hb('Waagent.Test.NoBeat', 0, { message: 'no heartbeat file' }),
  ] }, [{ extensions: [
    hb('Waagent.Test.Beat', 1, { heartbeat: 'write', heartbeatStatus: 'NotReady' }),
    hb('Waagent.Test.NoBeat', 0, { message: 'no heartbeat file' }),
  ] }], { reports: 3 });
  // (Compared from the third report on: a missing heartbeat file turns the Python agent's handler status
  // NotReady from its second report after a goal state, ours from the first — it persists the error and
  // reports the status it had read before.)
});

test('peer (root, WALA_SRC): a handler without settings, then uninstalled, as the Python agent does it', { skip: why, timeout: 600_000 }, async (t) => {
  const bare = (state: string) => ({ name: 'Waagent.Test.Bare', version: '1.0.0', package: 'Waagent.Test.Probe', state });
  await comparePeers(t, { ...SCENARIO, name: 'ext-peer-bare', extensions: [bare('enabled')] }, [{ extensions: [bare('uninstall')] }]);
});
