// scripts/box: runs a command in a fresh box and reports exit code, changed files and the fabric's view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BOX = join(import.meta.dirname, '..', '..', 'scripts', 'box');

test('scripts/box (root, namespaces): exit code, output and changed files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'box-cli-'));
  try {
    const conf = join(dir, 'waagent.conf');
    writeFileSync(conf, 'Provisioning.Agent=waagent\n');
    const r = spawnSync(BOX, ['--conf', conf, '--hostname', 'cli-box', '--', 'bash', '-c',
      'hostname; cat /etc/waagent.conf; mkdir -p /var/log; echo logged > /var/log/waagent.log; touch /etc/cli-made; exit 3'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stdout, /^exit code: 3;/m);
    assert.match(r.stdout, /^cli-box$/m);
    assert.match(r.stdout, /^Provisioning\.Agent=waagent$/m);
    assert.match(r.stdout, /== agent log[^\n]*\nlogged\n/);
    assert.match(r.stdout, /added\s+file\s+0644 0:0 \/etc\/cli-made/);
    assert.doesNotMatch(r.stdout, /\/etc\/waagent\.conf$/m, 'the box\'s own files are not changes');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('scripts/box (root, namespaces): --json with a scenario; usage errors exit 2', () => {
  const r = spawnSync(BOX, ['--json', '--scenario', 'test/fabric/scenarios/default.json', '--', 'bash', '-c',
    'exec 3<>/dev/tcp/168.63.129.16/80; printf "GET /?comp=versions HTTP/1.0\\r\\n\\r\\n" >&3; head -1 <&3'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { code: number; stdout: string; requests: { endpoint: string; url: string; status: number }[] };
  assert.equal(j.code, 0);
  assert.match(j.stdout, /^HTTP\/1\.1 200/);
  assert.deepEqual(j.requests.map((q) => [q.endpoint, q.url, q.status]), [['wire', '/?comp=versions', 200]]);
  const bad = spawnSync(BOX, ['--media', 'floppy', '--', 'true'], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--media must be udf or iso9660/);
  const none = spawnSync(BOX, [], { encoding: 'utf8', timeout: 30_000 });
  assert.equal(none.status, 2);
  assert.match(none.stderr, /usage: scripts\/box/);
});
