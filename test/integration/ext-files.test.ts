// On-disk layout (docs/extensions.md §1): paths, HandlerEnvironment.json bytes, settings files (protected
// settings decryptable by the extension with openssl), HandlerState/HandlerStatus, MC state files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HandlerLayout, LayoutError, listHandlerDirs, parseHandlerDirName } from '../../src/extensions/layout.ts';
import { handlerEnvironmentJson, writeHandlerEnvironment } from '../../src/extensions/handlerEnvironment.ts';
import { settingsFileContent, writeSettingsFile } from '../../src/extensions/settings.ts';
import {
  copyStatusFiles, findInstalledVersion, readExtensionState, readHandlerState, readHandlerStatus, removeExtensionFiles,
  removeHandlerFiles, writeExtensionState, writeHandlerState, writeHandlerStatus, writePlaceholderStatus,
} from '../../src/extensions/state.ts';
import type { ExtensionSettings } from '../../src/platform/types.ts';

const CS = 'Microsoft.Azure.Extensions.CustomScript';

function roots() {
  const d = mkdtempSync(join(tmpdir(), 'ext-files-'));
  const r = { libDir: join(d, 'lib'), extLogDir: join(d, 'log') };
  mkdirSync(r.libDir);
  return { d, r };
}

function settings(over: Partial<ExtensionSettings> = {}): ExtensionSettings {
  return {
    name: CS, sequenceNumber: 3, state: 'enabled', dependencyLevel: 0, dependsOn: [],
    publicSettings: { commandToExecute: 'echo é', n: 1 }, protectedSettings: null, protectedSettingsCertThumbprint: null, ...over,
  };
}

test('layout paths are the Python agent\'s', () => {
  const l = new HandlerLayout({ libDir: '/var/lib/waagent', extLogDir: '/var/log/azure' }, CS, '2.1.6');
  assert.equal(l.dir, `/var/lib/waagent/${CS}-2.1.6`);
  assert.equal(l.zipPath, `/var/lib/waagent/${CS}__2.1.6.zip`);
  assert.equal(l.settingsPath(3), `/var/lib/waagent/${CS}-2.1.6/config/3.settings`);
  assert.equal(l.settingsPath(3, 'run1'), `/var/lib/waagent/${CS}-2.1.6/config/run1.3.settings`);
  assert.equal(l.statusPath(0, 'run1'), `/var/lib/waagent/${CS}-2.1.6/status/run1.0.status`);
  assert.equal(l.handlerStatePath, `/var/lib/waagent/${CS}-2.1.6/config/HandlerState`);
  assert.equal(l.extensionStatePath('run1'), `/var/lib/waagent/${CS}-2.1.6/config/run1.HandlerState`);
  assert.equal(l.commandLogPath(), `/var/log/azure/${CS}/CommandExecution.log`);
  assert.equal(l.commandLogPath('run1'), `/var/log/azure/${CS}/CommandExecution_run1.log`);
  assert.equal(l.eventsDir, `/var/log/azure/${CS}/events`);
  assert.equal(l.withVersion('2.2').dir, `/var/lib/waagent/${CS}-2.2`);
});

test('hostile names and versions are refused', () => {
  const r = { libDir: '/l', extLogDir: '/g' };
  for (const n of ['../x', 'a/b', '.hidden', '', 'a\0b', 'x.', '..']) assert.throws(() => new HandlerLayout(r, n, '1.0'), LayoutError, n);
  for (const v of ['1.0/..', '../1', 'a', '1..0', '']) assert.throws(() => new HandlerLayout(r, 'A.B', v), LayoutError, v);
  const l = new HandlerLayout(r, 'A.B', '1.0');
  assert.throws(() => l.settingsPath(1, '../x'), LayoutError);
});

test('handler dir names: split at the last dash, skip WALinuxAgent and non-handlers', () => {
  assert.deepEqual(parseHandlerDirName('Microsoft.OSTCExtensions.VMAccess-For-Linux-1.5.2'), { name: 'Microsoft.OSTCExtensions.VMAccess-For-Linux', version: '1.5.2' });
  assert.equal(parseHandlerDirName('WALinuxAgent-2.9.1.1'), null);
  assert.equal(parseHandlerDirName('history'), null);
  assert.equal(parseHandlerDirName('events'), null);
  const { d, r } = roots();
  try {
    for (const n of [`${CS}-2.1.6`, 'WALinuxAgent-9.9.9', 'history', 'events', 'A.B-1.0']) mkdirSync(join(r.libDir, n));
    writeFileSync(join(r.libDir, 'C.D-1.0'), 'a file, not a dir');
    assert.deepEqual(listHandlerDirs(r.libDir).map((x) => x.dirName), ['A.B-1.0', `${CS}-2.1.6`]);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('HandlerEnvironment.json: exact bytes, log and events folders created', () => {
  const { d, r } = roots();
  try {
    const l = new HandlerLayout(r, CS, '2.1.6');
    mkdirSync(l.dir);
    writeHandlerEnvironment(l);
    const text = readFileSync(l.environmentPath, 'utf8');
    assert.equal(text, `[{"name": "${CS}", "version": 1.0, "handlerEnvironment": {"logFolder": "${r.extLogDir}/${CS}", `
      + `"configFolder": "${r.libDir}/${CS}-2.1.6/config", "statusFolder": "${r.libDir}/${CS}-2.1.6/status", `
      + `"heartbeatFile": "${r.libDir}/${CS}-2.1.6/heartbeat.log", "eventsFolder": "${r.extLogDir}/${CS}/events", `
      + `"eventsFolder_preview": "${r.extLogDir}/${CS}/events"}}]`);
    assert.equal(JSON.parse(text).length, 1);
    assert.equal(statSync(l.environmentPath).mode & 0o777, 0o644);
    assert.equal(statSync(l.eventsDir).mode & 0o777, 0o700);
    assert.ok(!handlerEnvironmentJson(l, { etp: false }).includes('eventsFolder'));
    writeHandlerEnvironment(l); // idempotent
    assert.equal(readFileSync(l.environmentPath, 'utf8'), text);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('settings file: exact shape, nulls kept, empty 0.settings without settings, 0600 in 0700 config/', () => {
  const { d, r } = roots();
  try {
    const l = new HandlerLayout(r, CS, '2.1.6');
    const p = writeSettingsFile(l, settings());
    assert.equal(p, l.settingsPath(3));
    assert.equal(readFileSync(p, 'utf8'),
      '{"runtimeSettings": [{"handlerSettings": {"publicSettings": {"commandToExecute": "echo \\u00e9", "n": 1}, "protectedSettings": null, "protectedSettingsCertThumbprint": null}}]}');
    assert.equal(statSync(p).mode & 0o777, 0o600);
    assert.equal(statSync(l.configDir).mode & 0o777, 0o700);
    const p0 = writeSettingsFile(l, null);
    assert.equal(p0, l.settingsPath(0));
    assert.equal(readFileSync(p0).length, 0);
    assert.equal(settingsFileContent(settings({ publicSettings: null })).includes('"publicSettings": null'), true);
    const mc = writeSettingsFile(l, settings({ name: 'run1', sequenceNumber: 7 }), 'run1');
    assert.equal(mc, join(l.configDir, 'run1.7.settings'));
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('protected settings stay encrypted and the extension can decrypt them with openssl cms (real openssl)', () => {
  const { d, r } = roots();
  try {
    // A tenant certificate as the agent stores it: LIB/<THUMB>.crt and LIB/<THUMB>.prv.
    const crt = join(d, 'c.crt');
    const prv = join(d, 'c.prv');
    execFileSync('openssl', ['req', '-x509', '-nodes', '-subj', '/CN=tenant', '-days', '2', '-newkey', 'rsa:2048', '-keyout', prv, '-out', crt], { stdio: 'ignore' });
    const fp = execFileSync('openssl', ['x509', '-in', crt, '-noout', '-fingerprint', '-sha1'], { encoding: 'utf8' });
    const thumb = fp.split('=')[1]!.trim().replace(/:/g, '').toUpperCase();
    execFileSync('cp', [crt, join(r.libDir, `${thumb}.crt`)]);
    execFileSync('cp', [prv, join(r.libDir, `${thumb}.prv`)]);
    const secret = '{"password":"s3cr3t-value"}';
    const der = execFileSync('openssl', ['cms', '-encrypt', '-outform', 'DER', '-aes256', crt], { input: secret });
    const b64 = der.toString('base64');

    const l = new HandlerLayout(r, CS, '2.1.6');
    const p = writeSettingsFile(l, settings({ protectedSettings: b64, protectedSettingsCertThumbprint: thumb }));
    const text = readFileSync(p, 'utf8');
    assert.ok(!text.includes('s3cr3t-value'));
    const hs = JSON.parse(text).runtimeSettings[0].handlerSettings;
    assert.equal(hs.protectedSettings, b64);
    assert.equal(hs.protectedSettingsCertThumbprint, thumb);
    // What CustomScript does: configFolder/../../<thumb>.crt
    const certDir = join(l.configDir, '..', '..');
    const plain = execFileSync('openssl', ['cms', '-inform', 'DER', '-decrypt', '-recip', join(certDir, `${thumb}.crt`), '-inkey', join(certDir, `${thumb}.prv`)],
      { input: Buffer.from(hs.protectedSettings, 'base64') }).toString();
    assert.equal(plain, secret);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('HandlerState and HandlerStatus: formats, defaults, corrupt files, redaction', () => {
  const { d, r } = roots();
  try {
    const l = new HandlerLayout(r, CS, '2.1.6');
    assert.equal(readHandlerState(l), 'NotInstalled');
    writeHandlerState(l, 'Enabled');
    assert.equal(readFileSync(l.handlerStatePath, 'utf8'), 'Enabled');
    assert.equal(readHandlerState(l), 'Enabled');
    writeFileSync(l.handlerStatePath, 'Garbage');
    assert.equal(readHandlerState(l), 'NotInstalled');

    assert.equal(readHandlerStatus(l), null);
    writeHandlerStatus(l, { status: 'NotReady', code: 1009, message: 'failed https://a.blob.core.windows.net/c/x?sv=2020&sig=SECRET', supports_multi_config: false });
    const text = readFileSync(l.handlerStatusPath, 'utf8');
    assert.ok(!text.includes('SECRET'));
    assert.match(text, new RegExp(`^\\{"name": "${CS.replace(/\./g, '\\.')}", "version": "2\\.1\\.6", "status": "NotReady", "code": 1009, "message": ".*", "supports_multi_config": false, "extension_status": null\\}$`));
    const s = readHandlerStatus(l)!;
    assert.equal(s.status, 'NotReady');
    assert.equal(s.code, 1009);
    writeFileSync(l.handlerStatusPath, '{not json');
    assert.equal(readHandlerStatus(l), null);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('state written for a handler never extracted: handler dir 0755 (as extracted ones), config/ and status/ 0700', () => {
  const { d, r } = roots();
  try {
    const l = new HandlerLayout(r, CS, '1.0.0');
    writeHandlerStatus(l, { status: 'NotReady', code: -1, message: 'skipped', supports_multi_config: true });
    writePlaceholderStatus(l, 0, { ext: 'a', operation: 'Enable', code: -1, message: 'skipped', overwrite: false });
    assert.equal(statSync(l.dir).mode & 0o777, 0o755);
    assert.equal(statSync(l.configDir).mode & 0o777, 0o700);
    assert.equal(statSync(l.statusDir).mode & 0o777, 0o700);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('MC extension state and removal of a deleted extension\'s files (not a similarly named one)', () => {
  const { d, r } = roots();
  try {
    const l = new HandlerLayout(r, 'Microsoft.CPlat.Core.RunCommandHandlerLinux', '1.3.2');
    assert.equal(readExtensionState(l, 'a'), 'disabled');
    writeExtensionState(l, 'a', 'enabled');
    writeExtensionState(l, 'a.b', 'enabled');
    assert.equal(readExtensionState(l, 'a'), 'enabled');
    writeSettingsFile(l, settings({ name: 'a', sequenceNumber: 1 }), 'a');
    writeSettingsFile(l, settings({ name: 'a', sequenceNumber: 2 }), 'a');
    writeSettingsFile(l, settings({ name: 'a.b', sequenceNumber: 1 }), 'a.b');
    mkdirSync(l.statusDir, { recursive: true });
    writeFileSync(l.statusPath(2, 'a'), '[]');
    writeFileSync(l.statusPath(1, 'a.b'), '[]');
    removeExtensionFiles(l, 'a');
    assert.deepEqual(readdirSync(l.configDir).sort(), ['a.b.1.settings', 'a.b.HandlerState']);
    assert.deepEqual(readdirSync(l.statusDir), ['a.b.1.status']);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('installed version: highest dir not NotInstalled/FailedUpgrade; status copy; removal; placeholder', () => {
  const { d, r } = roots();
  try {
    const v1 = new HandlerLayout(r, CS, '1.0');
    const v11 = v1.withVersion('1.1');
    const v2 = v1.withVersion('2.0');
    assert.equal(findInstalledVersion(r, CS), undefined);
    writeHandlerState(v1, 'Enabled');
    writeHandlerState(v11, 'Installed');
    writeHandlerState(v2, 'FailedUpgrade');
    assert.equal(findInstalledVersion(r, CS)!.version, '1.1');
    mkdirSync(v1.statusDir, { recursive: true });
    writeFileSync(v1.mrseqPath, '5');
    writeFileSync(join(v1.statusDir, '5.status'), '[{"x":1}]');
    mkdirSync(join(v1.statusDir, 'subdir'));
    copyStatusFiles(v1, v2);
    assert.equal(readFileSync(v2.mrseqPath, 'utf8'), '5');
    assert.deepEqual(readdirSync(v2.statusDir), ['5.status']);
    writeFileSync(v1.zipPath, 'zip');
    removeHandlerFiles(v1);
    assert.equal(existsSync(v1.dir), false);
    assert.equal(existsSync(v1.zipPath), false);
    removeHandlerFiles(v1); // idempotent

    writePlaceholderStatus(v2, 4, { ext: 'e1', operation: 'Enable', code: -1, message: 'skipped', overwrite: false, now: new Date('2025-01-02T03:04:05.678Z') });
    assert.equal(readFileSync(v2.statusPath(4, 'e1'), 'utf8'),
      `[{"version": 1.0, "timestampUTC": "2025-01-02T03:04:05Z", "status": {"name": "${CS}.e1", "operation": "Enable", "status": "error", "code": -1, "formattedMessage": {"lang": "en-US", "message": "skipped"}}}]`);
    writePlaceholderStatus(v2, 4, { ext: 'e1', operation: 'Enable', code: -1, message: 'other', overwrite: false });
    assert.match(readFileSync(v2.statusPath(4, 'e1'), 'utf8'), /skipped/);
    writePlaceholderStatus(v2, 4, { ext: 'e1', operation: 'Enable', code: 1009, message: 'other', overwrite: true });
    assert.match(readFileSync(v2.statusPath(4, 'e1'), 'utf8'), /other/);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
