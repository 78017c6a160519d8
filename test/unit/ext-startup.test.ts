// Extension handler start-up (docs/extensions.md §6.5) and the cloud-init wait.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RecordingRunner } from '../../src/util/exec.ts';
import { extensionHandlerStartup, migrateHandlerState, protectCertificateFiles, rewriteHandlerEnvironments, waitForCloudInit } from '../../src/extensions/startup.ts';

test('migrates legacy handler_state, keeps existing files, removes the legacy dir', () => {
  const d = mkdtempSync(join(tmpdir(), 'ext-start-'));
  try {
    mkdirSync(join(d, 'handler_state/A.B-1.0'), { recursive: true });
    mkdirSync(join(d, 'handler_state/C.D-2.0'), { recursive: true });
    writeFileSync(join(d, 'handler_state/A.B-1.0/state'), 'Enabled');
    writeFileSync(join(d, 'handler_state/A.B-1.0/status'), '{"status":"Ready"}');
    writeFileSync(join(d, 'handler_state/C.D-2.0/state'), 'Installed');
    mkdirSync(join(d, 'A.B-1.0/config'), { recursive: true });
    mkdirSync(join(d, 'C.D-2.0/config'), { recursive: true });
    writeFileSync(join(d, 'C.D-2.0/config/HandlerState'), 'Enabled');
    migrateHandlerState(d);
    assert.equal(readFileSync(join(d, 'A.B-1.0/config/HandlerState'), 'utf8'), 'Enabled');
    assert.equal(readFileSync(join(d, 'A.B-1.0/config/HandlerStatus'), 'utf8'), '{"status":"Ready"}');
    assert.equal(readFileSync(join(d, 'C.D-2.0/config/HandlerState'), 'utf8'), 'Enabled', 'existing state wins');
    assert.equal(existsSync(join(d, 'handler_state')), false);
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('rewrites HandlerEnvironment.json for every handler dir (not WALinuxAgent-*), protects cert files', () => {
  const d = mkdtempSync(join(tmpdir(), 'ext-start-'));
  try {
    const roots = { libDir: join(d, 'lib'), extLogDir: join(d, 'log') };
    for (const n of ['A.B-1.0', 'C.D-2.0.1', 'WALinuxAgent-9.9.9', 'history']) mkdirSync(join(roots.libDir, n), { recursive: true });
    assert.equal(rewriteHandlerEnvironments(roots), 2);
    assert.ok(existsSync(join(roots.libDir, 'A.B-1.0/HandlerEnvironment.json')));
    assert.ok(existsSync(join(roots.extLogDir, 'C.D/events')));
    assert.equal(existsSync(join(roots.libDir, 'WALinuxAgent-9.9.9/HandlerEnvironment.json')), false);
    for (const n of ['T1.crt', 'T1.prv', 'Certificates.xml', 'ovf-env.xml', 'keep.txt']) writeFileSync(join(roots.libDir, n), 'x', { mode: 0o644 });
    symlinkSync('/etc/hostname', join(roots.libDir, 'link.pem'));
    protectCertificateFiles(roots.libDir);
    for (const n of ['T1.crt', 'T1.prv', 'Certificates.xml', 'ovf-env.xml']) assert.equal(statSync(join(roots.libDir, n)).mode & 0o777, 0o400, n);
    assert.equal(statSync(join(roots.libDir, 'keep.txt')).mode & 0o777, 0o644);
    assert.notEqual(statSync('/etc/hostname').mode & 0o777, 0o400, 'symlink targets are never touched');
    extensionHandlerStartup({ libDir: join(d, 'missing'), extLogDir: join(d, 'log2') }); // never throws
  } finally { rmSync(d, { recursive: true, force: true }); }
});

test('cloud-init wait: success, failure and timeout all continue', async () => {
  const ok = new RecordingRunner().answer('cloud-init status --wait', { code: 0, stdout: 'status: done\n' });
  assert.equal(await waitForCloudInit(ok, 5), true);
  assert.deepEqual(ok.calls[0]!.argv, ['cloud-init', 'status', '--wait']);
  assert.equal(await waitForCloudInit(new RecordingRunner().answer('cloud-init', { code: 1, stderr: 'error' }), 5), false);
  assert.equal(await waitForCloudInit(new RecordingRunner().answer('cloud-init', { code: null, timedOut: true }), 5), false);
});
