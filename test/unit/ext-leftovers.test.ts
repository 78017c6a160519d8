// Crash leftovers of the extension pipeline removed at service start: only temp names of dead processes,
// never a handler dir, a state file or a live process's temp.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sweepExtensionLeftovers } from '../../src/extensions/leftovers.ts';

test('temp trees and files of a dead agent go; live processes\' temps, handler dirs and state stay; symlinks are removed, not followed', () => {
  const d = mkdtempSync(join(tmpdir(), 'ext-left-'));
  try {
    // A pid that certainly is not running: a child that has exited and been reaped.
    const dead = Number(execFileSync('/bin/sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
    const lib = join(d, 'lib');
    const h = join(lib, 'Pub.Ext-1.0.0');
    for (const p of [join(h, 'config'), join(h, 'status'), join(lib, `.Pub.Ext-1.0.0.pkg-${dead}-0123abcd`, 'bin'), join(lib, `.Pub.Ext-1.0.0.old-${dead}-0123abcd`)]) mkdirSync(p, { recursive: true });
    mkdirSync(join(lib, `..Pub.Ext-1.0.0.pkg-${dead}-0123abcd.extract-${dead}-0123456789abcdef`));
    mkdirSync(join(lib, `.Pub.Ext-1.0.0.pkg-${process.pid}-0123abcd`));
    writeFileSync(join(lib, `.Pub.Ext-1.0.0.pkg-${dead}-0123abcd`, 'bin', 'x'), 'x');
    writeFileSync(join(h, 'config', 'HandlerState'), 'Installed');
    writeFileSync(join(h, 'config', `.HandlerState.tmp-${dead}-89abcdef`), 'Enab');
    writeFileSync(join(h, 'status', `.1.status.tmp-${dead}-89abcdef`), '[');
    writeFileSync(join(h, `.cmd-output-${dead}-0123456789ab`), 'out');
    writeFileSync(join(h, 'HandlerManifest.json'), '[]');
    writeFileSync(join(lib, `.waagent_status.json.tmp-${dead}-89abcdef`), '{');
    writeFileSync(join(lib, '.keep-me'), '');
    const outside = join(d, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'precious'), 'p');
    symlinkSync(outside, join(lib, `.evil.old-${dead}-0123abcd`));

    assert.equal(sweepExtensionLeftovers(lib), 8);
    assert.deepEqual(readdirSync(lib).sort(), ['.Pub.Ext-1.0.0.pkg-' + process.pid + '-0123abcd', '.keep-me', 'Pub.Ext-1.0.0'].sort());
    assert.deepEqual(readdirSync(h).sort(), ['HandlerManifest.json', 'config', 'status']);
    assert.deepEqual(readdirSync(join(h, 'config')), ['HandlerState']);
    assert.deepEqual(readdirSync(join(h, 'status')), []);
    assert.deepEqual(readdirSync(outside), ['precious']);
    assert.equal(sweepExtensionLeftovers(lib), 0, 'idempotent');
    assert.equal(sweepExtensionLeftovers(join(d, 'missing')), 0);
  } finally { rmSync(d, { recursive: true, force: true }); }
});
