// Lib.Dir is private: created 0700, an existing looser one tightened, a link in its place refused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePrivateDir } from '../../src/util/privdir.ts';

test('ensurePrivateDir: new 0700; existing 0755 tightened (old mode returned); through a link (state kept elsewhere) the directory itself', (t) => {
  const d = mkdtempSync(join(tmpdir(), 'privdir-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  assert.equal(ensurePrivateDir(join(d, 'a/b')), null);
  assert.equal(statSync(join(d, 'a/b')).mode & 0o7777, 0o700);
  mkdirSync(join(d, 'loose'));
  chmodSync(join(d, 'loose'), 0o755);
  assert.equal(ensurePrivateDir(join(d, 'loose')), 0o755);
  assert.equal(statSync(join(d, 'loose')).mode & 0o7777, 0o700);
  assert.equal(ensurePrivateDir(join(d, 'loose')), null, 'idempotent');
  mkdirSync(join(d, 'target'));
  chmodSync(join(d, 'target'), 0o755);
  symlinkSync(join(d, 'target'), join(d, 'link'));
  assert.equal(ensurePrivateDir(join(d, 'link')), 0o755);
  assert.equal(statSync(join(d, 'target')).mode & 0o7777, 0o700);
});
