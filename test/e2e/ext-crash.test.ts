// Crash safety of the extension pipeline in the VM-in-a-box (root, namespaces), like the provisioning
// crash test: the agent (`dist/waagent -run-exthandlers`, or the loop it falls back to) is killed with
// SIGKILL while it installs a new handler - during the package download, right after the extraction,
// during the install command, during the enable command, while writing the handler status - and then
// started again. The restarted agent converges to the end state of an uninterrupted run: the handler
// Ready with its enable status reported, the files of the handler dir the same, install completed exactly
// once (an install interrupted with its agent is killed before it runs again), no temp file or dir left.
// The download/extraction/status points use the test-only hook WAAGENT_TEST_CRASH_AFTER (crashpoint.ts);
// install and enable are killed by the test while the probe's command sleeps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExtBox, LIB, ops, skip } from './ext-helpers.ts';

const N = 'Waagent.Test.Crash';
const DIR = `${LIB}/${N}-1.0.0`;
const EMPTY = {
  name: 'ext-crash', vm: { vmId: '5d4c3b2a-1908-4f7e-8d6c-5b4a39281706', containerId: '1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9', roleName: 'crashvm', hostname: 'crashvm' },
  user: { name: 'azureuser' }, vmSettings: false, extensions: [],
};
const ext = (sleepOn?: string) => ({
  name: N, version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 3,
  publicSettings: { message: 'after the crash', ...(sleepOn ? { sleepOn, sleepSec: '4' } : {}) },
});

/** Files and dirs of Lib.Dir that describe the handler (names and modes; contents vary with time). */
async function endState(x: ExtBox): Promise<string[]> {
  const out = await x.sh(`cd ${LIB} && find . -path ./history -prune -o -path ./events -prune -o \\( -name 'waagent_status.json' -o -name '*.log' \\) -prune -o -printf '%p %M\\n' | sort`);
  return out.split('\n').filter((l) => l.includes(N) || l.startsWith('./.'));
}

async function noLeftovers(x: ExtBox, what: string): Promise<void> {
  const temps = await x.sh(`find ${LIB} -name '.*' \\( -name '*.tmp-*' -o -name '*.pkg-*' -o -name '*.old-*' -o -name '*.extract-*' -o -name '.cmd-*' \\) -print; ls ${LIB} | grep '\\.zip$' || true`);
  assert.equal(temps, '', `${what}: no temp file or dir and no zip left`);
}

async function converged(x: ExtBox, id: string, what: string): Promise<void> {
  await x.reported(id);
  const h = x.handler(await x.lastStatus(), N)!;
  assert.equal(h.status, 'Ready', `${what}: ${JSON.stringify(h)}`);
  assert.equal(h.runtimeSettingsStatus?.sequenceNumber, 3);
  assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.status, 'success', `${what}: enable of seq 3 reported`);
  assert.equal(h.runtimeSettingsStatus!.settingsStatus.status.formattedMessage?.message, 'seq=3 protected=none message=after the crash');
  assert.equal(x.box.readFile(`${DIR}/config/HandlerState`), 'Enabled');
  await noLeftovers(x, what);
}

let reference: string[] | undefined;

test('extension crash safety (root, namespaces): the uninterrupted run (reference end state)', { skip, timeout: 180_000 }, async () => {
  const x = await ExtBox.start(EMPTY);
  try {
    await x.reported('incarnation_1');
    const id = await x.update({ extensions: [ext()] });
    await converged(x, id, 'uninterrupted');
    assert.deepEqual(ops(x.newCommands()), [`${N} 1.0.0 install`, `${N} 1.0.0 enable`]);
    reference = await endState(x);
    assert.ok(reference.some((l) => l.startsWith(`./${N}-1.0.0/bin/probe.sh `)), reference.join('\n'));
  } finally {
    await x.close();
  }
});

interface Case {
  at: string;
  /** WAAGENT_TEST_CRASH_AFTER value, or the probe operation during which the test kills the agent. */
  hook?: string;
  sleepOn?: string;
  /** Checks right after the crash. */
  crashed: (x: ExtBox) => Promise<void>;
  /** Probe operations expected over both runs. */
  ops: string[];
}

const CASES: Case[] = [
  {
    at: 'during the package download', hook: 'ext-download',
    crashed: async (x) => {
      assert.equal(x.box.exists(`${LIB}/${N}__1.0.0.zip`), true, 'a partial zip was on disk');
      assert.equal(x.box.exists(`${DIR}/bin`), false, 'nothing extracted');
    },
    ops: ['install', 'enable'],
  },
  {
    at: 'right after the extraction', hook: 'ext-extracted',
    crashed: async (x) => {
      assert.equal(x.box.exists(`${DIR}/bin/probe.sh`), true);
      assert.equal(x.box.readFile(`${DIR}/config/HandlerState`), 'NotInstalled');
    },
    ops: ['install', 'enable'],
  },
  {
    at: 'during the install command', sleepOn: 'install',
    crashed: async (x) => assert.equal(x.box.readFile(`${DIR}/config/HandlerState`), 'NotInstalled'),
    // The interrupted install never completes: the restarted agent kills it, then installs once.
    ops: ['install', 'install', 'install-done', 'enable'],
  },
  {
    at: 'during the enable command', sleepOn: 'enable',
    crashed: async (x) => assert.equal(x.box.readFile(`${DIR}/config/HandlerState`), 'Installed'),
    ops: ['install', 'enable', 'enable', 'enable-done'],
  },
  {
    at: 'while writing the handler status', hook: 'ext-status',
    crashed: async (x) => {
      assert.equal(x.box.readFile(`${DIR}/config/HandlerState`), 'Enabled');
      assert.match(x.box.readFile(`${DIR}/config/HandlerStatus`), /Plugin installed/, 'the old status stays whole');
    },
    // The restarted agent enables again (as after any restart); install is not repeated.
    ops: ['install', 'enable', 'enable'],
  },
];

for (const c of CASES) {
  test(`extension crash safety (root, namespaces): SIGKILL ${c.at}, the restarted agent converges`, { skip, timeout: 180_000 }, async (t) => {
    assert.ok(reference, 'the reference run passed');
    const x = await ExtBox.start(EMPTY);
    t.diagnostic(`goal-state loop: ${x.mode}`);
    try {
      await x.reported('incarnation_1');
      if (c.hook) await x.restart({}, { WAAGENT_TEST_CRASH_AFTER: c.hook });
      const id = await x.update({ extensions: [ext(c.sleepOn)] });
      if (c.sleepOn) {
        const end = Date.now() + 60_000;
        while (!x.commands().some((p) => p.op === c.sleepOn) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
        assert.ok(x.commands().some((p) => p.op === c.sleepOn), `${c.sleepOn} started`);
        x.agent.kill('SIGKILL');
      }
      const r = await x.agent.wait(60_000);
      assert.equal(r.signal ?? (r.code === 137 ? 'SIGKILL' : r.code), 'SIGKILL', `killed ${c.at}: ${r.stdout}${r.stderr}\n${x.log().slice(-2000)}`);
      if (c.hook) assert.match(x.log(), new RegExp(`WAAGENT_TEST_CRASH_AFTER=${c.hook}: killing this process`));
      await c.crashed(x);

      await x.restart();
      await converged(x, id, c.at);
      // An interrupted command would have logged its "-done" line by now (it slept 4 s).
      if (c.sleepOn) await new Promise((r) => setTimeout(r, 5000));
      assert.deepEqual(x.commands().map((p) => p.op), c.ops);
      assert.deepEqual(await endState(x), reference, `${c.at}: the same handler files as an uninterrupted run`);
    } finally {
      await x.close();
    }
  });
}
