import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, existsSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configureSerialConsole, editDefaultGrub, editFlatcarGrub, SERIAL_ARGS } from '../../src/os/grub.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { RecordingRunner } from '../../src/util/exec.ts';

const fixtures = join(import.meta.dirname, 'fixtures', 'grub');

function tempRoot(t: { after(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'grub-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

test('GRUB_CMDLINE_LINUX gains the serial console once, other lines untouched', () => {
  const src = readFileSync(join(fixtures, 'debian-default-grub'), 'utf8');
  const a = editDefaultGrub(src);
  assert.equal(a.changed, true);
  assert.match(a.text, new RegExp(`^GRUB_CMDLINE_LINUX="net.ifnames=0 biosdevname=0 ${SERIAL_ARGS}"$`, 'm'));
  assert.match(a.text, /^GRUB_CMDLINE_LINUX_DEFAULT="quiet"$/m);
  assert.equal(a.text.split('\n').length, src.split('\n').length);
  const b = editDefaultGrub(a.text);
  assert.equal(b.changed, false);
  assert.equal(b.text, a.text);
});

test('a missing or empty GRUB_CMDLINE_LINUX line is handled', () => {
  assert.equal(editDefaultGrub('GRUB_TIMEOUT=5\n').text, `GRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="${SERIAL_ARGS}"\n`);
  assert.equal(editDefaultGrub('GRUB_CMDLINE_LINUX=""\n').text, `GRUB_CMDLINE_LINUX="${SERIAL_ARGS}"\n`);
  assert.equal(editDefaultGrub('GRUB_CMDLINE_LINUX="console=ttyS0 quiet"\n').changed, false);
  assert.throws(() => editDefaultGrub('GRUB_CMDLINE_LINUX="unterminated\n'), /cannot parse/);
});

test('Flatcar linux_console is replaced once', () => {
  const src = readFileSync(join(fixtures, 'flatcar-oem-grub.cfg'), 'utf8');
  const a = editFlatcarGrub(src);
  assert.equal(a.changed, true);
  assert.match(a.text, new RegExp(`^set linux_console="console=tty0 ${SERIAL_ARGS}"$`, 'm'), 'tty0 kept, ttyS0 last');
  assert.match(a.text, /^set linux_append="flatcar.autologin"$/m);
  assert.equal(editFlatcarGrub('set linux_console=\n').text, `set linux_console="${SERIAL_ARGS}"\n`);
  assert.equal(editFlatcarGrub(a.text).changed, false);
});

test('configureSerialConsole on a Debian root: backup, edit, idempotent, no regeneration for another root', async (t) => {
  const root = tempRoot(t);
  mkdirSync(join(root, 'etc/default'), { recursive: true });
  copyFileSync(join(fixtures, 'debian-default-grub'), join(root, 'etc/default/grub'));
  const runner = new RecordingRunner();
  const r1 = await configureSerialConsole(new Sysroot(root), runner, false);
  assert.equal(r1.changed, true);
  assert.equal(readFileSync(r1.backup!, 'utf8'), readFileSync(join(fixtures, 'debian-default-grub'), 'utf8'));
  assert.match(readFileSync(join(root, 'etc/default/grub'), 'utf8'), /console=ttyS0,115200n8/);
  assert.equal(runner.calls.length, 0);
  rmSync(r1.backup!);
  const r2 = await configureSerialConsole(new Sysroot(root), runner, false);
  assert.equal(r2.changed, false);
  assert.equal(existsSync(join(root, 'etc/default/grub.waagent.bak')), false);
});

test('configureSerialConsole on a Flatcar root edits the OEM grub.cfg', async (t) => {
  const root = tempRoot(t);
  mkdirSync(join(root, 'oem'), { recursive: true });
  copyFileSync(join(fixtures, 'flatcar-oem-grub.cfg'), join(root, 'oem/grub.cfg'));
  const r = await configureSerialConsole(new Sysroot(root), new RecordingRunner(), true);
  assert.equal(r.changed, true);
  assert.match(readFileSync(join(root, 'oem/grub.cfg'), 'utf8'), /set linux_console="console=tty0 console=ttyS0/);
  assert.ok(existsSync(join(root, 'oem/grub.cfg.waagent.bak')));
});

test('a Debian root without /etc/default/grub is a clear error', async (t) => {
  const root = tempRoot(t);
  await assert.rejects(configureSerialConsole(new Sysroot(root), new RecordingRunner(), false), /etc\/default\/grub does not exist/);
});

test('a linked /oem/grub.cfg: the file it names is edited, the link stays', async (t) => {
  const root = tempRoot(t);
  mkdirSync(join(root, 'usr/share/oem'), { recursive: true });
  copyFileSync(join(fixtures, 'flatcar-oem-grub.cfg'), join(root, 'usr/share/oem/grub.cfg'));
  symlinkSync('/usr/share/oem', join(root, 'oem'));
  const r = await configureSerialConsole(new Sysroot(root), new RecordingRunner(), true);
  assert.equal(r.changed, true);
  assert.ok(lstatSync(join(root, 'oem')).isSymbolicLink());
  assert.match(readFileSync(join(root, 'usr/share/oem/grub.cfg'), 'utf8'), /console=ttyS0/);
  assert.equal(r.file, join(root, 'usr/share/oem/grub.cfg'));
});

test('/etc/default/grub.d drop-ins: ttyS0 already there (Ubuntu cloud image) = nothing to do; an overriding drop-in is the file edited', async (t) => {
  const { writeFileSync } = await import('node:fs');
  const root = tempRoot(t);
  mkdirSync(join(root, 'etc/default/grub.d'), { recursive: true });
  copyFileSync(join(fixtures, 'debian-default-grub'), join(root, 'etc/default/grub'));
  const original = readFileSync(join(root, 'etc/default/grub'), 'utf8');
  writeFileSync(join(root, 'etc/default/grub.d/50-cloudimg-settings.cfg'), 'GRUB_CMDLINE_LINUX_DEFAULT="console=tty1 console=ttyS0 earlyprintk=ttyS0"\n');
  const r1 = await configureSerialConsole(new Sysroot(root), new RecordingRunner(), false);
  assert.equal(r1.changed, false);
  assert.equal(readFileSync(join(root, 'etc/default/grub'), 'utf8'), original);

  rmSync(join(root, 'etc/default/grub.d/50-cloudimg-settings.cfg'));
  writeFileSync(join(root, 'etc/default/grub.d/40-extend.cfg'), 'GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX mitigations=auto"\n');
  writeFileSync(join(root, 'etc/default/grub.d/60-override.cfg'), 'GRUB_CMDLINE_LINUX="rootdelay=300"\n');
  const r2 = await configureSerialConsole(new Sysroot(root), new RecordingRunner(), false);
  assert.equal(r2.changed, true);
  assert.equal(r2.file, join(root, 'etc/default/grub.d/60-override.cfg'), 'the last drop-in that replaces the value decides');
  assert.equal(readFileSync(r2.file, 'utf8'), `GRUB_CMDLINE_LINUX="rootdelay=300 ${SERIAL_ARGS}"\n`);
  assert.equal(readFileSync(join(root, 'etc/default/grub'), 'utf8'), original, '/etc/default/grub untouched');

  rmSync(join(root, 'etc/default/grub.d/60-override.cfg'));
  rmSync(r2.backup!);
  const r3 = await configureSerialConsole(new Sysroot(root), new RecordingRunner(), false);
  assert.equal(r3.file, join(root, 'etc/default/grub'), 'a drop-in building on the value does not take over');
  assert.match(readFileSync(r3.file, 'utf8'), /console=ttyS0/);
});
