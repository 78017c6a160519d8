// HandlerManifest.json parsing (docs/extensions.md §2) and version matching/pyjson helpers it relies on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findHandlerManifest, loadHandlerManifest, manifestCommand, parseHandlerManifest } from '../../src/extensions/manifest.ts';
import { ExtensionError } from '../../src/extensions/errors.ts';
import { compareVersions, selectVersion, versionMatches } from '../../src/extensions/versions.ts';
import { pyDumps, pyFloat } from '../../src/extensions/pyjson.ts';

const full = {
  name: 'CustomScript', version: 1.0,
  handlerManifest: {
    installCommand: 'bin/install.sh', uninstallCommand: 'bin/uninstall.sh', updateCommand: 'bin/update.sh',
    enableCommand: 'bin/run enable', disableCommand: '/bin/disable.sh', rebootAfterInstall: false,
    reportHeartbeat: true, updateMode: 'UpdateWithoutInstall', continueOnUpdateFailure: true, supportsMultipleExtensions: true,
  },
  resourceLimits: { cpuQuotaPercentage: 25, memoryQuotaInMB: 100, services: [{ name: 'x.service', cpuQuotaPercentage: 5 }, { bogus: 1 }] },
  signingInfo: { type: 'CustomScript', publisher: 'Microsoft.Azure.Extensions', version: '2.1.6' },
};

test('manifest with every field', () => {
  const m = parseHandlerManifest(JSON.stringify([full, { ignored: true }]), 'm.json');
  assert.deepEqual(m.commands, {
    install: 'bin/install.sh', uninstall: 'bin/uninstall.sh', update: 'bin/update.sh', enable: 'bin/run enable', disable: '/bin/disable.sh',
  });
  assert.equal(m.reportHeartbeat, true);
  assert.equal(m.updateWithInstall, false);
  assert.equal(m.continueOnUpdateFailure, true);
  assert.equal(m.supportsMultipleExtensions, true);
  assert.deepEqual(m.resourceLimits, { cpuQuotaPercentage: 25, memoryQuotaInMB: 100, services: [{ name: 'x.service', cpuQuotaPercentage: 5 }] });
  assert.deepEqual(m.signingInfo, { type: 'CustomScript', publisher: 'Microsoft.Azure.Extensions', version: '2.1.6' });
  assert.deepEqual(m.warnings, []);
});

test('defaults: no optional fields => false, UpdateWithInstall', () => {
  const m = parseHandlerManifest(JSON.stringify([{ handlerManifest: { installCommand: 'i', enableCommand: 'e' } }]), 'm');
  assert.equal(m.reportHeartbeat, false);
  assert.equal(m.continueOnUpdateFailure, false);
  assert.equal(m.supportsMultipleExtensions, false);
  assert.equal(m.updateWithInstall, true);
  assert.equal(m.resourceLimits.cpuQuotaPercentage, undefined);
  assert.equal(parseHandlerManifest('[{"handlerManifest":{"updateMode":"updatewithINSTALL"}}]', 'm').updateWithInstall, true);
  assert.equal(parseHandlerManifest('[{"handlerManifest":{"updateMode":5}}]', 'm').updateWithInstall, false);
});

test('boolean strings: "true"/"True" => true; "invalid", 1, "false" => false with warnings', () => {
  const t = parseHandlerManifest('[{"handlerManifest":{"reportHeartbeat":"true","continueOnUpdateFailure":"True","supportsMultipleExtensions":"TRUE"}}]', 'm');
  assert.deepEqual([t.reportHeartbeat, t.continueOnUpdateFailure, t.supportsMultipleExtensions], [true, true, true]);
  assert.equal(t.warnings.length, 3);
  const f = parseHandlerManifest('[{"handlerManifest":{"reportHeartbeat":"invalid","continueOnUpdateFailure":1,"supportsMultipleExtensions":"false"}}]', 'm');
  assert.deepEqual([f.reportHeartbeat, f.continueOnUpdateFailure, f.supportsMultipleExtensions], [false, false, false]);
  assert.equal(f.warnings.length, 3);
  assert.match(f.warnings[0]!, /'reportHeartbeat' has a non-boolean value \[invalid\] for boolean type/);
  assert.match(f.warnings[1]!, /'continueOnUpdateFailure' has a non-boolean value \[1\]/);
});

test('UTF-8 BOM is stripped (string and Buffer)', () => {
  const text = '\ufeff' + JSON.stringify([full]);
  assert.equal(parseHandlerManifest(text, 'm').commands.install, 'bin/install.sh');
  assert.equal(parseHandlerManifest(Buffer.from(text, 'utf8'), 'm').commands.install, 'bin/install.sh');
});

test('malformed manifests => ExtensionError 1003 naming the source and field', () => {
  const bad: [string, RegExp][] = [
    ['not json', /Malformed manifest file \(pkg\/HandlerManifest\.json\)/],
    ['{"handlerManifest":{}}', /first element is an object/],
    ['[]', /first element/],
    ['[{"name":"x"}]', /'handlerManifest' is missing/],
    ['[{"handlerManifest":null}]', /'handlerManifest' is missing/],
    ['[{"handlerManifest":{"enableCommand":["a"]}}]', /handlerManifest\.enableCommand' must be a non-empty string/],
    ['[{"handlerManifest":{"installCommand":""}}]', /installCommand/],
  ];
  for (const [text, re] of bad) {
    assert.throws(() => parseHandlerManifest(text, 'pkg/HandlerManifest.json'), (e: unknown) => {
      assert.ok(e instanceof ExtensionError);
      assert.equal(e.code, 1003);
      assert.match(e.message, re);
      return true;
    }, text);
  }
});

test('a missing command is an error (code -1) only when that command is needed', () => {
  const m = parseHandlerManifest('[{"handlerManifest":{"enableCommand":"e.sh"}}]', 'm');
  assert.equal(manifestCommand(m, 'enable'), 'e.sh');
  assert.throws(() => manifestCommand(m, 'update'), (e: unknown) => e instanceof ExtensionError && e.code === -1 && /no updateCommand/.test(e.message));
});

test('loadHandlerManifest: missing/unreadable => 1002; found in a subfolder by findHandlerManifest', () => {
  const d = mkdtempSync(join(tmpdir(), 'ext-manifest-'));
  try {
    assert.throws(() => loadHandlerManifest(join(d, 'nope.json')), (e: unknown) => e instanceof ExtensionError && e.code === 1002 && /Failed to load manifest file/.test(e.message));
    mkdirSync(join(d, 'pkg/a/deep'), { recursive: true });
    mkdirSync(join(d, 'pkg/b'), { recursive: true });
    writeFileSync(join(d, 'pkg/a/deep/HandlerManifest.json'), JSON.stringify([full]));
    writeFileSync(join(d, 'pkg/b/HandlerManifest.json'), JSON.stringify([full]));
    writeFileSync(join(d, 'pkg/handlermanifest.json'), 'wrong case: ignored');
    assert.equal(findHandlerManifest(join(d, 'pkg')), join(d, 'pkg/b/HandlerManifest.json'));
    assert.equal(loadHandlerManifest(findHandlerManifest(join(d, 'pkg'))!).commands.enable, 'bin/run enable');
    assert.equal(findHandlerManifest(join(d, 'pkg/a/deep/..', '..', 'nothing')), null);
    writeFileSync(join(d, 'big.json'), 'x'.repeat(300 * 1024));
    assert.throws(() => loadHandlerManifest(join(d, 'big.json')), /limit/);
    chmodSync(join(d, 'big.json'), 0o644);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('versions: numeric compare, prefix match, highest match wins', () => {
  assert.equal(compareVersions('1.0', '1.0.0'), 0);
  assert.ok(compareVersions('1.10', '1.9') > 0);
  assert.ok(compareVersions('2.0.0.1', '2.0') > 0);
  assert.equal(versionMatches('2.0', '2.0.0'), true);
  assert.equal(versionMatches('2.0', '2.1.0'), false);
  assert.equal(versionMatches('1.0.0.0', '1.0'), false);
  const cands = ['1.0.0', '2.0.0', '2.0.1', '2.1.0', '4.0.0.1', '4.1.0.0', '3.0', 'junk'];
  assert.equal(selectVersion('2.0', cands), '2.0.1');
  assert.equal(selectVersion('4.0', cands), '4.0.0.1');
  assert.equal(selectVersion('4.1', cands), '4.1.0.0');
  assert.equal(selectVersion('3.0', cands), '3.0');
  assert.equal(selectVersion('5', cands), undefined);
});

test('pyDumps matches Python json.dumps formatting', () => {
  assert.equal(pyDumps({ a: 1, b: [true, null, 'x'], c: {}, d: [] , f: pyFloat(1), g: pyFloat(2.5) }),
    '{"a": 1, "b": [true, null, "x"], "c": {}, "d": [], "f": 1.0, "g": 2.5}');
  assert.equal(pyDumps('é\u007f\u{1F600}"\n'), '"\\u00e9\\u007f\\ud83d\\ude00\\"\\n"');
  assert.equal(pyDumps({ skip: undefined, k: 'v' }), '{"k": "v"}');
});
