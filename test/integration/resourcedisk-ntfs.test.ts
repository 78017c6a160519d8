// The user-space NTFS reader on volumes made by the real mkntfs, checked against ntfsls (an
// independent reader) and against the classification the format decision depends on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classifyNtfs, inspectNtfs, listNtfs } from '../../src/os/disk/ntfs.ts';
import { needsTool } from '../helpers/skip.ts';

const skip = needsTool('mkntfs');

function volume(t: { after: (f: () => void) => void }, files: Record<string, string>, dirs: string[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'rd-ntfs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const img = join(dir, 'vol.img');
  execFileSync('truncate', ['-s', '16M', img]);
  execFileSync('mkntfs', ['-q', '-F', '-Q', '-L', 'Temporary Storage', img], { stdio: 'ignore' });
  // ntfscp writes files without mounting; directories need ntfs-3g (FUSE, root).
  if (dirs.length) {
    const mnt = join(dir, 'm');
    mkdirSync(mnt);
    execFileSync('ntfs-3g', [img, mnt]);
    try {
      for (const d of dirs) mkdirSync(join(mnt, d), { recursive: true });
      for (const [p, content] of Object.entries(files)) writeFileSync(join(mnt, p), content);
    } finally { execFileSync('umount', [mnt]); }
  } else {
    for (const [p, content] of Object.entries(files)) {
      const src = join(dir, 'src');
      writeFileSync(src, content);
      execFileSync('ntfscp', ['-f', '-q', img, src, p], { stdio: 'ignore' });
    }
  }
  return img;
}

function ntfslsNames(img: string, path = '/'): string[] {
  return execFileSync('ntfsls', ['-p', path, img], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
}

test('an Azure-like temporary disk (notice + System Volume Information) is recognised (root: FUSE)', { skip }, (t) => {
  const img = volume(t, {
    'DATALOSS_WARNING_README.txt': 'WARNING: THIS IS A TEMPORARY DISK.\n',
    'System Volume Information/IndexerVolumeGuid': '{guid}',
    'System Volume Information/tracking.log': 'x',
  }, ['System Volume Information']);
  const entries = listNtfs(img);
  const rootNames = entries.filter((e) => e.parent === 5 && e.record >= 16).map((e) => e.name).sort();
  assert.deepEqual(rootNames, ntfslsNames(img)); // same as the independent reader
  assert.deepEqual(entries.filter((e) => e.name === 'System Volume Information').map((e) => e.dir), [true]);
  assert.deepEqual(inspectNtfs(img), { kind: 'azure-temporary' });
});

test('NTFS holding anything else is data: a root file, a file inside a user directory', { skip }, (t) => {
  const withFile = volume(t, { 'DATALOSS_WARNING_README.txt': 'w', 'database.mdf': 'precious' });
  assert.deepEqual(inspectNtfs(withFile), { kind: 'has-data', count: 1, example: 'database.mdf' });
  const nested = volume(t, { 'projects/a/notes.txt': 'x' }, ['projects/a']);
  const v = inspectNtfs(nested);
  assert.equal(v.kind, 'has-data');
  assert.equal(v.kind === 'has-data' && v.count, 3); // projects, a, notes.txt
});

test('an empty fresh NTFS is disposable; names are compared case-insensitively', { skip }, (t) => {
  assert.deepEqual(inspectNtfs(volume(t, {})), { kind: 'azure-temporary' });
  assert.deepEqual(inspectNtfs(volume(t, { 'dataloss_warning_readme.TXT': 'w' })), { kind: 'azure-temporary' });
});

test('not NTFS, truncated, corrupted or oversized MFT → unverifiable (never "safe")', { skip }, (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rd-ntfs-bad-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const zero = join(dir, 'zero.img');
  writeFileSync(zero, Buffer.alloc(1 << 20));
  assert.equal(inspectNtfs(zero).kind, 'unverifiable');
  assert.equal(inspectNtfs(join(dir, 'missing.img')).kind, 'unverifiable');

  const img = volume(t, { 'DATALOSS_WARNING_README.txt': 'w' });
  assert.equal(inspectNtfs(img, { maxRecords: 4 }).kind, 'unverifiable');
  // Break the update sequence of the $MFT record: the reader must notice, not guess.
  const boot = Buffer.alloc(512);
  const fd = openSync(img, 'r+');
  try {
    readSync(fd, boot, 0, 512, 0);
    const cluster = boot.readUInt16LE(11) * boot.readUInt8(13);
    const mft = Number(boot.readBigUInt64LE(0x30)) * cluster;
    writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, mft + 510);
  } finally { closeSync(fd); }
  const v = inspectNtfs(img);
  assert.equal(v.kind, 'unverifiable');
  assert.match(v.kind === 'unverifiable' ? v.reason : '', /\$MFT record unreadable|update sequence/);
});

test('classification rules on a synthetic listing', () => {
  const base = [
    { record: 5, parent: 5, name: '.', dir: true },
    { record: 11, parent: 5, name: '$Extend', dir: true },
    { record: 24, parent: 11, name: '$Quota', dir: false },
  ];
  assert.deepEqual(classifyNtfs(base), { kind: 'azure-temporary' });
  // A notice-named DIRECTORY or a nested "System Volume Information" is not what Azure makes.
  assert.equal(classifyNtfs([...base, { record: 30, parent: 5, name: 'DATALOSS_WARNING_README.txt', dir: true }]).kind, 'has-data');
  assert.equal(classifyNtfs([...base, { record: 30, parent: 31, name: 'System Volume Information', dir: true },
    { record: 31, parent: 5, name: 'x', dir: true }]).kind, 'has-data');
  // A parent loop must terminate.
  assert.equal(classifyNtfs([...base, { record: 40, parent: 41, name: 'a', dir: true }, { record: 41, parent: 40, name: 'b', dir: true }]).kind, 'has-data');
});
