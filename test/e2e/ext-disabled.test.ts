// Extensions.Enabled=n end to end in the VM-in-a-box (root, namespaces), docs/extensions.md §6.3 / §9 item 25:
// nothing is downloaded or run, and every handler is reported NotReady with code 1009 and the spec's
// message, in the handler status and in the extension status.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertRefused, ExtBox, skip } from './ext-helpers.ts';

test('Extensions.Enabled=n in the box (root, namespaces): no command, no download, NotReady 1009 with the message', { skip, timeout: 120_000 }, async (t) => {
  const x = await ExtBox.start('ext-lifecycle.json', { extensionsEnabled: false }, undefined, ['Extensions.Enabled=n']);
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    assert.deepEqual(x.commands(), [], 'no extension command ran');
    assert.deepEqual(await x.box.fabric!.requests({ path: '_manifest.xml' }), [], 'no manifest fetched');
    assert.deepEqual((await x.box.fabric!.requests({ path: '/extensionArtifact' })), []);
    const blob = await x.lastStatus();
    for (const name of ['Waagent.Test.Probe', 'Waagent.Test.NoInstall']) {
      assertRefused(x.handler(blob, name), 1009, `Extension '${name}' will not be processed since extension processing is disabled. To enable extension processing, set Extensions.Enabled=y in '/etc/waagent.conf'`);
    }
    assert.equal(blob.aggregateStatus.vmArtifactsAggregateStatus?.goalStateAggregateStatus.status, 'Success');
  } finally {
    await x.close();
  }
});
