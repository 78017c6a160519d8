// Policy and signatures inside the executor on a temp Lib.Dir with real shell extensions and the real
// openssl (the network is a fake ArtifactSource): an allow-listed handler runs, one not listed never
// fetches or runs anything and is reported NotReady 1009 with 2.15's message (handler and extension
// status), a blocked dependency stops its dependents, an invalid policy blocks all with the reason and a
// corrected one applies from the next goal state, uninstall of a handler not allowed runs nothing (1010),
// signatureRequired blocks unsigned packages and tampered ones (1007) and passes signed ones (recorded,
// not verified again), a blocked handler with a heartbeat keeps its status (message appended), a
// multi-config handler not allowed reports every extension, and with the flag off a policy file changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZip } from '../../src/util/zipwrite.ts';
import { ExtensionsExecutor, type ArtifactSource, type ExecutorOptions } from '../../src/extensions/executor.ts';
import { HandlerLayout } from '../../src/extensions/layout.ts';
import { readHandlerState, readHandlerStatus } from '../../src/extensions/state.ts';
import { isValidated } from '../../src/extensions/signature.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { realRunner, type Runner } from '../../src/util/exec.ts';
import type { ExtensionHandler, ExtensionsGoalState, ManifestVersion } from '../../src/platform/types.ts';
import { emptyExtensionsGoalState } from '../../src/platform/types.ts';
import { loadSigningMaterial, signPackage, type SigningMaterial } from '../fabric/signing.ts';

const A = 'Test.Publisher.Allowed';
const B = 'Test.Publisher.Other';
const POLICY = '/etc/waagent_policy.json';

let keys = '';
let material: SigningMaterial;
before(async () => {
  keys = mkdtempSync(join(tmpdir(), 'ext-polx-keys-'));
  material = await loadSigningMaterial(keys);
  writeFileSync(join(keys, 'root.pem'), material.rootCertPem);
});
after(() => { rmSync(keys, { recursive: true, force: true }); });

function zipFor(name: string, version: string, heartbeat = false): Buffer {
  const dot = name.lastIndexOf('.');
  const script = `#!/bin/sh\necho "${name} ${version} $1" >> "$TEST_LOG"\nexit 0\n`;
  return createZip([
    { name: 'HandlerManifest.json', data: JSON.stringify([{ name: name.slice(dot + 1), version: '1.0', handlerManifest: {
      installCommand: 'bin/cmd.sh install', uninstallCommand: 'bin/cmd.sh uninstall', updateCommand: 'bin/cmd.sh update',
      enableCommand: 'bin/cmd.sh enable', disableCommand: 'bin/cmd.sh disable', reportHeartbeat: heartbeat }, signingInfo: { type: name.slice(dot + 1), publisher: name.slice(0, dot), version } }]) },
    { name: 'bin/cmd.sh', data: script, mode: 0o755 },
  ]);
}

function handler(name: string, over: Partial<ExtensionHandler> = {}): ExtensionHandler {
  return { name, version: '1.0.0', state: 'enabled', manifestUris: ['https://manifest/x'], encodedSignature: '', isMultiConfig: false,
    settings: [{ name, sequenceNumber: 1, state: 'enabled', dependencyLevel: 0, dependsOn: [], publicSettings: {}, protectedSettings: null, protectedSettingsCertThumbprint: null }],
    useExactVersion: true, autoUpgrade: false, ...over };
}

function setup() {
  const d = mkdtempSync(join(tmpdir(), 'ext-polx-'));
  const roots = { libDir: join(d, 'lib'), extLogDir: join(d, 'log') };
  mkdirSync(roots.libDir);
  const logFile = join(d, 'commands.log');
  writeFileSync(logFile, '');
  const policyFile = join(d, 'waagent_policy.json');
  const fetched: string[] = [];
  const blobs = new Map<string, Buffer>();
  const artifacts: ArtifactSource = {
    async fetchManifest(h) {
      fetched.push(h.name);
      return [{ version: '1.0.0', uris: [`https://blob/${h.name}.zip`], disallowMajorVersionUpgrade: false, isInternal: false } satisfies ManifestVersion];
    },
    async downloadPackage(uri, dest, _h, accept) { writeFileSync(dest, blobs.get(uri) ?? zipFor(uri.slice('https://blob/'.length, -4), '1.0.0')); return accept(); },
  };
  const history: string[] = [];
  const cmsVerifies: string[][] = [];
  const counting: Runner = { run: (argv, o) => { if (argv[1] === 'cms') cmsVerifies.push(argv); return realRunner.run(argv, o); } };
  const ex = (o: { policy?: boolean; signature?: boolean } = {}, extra: Partial<ExecutorOptions> = {}) => new ExtensionsExecutor({
    roots, wireServer: '127.0.0.1', artifacts, baseEnv: { PATH: '/usr/bin:/bin', TEST_LOG: logFile }, shuffle: (x) => x,
    statusRead: { retryDelayMs: 0 }, sleep: async () => {}, dependencyWaitMs: 1000, limits: { enforce: false },
    policy: { enabled: o.policy ?? true, path: policyFile, displayPath: POLICY, saveToHistory: (t) => history.push(t) },
    signature: { enabled: o.signature ?? false, openssl: new OpenSsl('openssl', counting), libDir: roots.libDir, caFile: join(keys, 'root.pem') },
    ...extra,
  });
  const commands = () => readFileSync(logFile, 'utf8').trim().split('\n').filter(Boolean);
  const layout = (name: string) => new HandlerLayout(roots, name, '1.0.0');
  const writePolicy = (p: unknown) => writeFileSync(policyFile, typeof p === 'string' ? p : JSON.stringify(p));
  return { d, roots, ex, commands, layout, writePolicy, fetched, history, blobs, cmsVerifies, close: () => rmSync(d, { recursive: true, force: true }) };
}

const gs = (handlers: ExtensionHandler[], n = 1): ExtensionsGoalState => ({ ...emptyExtensionsGoalState(String(n)), handlers });
const allowOnly = (...names: string[]) => ({ policyVersion: '0.1.0', extensionPolicies: { allowListedExtensionsOnly: true, extensions: Object.fromEntries(names.map((n) => [n, {}])) } });
const notAllowedMsg = (verb: string, name: string) => `Extension will not be processed: failed to ${verb} extension '${name}' because it is not specified as an allowed extension. To ${verb}, add the extension to the list of allowed extensions in the policy file ('${POLICY}').`;

test('allow-listed runs; not listed: no manifest, no command, NotReady 1009 with the message (handler and extension); policy saved to history', async () => {
  const t = setup();
  try {
    t.writePolicy(allowOnly(A.toUpperCase()));
    const events: string[] = [];
    const x = t.ex({}, { onEvent: (op, ok, msg) => events.push(`${op} ${ok} ${msg}`) });
    const agg = await x.process(gs([handler(A), handler(B)]));
    assert.equal(agg.status, 'Success');
    assert.deepEqual(t.commands(), [`${A} 1.0.0 install`, `${A} 1.0.0 enable`]);
    assert.deepEqual(t.fetched, [A]);
    assert.equal(existsSync(t.layout(B).dir + '/bin'), false);
    const reports = await x.report(gs([handler(A), handler(B)]));
    const b = reports.find((r) => (r.handler.message ?? '').includes(B))!;
    assert.equal(b.handler.status, 'NotReady');
    assert.equal(b.handler.code, 1009);
    assert.equal(b.handler.message, notAllowedMsg('run', B));
    assert.equal(b.extension!.status, 'error');
    assert.equal(b.extension!.code, 1009);
    assert.equal(b.extension!.message, notAllowedMsg('run', B));
    assert.deepEqual(t.history, [JSON.stringify(allowOnly(A.toUpperCase()))]);
    assert.deepEqual(events, [`Policy true Enforcing policy using policy file found at '${POLICY}'.`, `ExtensionPolicy false [${B}] ${notAllowedMsg('run', B)}`], 'telemetry');
  } finally { t.close(); }
});

test('a blocked handler counts as a failed dependency: its dependents do not run', async () => {
  const t = setup();
  try {
    t.writePolicy(allowOnly(A));
    const dep = handler(B, { settings: [{ ...handler(B).settings[0]!, dependencyLevel: 0 }] });
    const a = handler(A, { settings: [{ ...handler(A).settings[0]!, dependencyLevel: 1, dependsOn: [{ handler: B }] as never }] });
    const x = t.ex();
    await x.process(gs([a, dep]));
    assert.deepEqual(t.commands(), []);
    assert.match(readHandlerStatus(t.layout(A))!.message!, /Skipping processing of extensions since execution of dependent extension .*Other.* failed/);
  } finally { t.close(); }
});

test('invalid policy blocks every handler with the reason; a corrected policy applies from the next goal state', async () => {
  const t = setup();
  try {
    t.writePolicy('{"policyVersion": "0.1.0", "extensionPolicies": {"allowListedExtensionsOnly": "yes"}}');
    const x = t.ex();
    await x.process(gs([handler(A), handler(B, { state: 'uninstall' })]));
    assert.deepEqual(t.commands(), []);
    assert.deepEqual(t.fetched, []);
    const reason = `Extension will not be processed: [InvalidPolicyError] Customer-provided policy file ('${POLICY}') is invalid, please correct the following error: invalid type str for attribute 'extensionPolicies.allowListedExtensionsOnly'; must be 'boolean'`;
    assert.deepEqual(readHandlerStatus(t.layout(A)), { name: A, version: '1.0.0', status: 'NotReady', code: 1009, message: reason, supports_multi_config: false });
    assert.equal(readHandlerStatus(t.layout(B))!.code, 1010);
    t.writePolicy(allowOnly(A));
    await x.process(gs([handler(A)], 2));
    assert.deepEqual(t.commands(), [`${A} 1.0.0 install`, `${A} 1.0.0 enable`]);
  } finally { t.close(); }
});

test('a policy file owned by another user blocks every handler (that user could loosen the allow-list); needs root (chown)', { skip: process.getuid?.() === 0 ? false : 'needs root (chown)' }, async () => {
  const t = setup();
  try {
    t.writePolicy(allowOnly(A, B));
    chownSync(join(t.d, 'waagent_policy.json'), 65534, 65534);
    await t.ex().process(gs([handler(A)]));
    assert.deepEqual(t.commands(), []);
    assert.deepEqual(t.fetched, []);
    const st = readHandlerStatus(t.layout(A))!;
    assert.equal(st.code, 1009);
    assert.match(st.message!, /\[InvalidPolicyError\] .*unable to read or load policy file\.\nInner error: the file is owned by uid 65534; make it owned by root/);
  } finally { t.close(); }
});

test('uninstall of an installed handler that is not allowed: nothing runs, files kept, NotReady 1010 (2.15)', async () => {
  const t = setup();
  try {
    const x = t.ex({ policy: false });
    await x.process(gs([handler(B)]));
    assert.equal(readHandlerState(t.layout(B)), 'Enabled');
    t.writePolicy(allowOnly(A));
    const y = t.ex();
    await y.process(gs([handler(B, { state: 'uninstall' })], 2));
    assert.deepEqual(t.commands(), [`${B} 1.0.0 install`, `${B} 1.0.0 enable`]);
    assert.equal(readHandlerState(t.layout(B)), 'Enabled');
    assert.deepEqual(readHandlerStatus(t.layout(B)), { name: B, version: '1.0.0', status: 'NotReady', code: 1010, message: notAllowedMsg('uninstall', B), supports_multi_config: false });
  } finally { t.close(); }
});

test('with Debug.EnableExtensionPolicy=n a policy file changes nothing', async () => {
  const t = setup();
  try {
    t.writePolicy(allowOnly());
    await t.ex({ policy: false }).process(gs([handler(A)]));
    assert.deepEqual(t.commands(), [`${A} 1.0.0 install`, `${A} 1.0.0 enable`]);
    assert.deepEqual(t.history, []);
  } finally { t.close(); }
});

test('signatureRequired: unsigned blocked before download; signed runs and is recorded (not verified again); tampered rejected with 1007', async () => {
  const t = setup();
  try {
    t.writePolicy({ policyVersion: '0.1.0', extensionPolicies: { signatureRequired: true } });
    const good = zipFor(A, '1.0.0');
    const C = 'Test.Publisher.Tampered';
    t.blobs.set(`https://blob/${A}.zip`, good);
    const cGenuine = zipFor(C, '1.0.0');
    t.blobs.set(`https://blob/${C}.zip`, Buffer.concat([cGenuine.subarray(0, 10), Buffer.from([cGenuine[10]! ^ 1]), cGenuine.subarray(11)]));
    const sigA = await signPackage(good, material, t.d);
    const sigC = await signPackage(cGenuine, material, t.d);
    const handlers = () => [handler(A, { encodedSignature: sigA }), handler(B), handler(C, { encodedSignature: sigC })];
    const x = t.ex({ signature: true });
    await x.process(gs(handlers()));
    assert.deepEqual(t.commands(), [`${A} 1.0.0 install`, `${A} 1.0.0 enable`]);
    assert.equal(isValidated(t.layout(A)), true);
    const b = readHandlerStatus(t.layout(B))!;
    assert.equal(b.code, 1009);
    assert.match(b.message!, /^Extension will not be processed: failed to run extension 'Test.Publisher.Other' because policy specifies that extension must be signed, but extension package signature could not be found\./);
    assert.equal(t.fetched.includes(B), true, 'the manifest is read (the version is decided) but no package is downloaded');
    const c = readHandlerStatus(t.layout(C))!;
    assert.equal(c.code, 1007);
    assert.match(c.message!, /^\[SignatureValidationError\] Signature validation failed for package 'Test.Publisher.Tampered-1.0.0'/);
    assert.equal(existsSync(t.layout(C).zipPath), false);
    const reports = await x.report(gs(handlers()));
    const cr = reports.find((r) => (r.handler.message ?? '').includes('Tampered'))!;
    assert.equal(cr.extension!.code, 1007);
    assert.equal(cr.extension!.operation, 'Download');
    const verifies = t.cmsVerifies.length;
    await x.process(gs(handlers(), 2));
    assert.deepEqual(t.commands().slice(2), [`${A} 1.0.0 enable`], 'A re-enabled; B and C still blocked');
    assert.equal(t.cmsVerifies.length, verifies + 1, 'A is not verified again, only the re-downloaded C');
  } finally { t.close(); }
});

test('a blocked handler that still reports a heartbeat: NotReady 1009 stays, the heartbeat message is appended (2.15)', async () => {
  const t = setup();
  try {
    t.blobs.set(`https://blob/${B}.zip`, zipFor(B, '1.0.0', true));
    await t.ex({ policy: false }).process(gs([handler(B)]));
    writeFileSync(t.layout(B).heartbeatPath, JSON.stringify([{ version: 1.0, heartbeat: { status: 'ready', code: 0, formattedMessage: { lang: 'en-US', message: 'This is a heartbeat message' } } }]));
    t.writePolicy(allowOnly(A));
    const x = t.ex();
    await x.process(gs([handler(B, { settings: [{ ...handler(B).settings[0]!, sequenceNumber: 2 }] })], 2));
    const r = (await x.report(gs([handler(B)])))[0]!;
    assert.equal(r.handler.status, 'NotReady');
    assert.equal(r.handler.code, 1009);
    assert.equal(r.handler.message, `${notAllowedMsg('run', B)} Extension was previously enabled and reported the following heartbeat:\nThis is a heartbeat message`);
    assert.deepEqual(t.commands(), [`${B} 1.0.0 install`, `${B} 1.0.0 enable`], 'nothing ran once blocked');
  } finally { t.close(); }
});

test('multi-config handler not allowed: every extension reported error 1009 with the message, none runs (2.15 MC case)', async () => {
  const t = setup();
  try {
    t.writePolicy(allowOnly(A));
    const mc = handler(B, { isMultiConfig: true, settings: ['first', 'second', 'third'].map((n, i) => ({ ...handler(B).settings[0]!, name: n, sequenceNumber: i + 1 })) });
    const x = t.ex();
    await x.process(gs([mc, handler(A)]));
    assert.deepEqual(t.commands(), [`${A} 1.0.0 install`, `${A} 1.0.0 enable`]);
    const reports = (await x.report(gs([mc, handler(A)]))).filter((r) => r.isMultiConfig);
    assert.equal(reports.length, 3);
    reports.forEach((r, i) => {
      assert.equal(r.handler.status, 'NotReady');
      assert.equal(r.extension!.status, 'error');
      assert.equal(r.extension!.code, 1009);
      assert.equal(r.extension!.sequenceNumber, i + 1);
      assert.equal(r.extension!.message, notAllowedMsg('run', B));
    });
  } finally { t.close(); }
});
