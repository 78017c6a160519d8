// Scenario files: every shipped scenario loads and starts; a bad file fails naming the file and the field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadScenarioFile, mergePatch, validateScenario, ScenarioError } from '../fabric/scenario.ts';
import { startFabric } from '../fabric/server.ts';
import { SCENARIOS, baseScenario } from '../fabric/testing.ts';

test('every shipped scenario validates and starts (packages present)', async () => {
  const files = readdirSync(SCENARIOS).filter((n) => n.endsWith('.json'));
  assert.ok(files.includes('default.json'));
  for (const name of files) {
    const s = loadScenarioFile(join(SCENARIOS, name));
    const f = await startFabric({ scenario: join(SCENARIOS, name), bind: 'loopback', quiet: true });
    try {
      assert.equal(f.scenario().name, s.name);
      assert.ok(f.ovfEnv().includes(`<HostName>${s.vm.hostname}</HostName>`));
    } finally {
      await f.close();
    }
  }
});

test('the default scenario is the demo: password, an SSH key, custom data, an extension with protected settings', () => {
  const s = loadScenarioFile(join(SCENARIOS, 'default.json'));
  assert.ok(s.user.password);
  assert.equal(s.sshKeys.length, 1);
  assert.ok(s.customData);
  assert.equal(s.extensions.length, 1);
  assert.ok(s.extensions[0]!.settings?.protectedSettings);
});

test('a validated scenario validates again unchanged (normalized form accepted)', () => {
  const s = validateScenario(baseScenario());
  assert.deepEqual(validateScenario(structuredClone(s)), s);
});

test('mergePatch: objects merge, arrays and scalars replace, null deletes', () => {
  assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1, 2] }, { b: { c: null, x: 1 }, e: [3], f: 'y' }), { a: 1, b: { d: 3, x: 1 }, e: [3], f: 'y' });
});

const bad: Array<[string, (s: Record<string, any>) => void, string]> = [
  ['missing vmId', (s) => { delete s.vm.vmId; }, 'vm.vmId: missing'],
  ['bad container id', (s) => { s.vm.containerId = 'nope'; }, 'vm.containerId: invalid value'],
  ['unknown top-level field', (s) => { s.extentions = []; }, 'extentions: unknown field'],
  ['bad version', (s) => { s.extensions[0].version = 'one'; }, 'extensions[0].version: invalid value'],
  ['versions without the requested one', (s) => { s.extensions[0].versions = ['2.0.0']; }, 'extensions[0].versions: does not list'],
  ['bad state', (s) => { s.extensions[0].state = 'on'; }, 'extensions[0].state: expected one of enabled, disabled, uninstall'],
  ['protected settings not an object', (s) => { s.extensions[0].protectedSettings = 'secret'; }, 'extensions[0].protectedSettings: expected a JSON object'],
  ['unknown fault action', (s) => { s.faults = [{ endpoint: 'wire', action: 'explode' }]; }, 'faults[0].action: expected one of'],
  ['status fault without status', (s) => { s.faults = [{ endpoint: 'wire', action: 'status' }]; }, 'faults[0].status: missing'],
  ['delayMs on a status fault', (s) => { s.faults = [{ endpoint: 'wire', action: 'status', status: 500, delayMs: 5 }]; }, 'faults[0].delayMs: only for action "delay"'],
  ['unknown endpoint', (s) => { s.faults = [{ endpoint: 'dns', action: 'reset' }]; }, 'faults[0].endpoint'],
  ['timeline without a trigger', (s) => { s.timeline = [{ patch: {} }]; }, 'timeline[0]: needs exactly one of afterSeconds or atRequest'],
  ['duplicate ssh key id', (s) => { s.sshKeys = [{ id: 'a' }, { id: 'a' }]; }, 'sshKeys[1].id: duplicate'],
  ['thumbprint key with a fixed value', (s) => { s.sshKeys = [{ id: 'a', ovf: 'thumbprint', value: 'ssh-rsa AAAA x' }]; }, 'sshKeys[0].value'],
  ['user name with a space', (s) => { s.user.name = 'bad user'; }, 'user.name: invalid value'],
  ['incarnation not an integer', (s) => { s.incarnation = 1.5; }, 'incarnation: expected an integer'],
  ['seqNo negative', (s) => { s.extensions[0].seqNo = -1; }, 'extensions[0].seqNo: out of range'],
];

for (const [what, mutate, expect] of bad) {
  test(`bad scenario file (${what}) names the file and the field`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'fabric-scn-'));
    try {
      const s = baseScenario() as Record<string, any>;
      mutate(s);
      const file = join(dir, 'broken.json');
      writeFileSync(file, JSON.stringify(s));
      assert.throws(() => loadScenarioFile(file), (e: unknown) => {
        assert.ok(e instanceof ScenarioError, String(e));
        assert.ok(e.message.startsWith(`${file}: `), e.message);
        assert.ok(e.message.includes(expect), `${e.message} should contain ${expect}`);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('not JSON and unreadable files are named too', () => {
  const dir = mkdtempSync(join(tmpdir(), 'fabric-scn-'));
  try {
    writeFileSync(join(dir, 'x.json'), '{ "name": ');
    assert.throws(() => loadScenarioFile(join(dir, 'x.json')), /x\.json: \(file\): not JSON/);
    assert.throws(() => loadScenarioFile(join(dir, 'absent.json')), /absent\.json: \(file\): cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a missing extension package is named at start', async () => {
  await assert.rejects(startFabric({
    scenario: baseScenario({ extensions: [{ name: 'No.Such.Ext', version: '1.0.0' }] }),
    bind: 'loopback', quiet: true,
  }), /extensions\[0\]\.versions: no package directory/);
});
