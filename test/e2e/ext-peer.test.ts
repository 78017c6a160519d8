// Byte compatibility with the Python agent (a peer check; skipped without WALA_SRC, so never in CI): the
// same goal state (a single-config handler with protected settings, a multi-config one, a failing install
// and a dependant skipped because of it) run by our
// agent and by WALinuxAgent (WALA_SRC: a source tree outside /tmp) in two boxes; the files extensions read
// or the agent keeps in the handler dirs (HandlerEnvironment.json, HandlerManifest.json, settings,
// HandlerState, HandlerStatus, status, mrseq) must be the same byte for byte, except timestamps and the
// protected settings blob (encrypted afresh by each simulator); directory modes and owner bits must match,
// and group/others may never write where the Python agent does not let them. The status blob's handler
// entries and goal-state aggregate must be the same text. The whole e2e suite also runs against it: EXT_E2E_AGENT=upstream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ExtBox, LIB, skip, type AgentMode } from './ext-helpers.ts';

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
  const out = await x.sh(`cd ${LIB} && find Waagent.Test.* \\( -type d -printf 'd %m %p\\n' \\) -o \\( -type f -printf 'f %m %p\\n' \\)`);
  const m = new Map<string, Entry>();
  for (const line of out.split('\n')) {
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

test('peer (root, WALA_SRC): handler files byte for byte as the Python agent writes them', { skip: why, timeout: 300_000 }, async () => {
  const snaps: Array<Map<string, Entry>> = [];
  const blobs: string[] = [];
  const ours = (process.env['EXT_E2E_AGENT'] ?? 'auto') as AgentMode;
  for (const mode of [ours === 'upstream' ? 'auto' : ours, 'upstream'] as const) {
    const x = await ExtBox.start(SCENARIO, {}, mode);
    try {
      await x.reported('incarnation_1');
      snaps.push(await snapshot(x));
      // The handler entries of the status blob, key order included (the text is what CRP parses).
      const up = (await x.box.fabric!.statusUploads()).at(-1)!;
      const agg = (up.json as { aggregateStatus: { handlerAggregateStatus: unknown[]; vmArtifactsAggregateStatus: unknown } }).aggregateStatus;
      blobs.push(JSON.stringify([agg.handlerAggregateStatus, agg.vmArtifactsAggregateStatus]).replace(/"timestampUTC":"[^"]*"/g, '"timestampUTC":"T"'));
    } finally {
      await x.close();
    }
  }
  assert.equal(blobs[0], blobs[1], 'handlerAggregateStatus and vmArtifactsAggregateStatus as the Python agent reports them');
  const [mine, theirs] = snaps as [Map<string, Entry>, Map<string, Entry>];
  assert.deepEqual([...mine.keys()].sort(), [...theirs.keys()].sort(), 'the same files and directories');
  for (const [p, t] of theirs) {
    const o = mine.get(p)!;
    if (t.kind === 'd') {
      assert.equal(o.mode.toString(8), t.mode.toString(8), `${p}: directory mode`);
      continue;
    }
    assert.equal(o.content, t.content, `${p}: content`);
    // Package files keep the zip's read/execute bits (the Python agent ignores zip modes); nobody but root
    // may write where the Python agent would not let them.
    assert.equal(o.mode & ~t.mode & 0o022, 0, `${p}: ours (${o.mode.toString(8)}) lets group/others write where the Python agent (${t.mode.toString(8)}) does not`);
    // (The Python agent's state files come out 0744 or 0644; ours are 0600 in their 0700 dirs.)
    if (!/\/(config|status)\//.test(p)) assert.equal(o.mode & 0o700, t.mode & 0o700, `${p}: owner bits`);
  }
});
