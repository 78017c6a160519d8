import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectLogs } from '../../src/logcollector/collect.ts';
import { readZip } from '../../src/util/zip.ts';
import { realRunner } from '../../src/util/exec.ts';
import { addSecret } from '../../src/util/logger.ts';

test('collect-logs: manifest files in a zip that unzip accepts, secrets redacted, budgets honoured', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'logc-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const lib = join(d, 'lib');
  const logs = join(d, 'log');
  const files: Record<string, string> = {
    [`${lib}/ovf-env.xml`]: '<Environment><UserPassword>*</UserPassword></Environment>',
    [`${lib}/Ext.A-1.0/status/0.status`]: '[{"status":{"status":"success"}}]',
    [`${lib}/Ext.A-1.0/config/0.settings`]: '{"runtimeSettings":[{"handlerSettings":{"protectedSettings":"MIIBsecretBase64","publicSettings":{}}}]}',
    [`${lib}/Ext.A-1.0/config/HandlerState`]: 'Enabled',
    [`${lib}/waagent_status.json`]: '{"blob":"https://acct.blob.core.windows.net/c/s?sv=2020&sig=TOPSECRETSIG"}',
    [`${lib}/CustomData`]: 'never collected',
    [`${logs}/Ext.A/handler.log`]: 'password is Hunter2Secret!\n',
    [`${logs}/Ext.A/big.log`]: 'x'.repeat(5000) + 'TAIL',
    [`${logs}/Ext.A/old.log.gz`]: 'z'.repeat(5000),
  };
  for (const [p, c] of Object.entries(files)) { mkdirSync(join(p, '..'), { recursive: true }); writeFileSync(p, c); }
  addSecret('Hunter2Secret!');
  const out = join(lib, 'logcollector');
  const r = await collectLogs({ full: false, vars: { libDir: lib, logDir: logs }, runner: realRunner, outDir: out, fileBudget: 1000 });
  execFileSync('unzip', ['-tq', r.archive]);
  const entries = new Map(readZip(r.archive).map((e) => [e.path, e.data.toString('utf8')]));
  const all = [...entries.values()].join('\n');
  assert.ok(entries.has(`${lib.slice(1)}/Ext.A-1.0/status/0.status`));
  assert.ok(entries.has(`${lib.slice(1)}/Ext.A-1.0/config/HandlerState`));
  assert.ok(entries.has('results.txt'));
  assert.ok(!entries.has(`${lib.slice(1)}/CustomData`), 'CustomData is not in the manifest');
  assert.ok(!all.includes('TOPSECRETSIG'));
  assert.ok(!all.includes('MIIBsecretBase64'));
  assert.ok(!all.includes('Hunter2Secret!'));
  const trunc = `truncated_${logs.replaceAll('/', '_')}_Ext.A_big.log`;
  assert.ok(entries.get(trunc)?.endsWith('TAIL'), 'oversize files keep their last bytes');
  assert.equal(entries.get(trunc)?.length, 1000);
  assert.ok(r.skipped.some((s) => s.path.endsWith('old.log.gz')), 'oversize compressed files are dropped');
  assert.match(readFileSync(r.results, 'utf8'), /Running log collector mode normal/);
  assert.ok(!existsSync(join(out, 'logs.zip.partial')));
});

test('collect-logs: the total budget stops collection', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'logc-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const logs = join(d, 'log');
  mkdirSync(join(logs, 'E'), { recursive: true });
  for (let i = 0; i < 5; i++) writeFileSync(join(logs, 'E', `f${i}.log`), 'y'.repeat(400));
  const r = await collectLogs({ full: true, vars: { libDir: join(d, 'lib'), logDir: logs }, runner: realRunner, outDir: join(d, 'out'), totalBudget: 1000 });
  const ours = r.files.filter((f) => f.path.startsWith(logs));
  assert.equal(ours.length, 2);
  assert.ok(r.skipped.some((s) => s.reason === 'total size budget reached'));
});
