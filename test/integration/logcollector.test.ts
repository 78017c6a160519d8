import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { collectLogs } from '../../src/logcollector/collect.ts';
import { readZip } from '../../src/util/zipread.ts';
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

test('collect-logs: history zips and rotated .gz logs are redacted inside; an unreadable zip is left out; links in agent dirs are not followed', async (t) => {
  const { createZip } = await import('../../src/util/zipwrite.ts');
  const { gzipSync, gunzipSync } = await import('node:zlib');
  const { symlinkSync } = await import('node:fs');
  const d = mkdtempSync(join(tmpdir(), 'logc-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const lib = join(d, 'lib');
  const logs = join(d, 'log');
  mkdirSync(join(lib, 'history'), { recursive: true });
  mkdirSync(join(logs, 'Ext.B'), { recursive: true });
  const sas = 'https://acct.blob.core.windows.net/vhds/status.status?sv=2020-08-04&sr=b&sig=HISTORYSIGNATURE123&se=2030-01-01';
  writeFileSync(join(lib, 'history', '2026-11-23T10-00-00__1.zip'), createZip([
    { name: 'ExtensionsConfig.xml', data: `<StatusUploadBlob statusBlobType="BlockBlob">${sas}</StatusUploadBlob>` },
    { name: 'GoalState.xml', data: '<GoalState><Incarnation>1</Incarnation></GoalState>' },
  ]));
  writeFileSync(join(lib, 'history', 'broken.zip'), 'PK\x03\x04 not really a zip HISTORYSIGNATURE123');
  writeFileSync(join(d, 'secret-outside'), 'SHADOWCONTENT');
  symlinkSync(join(d, 'secret-outside'), join(logs, 'Ext.B', 'linked.log'));
  writeFileSync(join(logs, 'Ext.B', 'handler.log'), 'plain line\n');
  const r = await collectLogs({ full: false, vars: { libDir: lib, logDir: logs }, runner: realRunner, outDir: join(lib, 'logcollector') });
  execFileSync('unzip', ['-tq', r.archive]);
  const entries = new Map(readZip(r.archive).map((e) => [e.path, e.data]));
  const hist = entries.get(`${lib.slice(1)}/history/2026-11-23T10-00-00__1.zip`);
  assert.ok(hist, 'the history zip is collected');
  const inner = new Map(readZip(hist).map((e) => [e.path, e.data.toString('utf8')]));
  assert.match(inner.get('ExtensionsConfig.xml')!, /status\.status\?<redacted>/);
  assert.ok(!inner.get('ExtensionsConfig.xml')!.includes('HISTORYSIGNATURE123'));
  assert.equal(inner.get('GoalState.xml'), '<GoalState><Incarnation>1</Incarnation></GoalState>');
  assert.ok(!entries.has(`${lib.slice(1)}/history/broken.zip`), 'an unreadable zip is left out');
  assert.ok(r.skipped.some((s) => s.path.endsWith('broken.zip')));
  assert.ok(!entries.has(`${logs.slice(1)}/Ext.B/linked.log`), 'a link in an extension dir is not followed');
  assert.ok(entries.has(`${logs.slice(1)}/Ext.B/handler.log`));
  assert.ok(![...entries.values()].some((b) => b.includes('SHADOWCONTENT')));

  // .gz: the must-collect list takes waagent.log.* from /var/log, so exercise it through an extension log.
  writeFileSync(join(logs, 'Ext.B', 'old.log.1.gz'), gzipSync(`GET ${sas}\n`));
  const r2 = await collectLogs({ full: false, vars: { libDir: lib, logDir: logs }, runner: realRunner, outDir: join(lib, 'logcollector') });
  const gz = new Map(readZip(r2.archive).map((e) => [e.path, e.data])).get(`${logs.slice(1)}/Ext.B/old.log.1.gz`);
  assert.ok(gz);
  const text = gunzipSync(gz).toString('utf8');
  assert.match(text, /status\.status\?<redacted>/);
  assert.ok(!text.includes('HISTORYSIGNATURE123'));
});

test('collect-logs: protected settings are decrypted with the tenant certificate and their plaintext redacted from extension logs', async (t) => {
  const { OpenSsl } = await import('../../src/crypto/openssl.ts');
  const { createHash } = await import('node:crypto');
  const d = mkdtempSync(join(tmpdir(), 'logc-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const lib = join(d, 'lib');
  const logs = join(d, 'log');
  mkdirSync(join(lib, 'Ext.C-1.0', 'config'), { recursive: true });
  mkdirSync(join(logs, 'Ext.C'), { recursive: true });
  const key = join(d, 'k.pem');
  const crt = join(d, 'c.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '2', '-subj', '/CN=tenant'], { stdio: 'ignore' });
  const der = execFileSync('openssl', ['x509', '-in', crt, '-outform', 'DER']);
  const tp = createHash('sha1').update(der).digest('hex').toUpperCase();
  writeFileSync(join(lib, `${tp}.crt`), readFileSync(crt));
  writeFileSync(join(lib, `${tp}.prv`), readFileSync(key));
  const plain = JSON.stringify({ storageAccountKey: 'StorageKey-ZXCVBNM-0987', commandToExecute: 'true' });
  writeFileSync(join(d, 'plain.json'), plain);
  const env = execFileSync('openssl', ['cms', '-encrypt', '-in', join(d, 'plain.json'), '-outform', 'DER', '-aes256', crt]);
  writeFileSync(join(lib, 'Ext.C-1.0', 'config', '0.settings'), JSON.stringify({ runtimeSettings: [{ handlerSettings: {
    publicSettings: {}, protectedSettings: env.toString('base64'), protectedSettingsCertThumbprint: tp } }] }));
  writeFileSync(join(logs, 'Ext.C', 'extension.log'), 'using key StorageKey-ZXCVBNM-0987 now; ok=true\n');
  // CustomData in the provisioning copy of ovf-env.xml (and a line that logged it).
  const custom = Buffer.from('#!/bin/sh\nexport TOKEN=custom-data-secret-42\n').toString('base64');
  writeFileSync(join(lib, 'ovf-env.xml'), `<Environment><ns1:LinuxProvisioningConfigurationSet><ns1:UserName>azureuser</ns1:UserName>\n<ns1:CustomData>${custom}</ns1:CustomData></ns1:LinuxProvisioningConfigurationSet></Environment>\n`);
  writeFileSync(join(logs, 'Ext.C', 'imds.log'), `{"compute":{"customData":"${custom}","name":"vm"}}\n`);
  // A scratch directory left by a collector that was killed (a pid that does not exist), and a live one's.
  mkdirSync(join(lib, 'logcollector', '.scratch-999999', '.waagent-crypto-x'), { recursive: true });
  writeFileSync(join(lib, 'logcollector', '.scratch-999999', '.waagent-crypto-x', 'plain'), 'StorageKey-ZXCVBNM-0987');
  mkdirSync(join(lib, 'logcollector', `.scratch-${process.ppid}`), { recursive: true });
  const seenScratch: string[] = [];
  const ossl = new OpenSsl('openssl');
  const runOssl = ossl.run.bind(ossl);
  ossl.run = async (args, o) => { const i = args.indexOf('-in'); if (i >= 0) seenScratch.push(args[i + 1]!); return runOssl(args, o); };
  const r = await collectLogs({ full: false, vars: { libDir: lib, logDir: logs }, runner: realRunner, outDir: join(lib, 'logcollector'), openssl: ossl });
  assert.ok(seenScratch.length > 0 && seenScratch.every((f) => f.startsWith(join(lib, 'logcollector', `.scratch-${process.pid}`) + '/')), `scratch under Lib.Dir: ${seenScratch.join(' ')}`);
  assert.deepEqual(readdirSync(join(lib, 'logcollector')).filter((n) => n.startsWith('.scratch-')), [`.scratch-${process.ppid}`], 'the dead collector\'s scratch and our own are gone; a live one\'s stays');
  const entries = new Map(readZip(r.archive).map((e) => [e.path, e.data.toString('utf8')]));
  const log = entries.get(`${logs.slice(1)}/Ext.C/extension.log`);
  assert.equal(log, 'using key <redacted> now; ok=true\n', 'the secret leaf is redacted, a short common value is not');
  assert.ok(![...entries.values()].some((v) => v.includes('StorageKey-ZXCVBNM-0987')));
  assert.ok(![...entries.keys()].some((k) => k.endsWith('.prv')), 'private keys are not in the manifest');
  assert.ok(![...entries.values()].some((v) => v.includes(custom) || v.includes(custom.slice(0, 24))), 'no CustomData in the archive');
  assert.match(entries.get(`${lib.slice(1)}/ovf-env.xml`)!, /<ns1:UserName>azureuser<\/ns1:UserName>\n<ns1:CustomData><redacted><\/ns1:CustomData>/);
  assert.match(entries.get(`${logs.slice(1)}/Ext.C/imds.log`)!, /"customData":"<redacted>","name":"vm"/);
});

test('collect-logs cgroup self-check (when the agent started it): slice, controllers, 3 tries, exit 2/4', async () => {
  const { checkLogCollectorCgroup } = await import('../../src/logcollector/cgroup.ts');
  const io = (cgroup: string, controllers = 'cpuset cpu io memory pids') => {
    const calls = { sleeps: 0 };
    return { calls, io: { selfCgroup: () => cgroup, controllers: () => controllers, sleep: async () => { calls.sleeps++; } } };
  };
  const v2ok = io('0::/azure.slice/azure-walinuxagent.slice/azure-walinuxagent-logcollector.slice/collect-logs.scope\n');
  assert.deepEqual(await checkLogCollectorCgroup(v2ok.io, 3, 0), { ok: true });
  const v2wrong = io('0::/system.slice/waagent.service\n');
  const r = await checkLogCollectorCgroup(v2wrong.io, 3, 0);
  assert.equal(r.exitCode, 4);
  assert.equal(v2wrong.calls.sleeps, 2, 'three tries, two pauses');
  assert.equal((await checkLogCollectorCgroup(io('0::/x/azure-walinuxagent-logcollector.slice/s', 'cpuset io pids').io, 3, 0)).exitCode, 2, 'no cpu/memory controller');
  const v1 = '12:memory:/azure-walinuxagent-logcollector.slice\n4:cpu,cpuacct:/azure-walinuxagent-logcollector.slice\n1:name=systemd:/x\n';
  assert.equal((await checkLogCollectorCgroup(io(v1).io, 3, 0)).ok, true);
  assert.equal((await checkLogCollectorCgroup(io('4:cpu,cpuacct:/azure-walinuxagent-logcollector.slice\n').io, 3, 0)).exitCode, 2, 'v1 without memory');
  const broken = { selfCgroup: () => { throw new Error('EACCES'); }, controllers: () => '', sleep: async () => {} };
  assert.equal((await checkLogCollectorCgroup(broken, 3, 0)).exitCode, 2);
});

test('piecewise redaction: same result as whole-file redaction; PEM keys and XML secrets across pieces; over-long blocks dropped to their end; bytes kept', async (t) => {
  const { openSync, closeSync } = await import('node:fs');
  const { redactedPieces } = await import('../../src/logcollector/redactstream.ts');
  const { redact } = await import('../../src/util/logger.ts');
  const d = mkdtempSync(join(tmpdir(), 'logc-rs-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const run = (content: string | Buffer, o: { block: number; cap: number }) => {
    const f = join(d, 'f');
    writeFileSync(f, content);
    const fd = openSync(f, 'r');
    try {
      const size = Buffer.byteLength(content);
      return Buffer.concat([...redactedPieces(fd, 0, size, o)]);
    } finally { closeSync(fd); }
  };
  const key = '-----BEGIN RSA PRIVATE KEY-----\n' + 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=\n'.repeat(20) + '-----END RSA PRIVATE KEY-----\n';
  const text = [
    'line 1 GET https://a.blob.core.windows.net/c/b?sv=2020&sig=SIGONE&se=x ok',
    key.trimEnd(),
    'between <ns1:UserPassword>Pass\nword-Split-Secret</ns1:UserPassword> after',
    'x'.repeat(300),
    'line n https://a.blob.core.windows.net/c/b?sig=SIGTWO',
    '',
  ].join('\n');
  for (const block of [7, 16, 64, 1 << 20]) {
    const out = run(text, { block, cap: 1 << 20 }).toString('utf8');
    assert.equal(out, redact(text), `block ${block}: same as whole-file redaction`);
    for (const s of ['SIGONE', 'SIGTWO', 'QUJDREVGR0hJSktM', 'Split-Secret']) assert.ok(!out.includes(s), `${s} (block ${block})`);
    assert.ok(out.includes('x'.repeat(300)));
  }
  // A key longer than the cap: its body is dropped up to the END line, the rest is kept.
  const small = run(`before\n${key}after SIGTHREE https://h/p?sig=SIGTHREE\n`, { block: 32, cap: 128 }).toString('utf8');
  assert.ok(!small.includes('QUJDREVGR0hJSktM'), small);
  assert.match(small, /^before\n/);
  assert.match(small, /after SIGTHREE https:\/\/h\/p\?<redacted>\n$/);
  // The file ends inside a secret element: redacted to the end.
  const eof = run('a\n<UserPassword>never-closed-secret\nmore', { block: 8, cap: 1 << 20 }).toString('utf8');
  assert.ok(!eof.includes('never-closed-secret'), eof);
  // Non-UTF-8 bytes pass unchanged.
  const bin = Buffer.from([0x61, 0xff, 0xfe, 0x0a, 0x80, 0x62, 0x0a]);
  assert.deepEqual(run(bin, { block: 3, cap: 1 << 20 }), bin);
});

test('zip writer: an entry added in pieces (sync-flushed deflate) is valid for unzip, Python and our reader', async (t) => {
  const { ZipWriter } = await import('../../src/util/zipwrite.ts');
  const { randomBytes } = await import('node:crypto');
  const d = mkdtempSync(join(tmpdir(), 'logc-zip-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const pieces = [Buffer.from('hello '.repeat(1000)), randomBytes(70_000), Buffer.alloc(0), Buffer.from('tail\n')];
  const parts: Buffer[] = [];
  const w = new ZipWriter((b) => parts.push(b));
  w.addChunks('big.log', pieces);
  w.addChunks('empty.log', []);
  w.add({ name: 'small.txt', data: 'x' });
  w.finish();
  const zipPath = join(d, 'a.zip');
  writeFileSync(zipPath, Buffer.concat(parts));
  execFileSync('unzip', ['-tq', zipPath]);
  execFileSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); sys.exit(1 if z.testzip() else 0)', zipPath]);
  const got = new Map(readZip(zipPath).map((e) => [e.path, e.data]));
  assert.deepEqual(got.get('big.log'), Buffer.concat(pieces));
  assert.equal(got.get('empty.log')!.length, 0);
  assert.equal(got.get('small.txt')!.toString(), 'x');
});
