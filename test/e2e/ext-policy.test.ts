// Extension policy and package signatures end to end in the VM-in-a-box (root, namespaces), with the
// built agent and the fabric simulator:
//  1. allow-list: the allow-listed handler runs; the one not listed never gets a manifest, a package or a
//     command and is reported NotReady 1009 with 2.15's message (handler and extension status); the policy
//     is saved in the goal-state history. Then the policy is broken: the next goal state blocks every
//     handler with the reason, and nothing runs. Then uninstall of the (installed) handler, no longer
//     allowed, runs nothing and is reported 1010 (2.15's rule).
//  2. signatures (Debug.EnableSignatureValidation=y, policy signatureRequired=true): a package signed by the
//     fabric's test root runs and is recorded as validated; an unsigned one is blocked before download;
//     a tampered one (signed, then modified) is rejected with 1007 and never runs.
// The fabric's throw-away signing root reaches the agent only through its test-only seam
// (WAAGENT_SEA_TEST_SIGNING_ROOT, honoured only in a network namespace with lo alone, i.e. this box).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertRefused, ExtBox, LIB, skip } from './ext-helpers.ts';
import { PROJECT } from '../sandbox/box.ts';
import { loadSigningMaterial } from '../fabric/signing.ts';

const VM = { vmId: '6c2f8d3e-1b5e-4d2c-8f3a-4b5c6d7e8f90', containerId: 'ad9c8b7a-6f5e-4e4d-9c3b-2a1f0e9d8c7b', roleName: 'policyvm', hostname: 'policyvm' };
const POLICY_PATH = '/etc/waagent_policy.json';
const ROOT_IN_BOX = '/etc/waagent-test/signing-root.pem';
const CONF = ['Debug.EnableExtensionPolicy=y'];
const POLICIES = join(PROJECT, 'test', 'fabric', 'policies');

test('allow-list policy in the box (root, namespaces): listed runs, not listed never runs and is reported; invalid policy blocks all with the reason; uninstall not allowed', { skip, timeout: 180_000 }, async (t) => {
  const scenario = {
    name: 'ext-policy', vm: VM, user: { name: 'azureuser' }, vmSettings: false,
    extensions: [
      { name: 'Waagent.Test.Probe', version: '1.0.0', package: 'Waagent.Test.Probe', seqNo: 0, publicSettings: { message: 'allowed' } },
      { name: 'Waagent.Test.NoInstall', version: '1.0.0', package: 'Waagent.Test.ProbeNoInstall', seqNo: 0, publicSettings: { message: 'not listed' } },
    ],
  };
  // Listed in another case (names are case-insensitive).
  const policy = readFileSync(join(POLICIES, 'allow-probe.json'), 'utf8');
  const x = await ExtBox.start(scenario, { extensionPolicy: true }, undefined, CONF, async (box) => {
    box.writeFile(POLICY_PATH, policy, { mode: 0o644 });
  });
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    assert.deepEqual(x.commands().map((c) => `${c.handler} ${c.op}`), ['Waagent.Test.Probe install', 'Waagent.Test.Probe enable']);
    assert.deepEqual(await x.box.fabric!.requests({ path: 'Waagent.Test.NoInstall' }), [], 'no manifest or package of the handler not listed');
    const blob = await x.lastStatus();
    assert.equal(x.handler(blob, 'Waagent.Test.Probe')!.status, 'Ready');
    assertRefused(x.handler(blob, 'Waagent.Test.NoInstall'), 1009, `Extension will not be processed: failed to run extension 'Waagent.Test.NoInstall' because it is not specified as an allowed extension. To run, add the extension to the list of allowed extensions in the policy file ('${POLICY_PATH}').`);
    if (x.mode !== 'driver') { // (the stand-in driver keeps no goal-state history)
      const saved = await x.sh(`cat ${LIB}/history/*/waagent_policy.json`);
      assert.equal(saved, policy.trim(), 'the policy in force is in the goal-state history');
    }

    // A broken policy: the next goal state blocks every handler with the reason.
    x.box.writeFile(POLICY_PATH, '{"policyVersion": "0.1.0", "extensionPolicies": {"allowListedExtensionsOnly": "yes"}}', { mode: 0o644 });
    x.newCommands();
    const id = await x.update({ extensions: [{ ...scenario.extensions[0], publicSettings: { message: 'second' } }, scenario.extensions[1]] });
    await x.reported(id);
    assert.deepEqual(x.newCommands(), [], 'nothing runs under an invalid policy');
    const blob2 = await x.lastStatus();
    const reason = `Extension will not be processed: [InvalidPolicyError] Customer-provided policy file ('${POLICY_PATH}') is invalid, please correct the following error: invalid type str for attribute 'extensionPolicies.allowListedExtensionsOnly'; must be 'boolean'`;
    for (const name of ['Waagent.Test.Probe', 'Waagent.Test.NoInstall']) assertRefused(x.handler(blob2, name), 1009, reason, name);

    // 2.15's uninstall rule: an installed extension that the policy does not allow is not uninstalled
    // either (nothing of it runs; its files stay) and the request is reported failed with 1010.
    x.box.writeFile(POLICY_PATH, JSON.stringify({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true } }), { mode: 0o644 });
    const id3 = await x.update({ extensions: [{ ...scenario.extensions[0], state: 'uninstall' }, scenario.extensions[1]] });
    await x.reported(id3);
    assert.deepEqual(x.newCommands(), [], 'no uninstall (nor disable) command ran');
    assert.equal(await x.sh(`test -d ${LIB}/Waagent.Test.Probe-1.0.0 && echo kept`), 'kept');
    const p = x.handler(await x.lastStatus(), 'Waagent.Test.Probe')!;
    assert.equal(p.status, 'NotReady');
    assert.equal(p.code, 1010);
    assert.equal(p.formattedMessage?.message, `Extension will not be processed: failed to uninstall extension 'Waagent.Test.Probe' because it is not specified as an allowed extension. To uninstall, add the extension to the list of allowed extensions in the policy file ('${POLICY_PATH}').`);
  } finally {
    await x.close();
  }
});

test('signature validation in the box (root, namespaces): signed runs and is recorded, unsigned blocked, tampered rejected', { skip, timeout: 180_000 }, async (t) => {
  // The same cache dir the box hands the fabric (Box's default fabricWorkDir): both see one test root.
  const material = await loadSigningMaterial(join(tmpdir(), 'waagent-fabric-keys'));
  const policy = readFileSync(join(POLICIES, 'signature-required.json'), 'utf8');
  const x = await ExtBox.start('ext-signed.json', { extensionPolicy: true, signatureValidation: true }, undefined, [...CONF, 'Debug.EnableSignatureValidation=y'], async (box) => {
    box.writeFile(POLICY_PATH, policy, { mode: 0o644 });
    await box.run(['mkdir', '-p', '/etc/waagent-test']);
    box.writeFile(ROOT_IN_BOX, material.rootCertPem, { mode: 0o644 });
  }, { WAAGENT_SEA_TEST_SIGNING_ROOT: ROOT_IN_BOX });
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    assert.deepEqual(x.commands().map((c) => `${c.handler} ${c.op}`), ['Waagent.Test.ProbeSigned install', 'Waagent.Test.ProbeSigned enable']);
    assert.equal(await x.sh(`test -f ${LIB}/Waagent.Test.ProbeSigned-1.0.0/package_validated && echo recorded`), 'recorded');
    assert.match(x.log(), /Successfully validated signature for package 'Waagent.Test.ProbeSigned-1.0.0'/);
    assert.deepEqual(await x.box.fabric!.requests({ path: '/extensions/Waagent.Test.NoInstall__' }), [], 'the unsigned package is never downloaded');
    const blob = await x.lastStatus();
    assert.equal(x.handler(blob, 'Waagent.Test.ProbeSigned')!.status, 'Ready');
    const u = x.handler(blob, 'Waagent.Test.NoInstall')!;
    assert.equal(u.status, 'NotReady');
    assert.equal(u.code, 1009);
    assert.equal(u.formattedMessage?.message, `Extension will not be processed: failed to run extension 'Waagent.Test.NoInstall' because policy specifies that extension must be signed, but extension package signature could not be found. To run, set 'signatureRequired' to false in the policy file ('${POLICY_PATH}').`);
    const tp = x.handler(blob, 'Waagent.Test.ProbeTampered')!;
    assert.equal(tp.status, 'NotReady');
    assert.equal(tp.code, 1007);
    assert.match(tp.formattedMessage!.message, /^\[SignatureValidationError\] Signature validation failed for package 'Waagent.Test.ProbeTampered-1.0.0'. \nReturn code: \d+\nError details:\n/);
    assert.equal(tp.runtimeSettingsStatus!.settingsStatus.status.code, 1007);
    assert.ok(!(await x.libEntries()).some((n) => n.endsWith('.zip')), 'the rejected package is removed');
  } finally {
    await x.close();
  }
});
