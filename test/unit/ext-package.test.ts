// Package zip -> handler directory (docs/extensions.md §4.4, docs/protocol.md Appendix V), with our own zip writer
// building the packages and hostile packages refused without writing anything outside.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createZip } from '../../src/util/zipwrite.ts';
import { HandlerLayout } from '../../src/extensions/layout.ts';
import { checkMultiConfig, extractPackage, initializeHandler } from '../../src/extensions/package.ts';
import { PackageValidationError, validateSigningInfo } from '../../src/extensions/signature.ts';
import { ExtensionDownloadError, ExtensionError, ExtensionsGoalStateError } from '../../src/extensions/errors.ts';
import { readHandlerState, writeHandlerState } from '../../src/extensions/state.ts';

const NAME = 'Test.Publisher.ShellExt';
const MANIFEST = JSON.stringify([{ name: 'ShellExt', version: '1.0', handlerManifest: {
  installCommand: 'bin/install.sh', uninstallCommand: 'bin/uninstall.sh', updateCommand: 'bin/update.sh',
  enableCommand: 'bin/enable.sh', disableCommand: 'bin/disable.sh', supportsMultipleExtensions: false } ,
  signingInfo: { type: 'ShellExt', publisher: 'Test.Publisher', version: '1.0.0' } }]);

function setup() {
  const d = mkdtempSync(join(tmpdir(), 'ext-pkg-'));
  const roots = { libDir: join(d, 'lib'), extLogDir: join(d, 'log') };
  mkdirSync(roots.libDir);
  const layout = new HandlerLayout(roots, NAME, '1.0.0');
  return { d, roots, layout };
}

test('extracts a package: manifest from a subfolder (BOM stripped) copied to the root, u+x, 0700 state dirs, zip deleted', async () => {
  const { d, layout } = setup();
  try {
    writeFileSync(layout.zipPath, createZip([
      { name: 'pkg/', mode: 0o755 },
      { name: 'pkg/HandlerManifest.json', data: '\ufeff' + MANIFEST, mode: 0o644 },
      { name: 'pkg/bin/install.sh', data: '#!/bin/sh\nexit 0\n', mode: 0o644 },
      { name: 'pkg/lib/data.txt', data: 'data', mode: 0o600 },
    ]));
    const m = await extractPackage(layout.zipPath, layout);
    assert.equal(m.commands.enable, 'bin/enable.sh');
    assert.equal(existsSync(layout.zipPath), false);
    const root = readFileSync(layout.manifestPath, 'utf8');
    assert.equal(root, MANIFEST);
    assert.equal(statSync(join(layout.dir, 'pkg/bin/install.sh')).mode & 0o777, 0o744);
    assert.equal(statSync(join(layout.dir, 'pkg/lib/data.txt')).mode & 0o777, 0o700);
    assert.equal(statSync(layout.configDir).mode & 0o777, 0o700);
    assert.equal(statSync(layout.statusDir).mode & 0o777, 0o700);
    assert.deepEqual(readdirSync(layout.roots.libDir), [`${NAME}-1.0.0`], 'no temp dirs or zip left');

    const warnings = initializeHandler(layout, m, { isMultiConfig: false });
    assert.deepEqual(warnings, []);
    assert.equal(JSON.parse(readFileSync(layout.environmentPath, 'utf8'))[0].name, NAME);
    assert.ok(existsSync(layout.eventsDir));
    assert.doesNotThrow(() => validateSigningInfo(m, NAME, '1.0.0'));
    assert.throws(() => validateSigningInfo(m, NAME, '1.0.1'), PackageValidationError);
    assert.throws(() => checkMultiConfig(NAME, m, true), (e: unknown) => e instanceof ExtensionsGoalStateError && /does not support MultiConfig but CRP expects it/.test(e.message));
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('entries marked group/world-writable are extracted without those bits: root runs these files', async () => {
  const { d, layout } = setup();
  try {
    writeFileSync(layout.zipPath, createZip([
      { name: 'HandlerManifest.json', data: MANIFEST, mode: 0o666 },
      { name: 'bin/enable.sh', data: '#!/bin/sh\nexit 0\n', mode: 0o777 },
      { name: 'bin/disable.sh', data: '#!/bin/sh\nexit 0\n', mode: 0o775 },
    ]));
    await extractPackage(layout.zipPath, layout);
    assert.equal(statSync(join(layout.dir, 'bin/enable.sh')).mode & 0o777, 0o755);
    assert.equal(statSync(join(layout.dir, 'bin/disable.sh')).mode & 0o777, 0o755);
    assert.equal(statSync(layout.manifestPath).mode & 0o022, 0);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('re-extraction over an existing dir keeps config/ status/ mrseq, replaces package files', async () => {
  const { d, layout } = setup();
  try {
    writeHandlerState(layout, 'FailedUpgrade');
    mkdirSync(layout.statusDir, { recursive: true });
    writeFileSync(join(layout.statusDir, '1.status'), '[]');
    writeFileSync(layout.mrseqPath, '1');
    writeFileSync(join(layout.dir, 'stale.txt'), 'from an older extraction');
    writeFileSync(layout.zipPath, createZip([{ name: 'HandlerManifest.json', data: MANIFEST }, { name: 'bin/enable.sh', data: 'echo' }]));
    await extractPackage(layout.zipPath, layout);
    assert.equal(readHandlerState(layout), 'FailedUpgrade');
    assert.equal(readFileSync(join(layout.statusDir, '1.status'), 'utf8'), '[]');
    assert.equal(readFileSync(layout.mrseqPath, 'utf8'), '1');
    assert.equal(existsSync(join(layout.dir, 'stale.txt')), false);
    assert.ok(existsSync(join(layout.dir, 'bin/enable.sh')));
    assert.deepEqual(readdirSync(layout.roots.libDir), [`${NAME}-1.0.0`]);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('a package with a ../ entry is refused: nothing written outside, existing dir untouched, zip deleted', async () => {
  const { d, layout } = setup();
  try {
    writeHandlerState(layout, 'NotInstalled');
    writeFileSync(layout.zipPath, createZip([{ name: 'HandlerManifest.json', data: MANIFEST }, { name: '../../evil.sh', data: 'pwned' }]));
    await assert.rejects(() => extractPackage(layout.zipPath, layout), (e: unknown) => {
      assert.ok(e instanceof ExtensionDownloadError);
      assert.equal(e.code, 1001);
      assert.match(e.message, /"\.\." component/);
      return true;
    });
    assert.equal(existsSync(join(d, 'evil.sh')), false);
    assert.equal(existsSync(join(layout.roots.libDir, '..', 'evil.sh')), false);
    assert.deepEqual(readdirSync(layout.roots.libDir), [`${NAME}-1.0.0`]);
    assert.deepEqual(readdirSync(layout.dir), ['config']);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('no manifest => ExtensionDownloadError -1; malformed manifest => 1003; nothing left behind', async () => {
  const { d, layout } = setup();
  try {
    writeFileSync(layout.zipPath, createZip([{ name: 'bin/enable.sh', data: 'echo' }]));
    await assert.rejects(() => extractPackage(layout.zipPath, layout), (e: unknown) => e instanceof ExtensionDownloadError && e.code === -1 && e.message === 'HandlerManifest.json not found');
    writeFileSync(layout.zipPath, createZip([{ name: 'x/HandlerManifest.json', data: '[{"nohandler": 1}]' }]));
    await assert.rejects(() => extractPackage(layout.zipPath, layout), (e: unknown) => e instanceof ExtensionError && e.code === 1003 && /Malformed manifest file \(Test\.Publisher\.ShellExt-1\.0\.0\/x\/HandlerManifest\.json\)/.test(e.message));
    writeFileSync(layout.zipPath, 'not a zip at all');
    await assert.rejects(() => extractPackage(layout.zipPath, layout), (e: unknown) => e instanceof ExtensionDownloadError && e.code === 1001);
    assert.deepEqual(readdirSync(layout.roots.libDir), []);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
