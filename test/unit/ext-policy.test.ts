// The extension policy engine against the cases of WALinuxAgent 2.15's tests/ga/test_policy_engine.py.
// Checklist (each 2.15 test case is one test below, named after it):
//   TestPolicyEngine
//   [x] test_policy_enforcement_should_be_enabled_when_policy_file_exists_and_conf_flag_true
//   [x] test_policy_enforcement_should_be_disabled_when_conf_flag_false_or_no_policy_file
//   [x] test_should_parse_policy_successfully
//   [x] test_it_should_verify_policy_version_is_required
//   [x] test_it_should_accept_partially_specified_policy_versions
//   [x] test_should_raise_error_if_policy_file_is_invalid_json
//   [x] test_should_raise_error_for_invalid_policy_version
//   [x] test_should_raise_error_for_unsupported_policy_version
//   [x] test_should_raise_error_if_extensions_policy_is_not_dict
//   [x] test_should_raise_error_if_allowListedExtensionsOnly_is_not_bool
//   [x] test_should_raise_error_if_signatureRequired_is_not_bool
//   [x] test_should_raise_error_if_extensions_is_not_dict
//   [x] test_should_raise_error_if_individual_extension_policy_is_not_dict
//   [x] test_should_raise_error_for_unrecognized_attribute
//   TestExtensionPolicyEngine
//   [x] test_should_allow_and_should_not_enforce_signature_if_no_custom_policy_file
//   [x] test_should_allow_and_should_not_enforce_signature_if_conf_flag_false
//   [x] test_should_use_default_policy_if_no_extension_policy_specified
//   [x] test_should_allow_if_allowListedExtensionsOnly_true_and_extension_in_list
//   [x] test_should_not_allow_if_allowListedExtensionsOnly_true_and_extension_not_in_list
//   [x] test_should_allow_if_allowListedExtensionsOnly_false
//   [x] test_should_enforce_signature_if_individual_signatureRequired_true
//   [x] test_should_not_enforce_signature_if_individual_signatureRequired_false
//   [x] test_should_use_global_signatureRequired_when_an_individual_policy_is_not_specified
//   [x] test_extension_name_in_policy_should_be_case_insensitive
// Plus ours: the exact messages, unreadable / oversized / world-writable files, and the messages a
// blocked extension is reported with.
import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { ExtensionPolicyEngine, InvalidPolicyError, MAX_POLICY_VERSION, parsePolicy } from '../../src/extensions/policy/engine.ts';
import { loadPolicy, MAX_POLICY_BYTES, type LoadedPolicy } from '../../src/extensions/policy/load.ts';
import { invalidPolicy, notAllowListed, signatureMissing } from '../../src/extensions/policy/messages.ts';
import type { ExtensionHandler } from '../../src/platform/types.ts';

const TEST_EXTENSION_NAME = 'Microsoft.Azure.ActiveDirectory.AADSSHLoginForLinux';
const DEFAULT_ALLOW_LISTED_EXTENSIONS_ONLY = false;
const DEFAULT_SIGNATURE_REQUIRED = false;

let dir = '';
let policyPath = '';
let flag = true;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'ext-policy-'));
  policyPath = join(dir, 'waagent_policy.json');
  flag = true;
});
afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

function createPolicyFile(policy: unknown): void {
  writeFileSync(policyPath, typeof policy === 'string' ? policy : JSON.stringify(policy, null, 4), { mode: 0o644 });
}
function load(): LoadedPolicy {
  return loadPolicy({ enabled: flag, path: policyPath, displayPath: policyPath });
}
/** 2.15's _PolicyEngine(): raises InvalidPolicyError for a bad file. */
function engine(): ExtensionPolicyEngine {
  const l = load();
  if (l.error) throw l.error;
  return l.engine;
}
function shouldFailToParse(cases: unknown[], what: string): void {
  for (const c of cases) {
    createPolicyFile(c);
    assert.throws(() => engine(), InvalidPolicyError, `invalid policy should not have parsed successfully: ${what}. Policy: ${JSON.stringify(c)}`);
  }
}

describe('TestPolicyEngine (2.15)', () => {
  test('test_policy_enforcement_should_be_enabled_when_policy_file_exists_and_conf_flag_true', () => {
    createPolicyFile({ policyVersion: '0.0.1' });
    assert.equal(engine().enforcementEnabled, true);
  });

  test('test_policy_enforcement_should_be_disabled_when_conf_flag_false_or_no_policy_file', () => {
    flag = false;
    assert.equal(engine().enforcementEnabled, false, 'flag off, no file');
    flag = true;
    assert.equal(engine().enforcementEnabled, false, 'flag on, no file');
    flag = false;
    createPolicyFile({});
    const l = load();
    assert.equal(l.engine.enforcementEnabled, false, 'file present, flag off');
    assert.equal(l.error, null, 'with the flag off the file is not even read');
    assert.equal(l.text, null);
  });

  test('test_should_parse_policy_successfully', () => {
    const policy1 = { policyVersion: '0.0.1', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: true, extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: false, runtimePolicy: true } } } };
    const policy2 = { policyVersion: '0.0.1', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: false, extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: true, runtimePolicy: [true, null, { bar: 'baz' }] } } } };
    for (const expected of [policy1, policy2]) {
      createPolicyFile(expected);
      const actual = engine().policy!;
      assert.equal(actual.policyVersion, expected.policyVersion);
      const ep = actual.extensionPolicies;
      assert.equal(ep.allowListedExtensionsOnly, expected.extensionPolicies.allowListedExtensionsOnly);
      assert.equal(ep.signatureRequired, expected.extensionPolicies.signatureRequired);
      const ind = ep.extensions.get(TEST_EXTENSION_NAME.toLowerCase())!;
      const want = expected.extensionPolicies.extensions[TEST_EXTENSION_NAME]!;
      assert.equal(ind.signatureRequired, want.signatureRequired);
      assert.deepEqual(ind.runtimePolicy, want.runtimePolicy);
      assert.deepEqual(engine().runtimePolicy(TEST_EXTENSION_NAME), want.runtimePolicy);
    }
  });

  test('test_it_should_verify_policy_version_is_required', () => {
    createPolicyFile({ extensionPolicies: {} });
    assert.throws(() => engine(), (e: Error) => e instanceof InvalidPolicyError && e.message.endsWith("missing required attribute 'policyVersion'"));
  });

  test('test_it_should_accept_partially_specified_policy_versions', () => {
    for (const v of ['0', '0.1', '0.1.0']) {
      createPolicyFile({ policyVersion: v });
      assert.equal(engine().policy!.policyVersion, v);
    }
  });

  test('test_should_raise_error_if_policy_file_is_invalid_json', () => {
    shouldFailToParse([
      '\n{\n "policyVersion": "0.1.0",\n "extensionPolicies": {\n',
      '', ' ', 'policy', '\n{ not_a_string: ""}\n',
    ], 'not a valid json');
    createPolicyFile('policy');
    assert.throws(() => engine(), (e: Error) => e.message.includes('policy file does not conform to valid json syntax. File contents: policy\nInner error: '));
  });

  test('test_should_raise_error_for_invalid_policy_version', () => {
    shouldFailToParse([{ policyVersion: '1.2.a' }, { policyVersion: 0 }, { policyVersion: null }], 'policy version invalid');
    createPolicyFile({ policyVersion: 0 });
    assert.throws(() => engine(), (e: Error) => e.message.endsWith("invalid type int for attribute 'policyVersion'; must be 'string'"));
    createPolicyFile({ policyVersion: '1.2.a' });
    assert.throws(() => engine(), (e: Error) => e.message.endsWith("invalid value for attribute 'policyVersion': '1.2.a'; it should be in format 'major[.minor[.patch]]' (e.g., '1', '1.0', '1.0.0')"));
  });

  test('test_should_raise_error_for_unsupported_policy_version', () => {
    shouldFailToParse([{ policyVersion: '9.9.9' }, { policyVersion: '9' }], 'agent does not support policy version');
    createPolicyFile({ policyVersion: '0.2' });
    assert.throws(() => engine(), (e: Error) => e.message.endsWith(`policy version '0.2' is not supported. The agent supports policy versions up to '${MAX_POLICY_VERSION}'.`));
  });

  test('test_should_raise_error_if_extensions_policy_is_not_dict', () => {
    shouldFailToParse([{ extensionPolicies: '' }, { extensionPolicies: null }], 'extensionPolicies is not a dict');
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: '' });
    assert.throws(() => engine(), (e: Error) => e.message.endsWith("invalid type str for attribute 'extensionPolicies'; must be 'object'"));
  });

  test('test_should_raise_error_if_allowListedExtensionsOnly_is_not_bool', () => {
    shouldFailToParse([{ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: 'True', signatureRequired: false, extensions: {} } }], 'allowListedExtensionsOnly is not a bool');
    assert.throws(() => engine(), (e: Error) => e.message.endsWith("invalid type str for attribute 'extensionPolicies.allowListedExtensionsOnly'; must be 'boolean'"));
  });

  test('test_should_raise_error_if_signatureRequired_is_not_bool', () => {
    shouldFailToParse([
      { policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: false, extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: 'False' } } } },
      { policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: 'False', extensions: {} } },
    ], 'signatureRequired is not a bool');
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: 'False' } } } });
    assert.throws(() => engine(), (e: Error) => e.message.endsWith(`invalid type str for attribute 'extensionPolicies.extensions.${TEST_EXTENSION_NAME}.signatureRequired'; must be 'boolean'`));
  });

  test('test_should_raise_error_if_extensions_is_not_dict', () => {
    shouldFailToParse([{ extensionPolicies: { extensions: [] } }, { extensionPolicies: { extensions: 0 } }, { extensionPolicies: { extensions: null } }], "'extensions' is not a dict");
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { extensions: [] } });
    assert.throws(() => engine(), (e: Error) => e.message.endsWith("invalid type list for attribute 'extensionPolicies.extensions'; must be 'object'"));
  });

  test('test_should_raise_error_if_individual_extension_policy_is_not_dict', () => {
    shouldFailToParse([{ extensionPolicies: { extensions: { 'Ext.Name': 0 } } }, { extensionPolicies: { extensions: { 'Ext.Name': [] } } }], 'individual extension policy is not a dict');
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { extensions: { 'Ext.Name': 0 } } });
    assert.throws(() => engine(), (e: Error) => e.message.endsWith("invalid type int for attribute 'extensionPolicies.extensions.Ext.Name'; must be 'object'"));
  });

  test('test_should_raise_error_for_unrecognized_attribute', () => {
    const cases = [
      { policyVerion: '0.0.1' },
      { extentionPolicies: {} },
      { extensionPolicies: { signingRequired: {} } },
      { extensionPolicies: { extensions: { [TEST_EXTENSION_NAME]: { randomAttribute: '' } } } },
    ];
    shouldFailToParse(cases, 'unrecognized attribute in policy');
    const expected = [
      "unrecognized attribute 'policyVerion' in policy",
      "unrecognized attribute 'extentionPolicies' in policy",
      "unrecognized attribute 'signingRequired' in extensionPolicies",
      `unrecognized attribute 'randomAttribute' in extensionPolicies.extensions.${TEST_EXTENSION_NAME}`,
    ];
    cases.forEach((c, i) => {
      createPolicyFile({ policyVersion: '0.1.0', ...c });
      assert.throws(() => engine(), (e: Error) => e.message.endsWith(expected[i]!), expected[i]);
    });
  });
});

describe('TestExtensionPolicyEngine (2.15)', () => {
  test('test_should_allow_and_should_not_enforce_signature_if_no_custom_policy_file', () => {
    const e = engine();
    assert.equal(e.shouldAllowExtension(TEST_EXTENSION_NAME), true);
    assert.equal(e.shouldEnforceSignatureValidation(TEST_EXTENSION_NAME), false);
  });

  test('test_should_allow_and_should_not_enforce_signature_if_conf_flag_false', () => {
    flag = false;
    createPolicyFile({});
    const e = engine();
    assert.equal(e.shouldAllowExtension(TEST_EXTENSION_NAME), true);
    assert.equal(e.shouldEnforceSignatureValidation(TEST_EXTENSION_NAME), false);
  });

  test('test_should_use_default_policy_if_no_extension_policy_specified', () => {
    for (const p of [{ policyVersion: '0.1.0' }, { policyVersion: '0.1.0', extensionPolicies: {} }]) {
      createPolicyFile(p);
      const e = engine();
      assert.equal(e.shouldAllowExtension(TEST_EXTENSION_NAME), !DEFAULT_ALLOW_LISTED_EXTENSIONS_ONLY);
      assert.equal(e.shouldEnforceSignatureValidation(TEST_EXTENSION_NAME), DEFAULT_SIGNATURE_REQUIRED);
    }
  });

  test('test_should_allow_if_allowListedExtensionsOnly_true_and_extension_in_list', () => {
    const NAME2 = 'Test.Extension.Name';
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: false, extensions: { [TEST_EXTENSION_NAME]: {}, [NAME2]: { signatureRequired: false } } } });
    const e = engine();
    assert.equal(e.shouldAllowExtension(TEST_EXTENSION_NAME), true);
    assert.equal(e.shouldAllowExtension(NAME2), true);
  });

  test('test_should_not_allow_if_allowListedExtensionsOnly_true_and_extension_not_in_list', () => {
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: false, extensions: {} } });
    assert.equal(engine().shouldAllowExtension(TEST_EXTENSION_NAME), false);
  });

  test('test_should_allow_if_allowListedExtensionsOnly_false', () => {
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: false, signatureRequired: false, extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: false } } } });
    const e = engine();
    assert.equal(e.shouldAllowExtension(TEST_EXTENSION_NAME), true);
    assert.equal(e.shouldAllowExtension('Random.Ext'), true);
  });

  test('test_should_enforce_signature_if_individual_signatureRequired_true', () => {
    for (const global of [true, false]) {
      createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: false, signatureRequired: global, extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: true } } } });
      assert.equal(engine().shouldEnforceSignatureValidation(TEST_EXTENSION_NAME), true);
    }
  });

  test('test_should_not_enforce_signature_if_individual_signatureRequired_false', () => {
    for (const global of [true, false]) {
      createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: false, signatureRequired: global, extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: false } } } });
      assert.equal(engine().shouldEnforceSignatureValidation(TEST_EXTENSION_NAME), false);
    }
  });

  test('test_should_use_global_signatureRequired_when_an_individual_policy_is_not_specified', () => {
    for (const global of [true, false]) {
      for (const extensions of [undefined, {}, { [TEST_EXTENSION_NAME]: {} }, { [TEST_EXTENSION_NAME]: { runtimePolicy: 'an arbitrary object' } }]) {
        const policy: Record<string, unknown> = { policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: global, ...(extensions ? { extensions } : {}) } };
        createPolicyFile(policy);
        assert.equal(engine().shouldEnforceSignatureValidation(TEST_EXTENSION_NAME), global, JSON.stringify(policy));
      }
    }
  });

  test('test_extension_name_in_policy_should_be_case_insensitive', () => {
    for (const name of ['MicrOsoft.aZure.activedirectory.aaDsShloginFORlinux', 'microsoft.azure.activedirectory.aadsshloginforlinux']) {
      createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, signatureRequired: false, extensions: { [TEST_EXTENSION_NAME]: { signatureRequired: true } } } });
      const e = engine();
      assert.equal(e.shouldAllowExtension(name), true);
      assert.equal(e.shouldEnforceSignatureValidation(name), true);
    }
  });
});

describe('policy file handling and messages (ours)', () => {
  test('the error names the policy file and wraps the reason as 2.15 does', () => {
    assert.throws(() => parsePolicy([], '/etc/waagent_policy.json'), (e: Error) => e.message
      === "[InvalidPolicyError] Customer-provided policy file ('/etc/waagent_policy.json') is invalid, please correct the following error: expected an object describing a Policy; got list.");
  });

  test('a file that exists but cannot be used is an error, never "no policy" (fail closed)', () => {
    mkdirSync(policyPath);
    let l = load();
    assert.ok(l.error?.message.includes('unable to read or load policy file.\nInner error: not a regular file'), l.error?.message);
    rmSync(policyPath, { recursive: true });
    createPolicyFile({ policyVersion: '0.1.0' });
    chmodSync(policyPath, 0o666);
    l = load();
    assert.match(l.error!.message, /writable by every user \(mode 666\)/);
    createPolicyFile(' '.repeat(MAX_POLICY_BYTES + 1));
    chmodSync(policyPath, 0o644);
    l = load();
    assert.match(l.error!.message, /more than the 1048576 a policy may have/);
  });

  test('the text read is kept for the goal-state history, also when invalid', () => {
    createPolicyFile('{"policyVersion": "0.1.0", "bad": 1}');
    const l = load();
    assert.ok(l.error);
    assert.equal(l.text, '{"policyVersion": "0.1.0", "bad": 1}');
  });

  test('a null attribute counts as absent (2.15: value is None)', () => {
    createPolicyFile({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: null, extensions: { 'A.B': { signatureRequired: null, runtimePolicy: null } } } });
    const e = engine();
    assert.equal(e.shouldAllowExtension('X.Y'), true);
    assert.equal(e.shouldEnforceSignatureValidation('A.B'), false);
  });

  const h = (state: ExtensionHandler['state']): ExtensionHandler => ({ name: 'Pub.Ext', version: '1.0', state, manifestUris: [], encodedSignature: '', isMultiConfig: false, settings: [], useExactVersion: true, autoUpgrade: false });

  test('blocked messages and codes: run 1009, uninstall 1010', () => {
    const a = notAllowListed(h('enabled'), '/etc/waagent_policy.json');
    assert.equal(a.message, "Extension will not be processed: failed to run extension 'Pub.Ext' because it is not specified as an allowed extension. To run, add the extension to the list of allowed extensions in the policy file ('/etc/waagent_policy.json').");
    assert.equal(a.code, 1009);
    const u = notAllowListed(h('uninstall'), '/p.json');
    assert.match(u.message, /failed to uninstall extension 'Pub.Ext'.*To uninstall, add the extension/);
    assert.equal(u.code, 1010);
    assert.equal(notAllowListed(h('disabled'), '/p.json').code, 1010);
    assert.equal(invalidPolicy(h('enabled'), '[InvalidPolicyError] x').message, 'Extension will not be processed: [InvalidPolicyError] x');
    const s = signatureMissing(h('enabled'), '/p.json');
    assert.match(s.message, /because policy specifies that extension must be signed, but extension package signature could not be found. To run, set 'signatureRequired' to false in the policy file \('\/p.json'\)\.$/);
    assert.equal(s.operation, 'ExtensionSignaturePolicy');
  });
});
