// The demo extension, run as the agent would run it: its package from the simulated storage
// unzipped by Info-ZIP, the tenant certificate from the Certificates answer in a Lib.Dir, the
// settings file in the agent's shape. It must decrypt its protected settings and say so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { startFabric, type Fabric } from '../fabric/server.ts';
import { parseXml, path, textAt } from '../../src/util/xml.ts';
import { WS_HEADERS, baseScenario, http } from '../fabric/testing.ts';

let f: Fabric;
let lib: string;

before(async () => {
  f = await startFabric({ scenario: baseScenario(), bind: 'loopback', quiet: true });
  lib = mkdtempSync(join(tmpdir(), 'fabric-lib-'));
});
after(async () => {
  await f.close();
  rmSync(lib, { recursive: true, force: true });
});

interface Handler { dir: string; env: string; }

async function install(): Promise<{ h: Handler; settings: string; thumb: string }> {
  const gs = parseXml((await http('GET', `${f.urls.wire}/machine/?comp=goalstate`, WS_HEADERS)).text, 'gs');
  const ecUrl = textAt(path(gs, 'Container', 'RoleInstanceList', 'RoleInstance', 'Configuration'), 'ExtensionsConfig')!;
  const ec = parseXml((await http('GET', ecUrl, WS_HEADERS)).text, 'ec');
  const plugin = path(ec, 'Plugins', 'Plugin')!;
  const manifest = parseXml((await http('GET', plugin.attrs.location!)).text, 'manifest');
  const zip = await http('GET', textAt(path(manifest, 'Plugins', 'Plugin'), 'Uris', 'Uri')!);
  const dir = join(lib, `${plugin.attrs.name}-${plugin.attrs.version}`);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(lib, 'pkg.zip'), zip.body);
  execFileSync('unzip', ['-q', '-o', join(lib, 'pkg.zip'), '-d', dir]);
  for (const d of ['config', 'status']) mkdirSync(join(dir, d), { mode: 0o700, recursive: true });
  const env = JSON.stringify([{ name: plugin.attrs.name, version: 1.0, handlerEnvironment: {
    logFolder: join(lib, 'log'), configFolder: join(dir, 'config'), statusFolder: join(dir, 'status'),
    heartbeatFile: join(dir, 'heartbeat.log'), eventsFolder: join(lib, 'events'), eventsFolder_preview: join(lib, 'events') } }]).replace(/":/g, '": ').replace(/,"/g, ', "');
  writeFileSync(join(dir, 'HandlerEnvironment.json'), env);
  const rs = path(ec, 'PluginSettings', 'Plugin', 'RuntimeSettings')!;
  const hs = (JSON.parse(rs.text) as { runtimeSettings: Array<{ handlerSettings: Record<string, unknown> }> }).runtimeSettings[0]!.handlerSettings;
  // The agent's settings file: key order publicSettings, protectedSettings, thumbprint (docs/extensions.md 1.3).
  const settings = JSON.stringify({ runtimeSettings: [{ handlerSettings: {
    publicSettings: hs.publicSettings ?? null, protectedSettings: hs.protectedSettings ?? null,
    protectedSettingsCertThumbprint: hs.protectedSettingsCertThumbprint ?? null } }] });
  return { h: { dir, env }, settings, thumb: String(hs.protectedSettingsCertThumbprint) };
}

function run(h: Handler, op: string, seq: string) {
  return spawnSync('/bin/sh', ['-c', `${join(h.dir, 'bin/handler.sh')} ${op}`], {
    cwd: h.dir, encoding: 'utf8', env: { PATH: process.env.PATH, ConfigSequenceNumber: seq },
  });
}

test('enable decrypts the protected settings with LIB/<thumbprint>.crt/.prv and reports their SHA-256', async () => {
  const { h, settings, thumb } = await install();
  writeFileSync(join(h.dir, 'config', '3.settings'), settings);
  writeFileSync(join(lib, `${thumb}.crt`), f.fabricCert().certPem, { mode: 0o400 });
  writeFileSync(join(lib, `${thumb}.prv`), f.fabricCert().keyPem, { mode: 0o400 });
  for (const op of ['install', 'disable', 'update', 'uninstall']) assert.equal(run(h, op, '3').status, 0, op);
  const r = run(h, 'enable', '3');
  assert.equal(r.status, 0, r.stderr);
  const status = JSON.parse(readFileSync(join(h.dir, 'status', '3.status'), 'utf8')) as Array<{ status: { status: string; code: number; operation: string; formattedMessage: { lang: string; message: string } } }>;
  assert.equal(status.length, 1);
  assert.equal(status[0]!.status.status, 'success');
  assert.equal(status[0]!.status.operation, 'Enable');
  assert.equal(status[0]!.status.formattedMessage.lang, 'en-US');
  const expected = createHash('sha256').update(JSON.stringify({ secret: 'test-protected' })).digest('hex');
  assert.equal(status[0]!.status.formattedMessage.message, `protectedSettingsSha256=${expected}; message=from-test`);
  assert.ok(!readFileSync(join(h.dir, 'status', '3.status'), 'utf8').includes('test-protected'), 'the secret itself is not reported');
  assert.equal(readFileSync(join(h.dir, 'mrseq'), 'utf8').trim(), '3');
});

test('enable without the certificate reports an error status and exits non-zero', async () => {
  const { h, settings, thumb } = await install();
  writeFileSync(join(h.dir, 'config', '4.settings'), settings);
  rmSync(join(lib, `${thumb}.crt`), { force: true });
  const r = run(h, 'enable', '4');
  assert.notEqual(r.status, 0);
  const status = JSON.parse(readFileSync(join(h.dir, 'status', '4.status'), 'utf8')) as Array<{ status: { status: string; formattedMessage: { message: string } } }>;
  assert.equal(status[0]!.status.status, 'error');
  assert.match(status[0]!.status.formattedMessage.message, /not found/);
});

test('enable with a key that does not match reports that it cannot decrypt', async () => {
  const { h, settings, thumb } = await install();
  writeFileSync(join(h.dir, 'config', '5.settings'), settings);
  const other = mkdtempSync(join(lib, 'other-'));
  execFileSync('openssl', ['req', '-x509', '-nodes', '-newkey', 'rsa:2048', '-subj', '/CN=other', '-keyout', join(other, 'k'), '-out', join(other, 'c')], { stdio: 'pipe' });
  rmSync(join(lib, `${thumb}.crt`), { force: true });
  rmSync(join(lib, `${thumb}.prv`), { force: true });
  writeFileSync(join(lib, `${thumb}.crt`), readFileSync(join(other, 'c')));
  writeFileSync(join(lib, `${thumb}.prv`), readFileSync(join(other, 'k')), { mode: 0o600 });
  const r = run(h, 'enable', '5');
  assert.notEqual(r.status, 0);
  assert.ok(existsSync(join(h.dir, 'status', '5.status')));
  assert.match(readFileSync(join(h.dir, 'status', '5.status'), 'utf8'), /cannot decrypt/);
});
