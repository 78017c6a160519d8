// HttpProxy.Host/Port end to end in the VM-in-a-box (root, namespaces): a forward proxy inside the box
// (ext-proxy.ts, which only reaches 127.0.0.1) sees the storage traffic (manifest, package) and never the
// platform endpoints (WireServer, HostGAPlugin: always direct, docs/architecture.md); extension commands get the
// proxy in http_proxy/https_proxy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PINNED_NODE, PROJECT, type Box } from '../sandbox/box.ts';
import { ExtBox, ops, skip } from './ext-helpers.ts';

const PROXY_LOG = '/var/log/probe/proxy.log';

async function startProxy(box: Box): Promise<void> {
  const mk = await box.run(['mkdir', '-p', '/var/log/probe']);
  assert.equal(mk.code, 0, mk.stderr);
  const p = box.spawn([PINNED_NODE, join(PROJECT, 'test', 'e2e', 'ext-proxy.ts'), '3128', PROXY_LOG]);
  for (let i = 0; i < 200 && !p.stdout().includes('proxy: ready'); i++) {
    assert.ok(!p.exited, `proxy exited: ${p.stderr()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(p.stdout(), /proxy: ready/);
}

test('HttpProxy in the box (root, namespaces): storage through the proxy, platform direct, extensions get the proxy', { skip, timeout: 120_000 }, async (t) => {
  const x = await ExtBox.start('ext-upgrade.json', { proxy: { host: '127.0.0.1', port: 3128 } }, undefined,
    ['HttpProxy.Host=127.0.0.1', 'HttpProxy.Port=3128'], startProxy);
  t.diagnostic(`goal-state loop: ${x.mode}`);
  try {
    await x.reported('incarnation_1');
    const cmds = x.newCommands();
    assert.deepEqual(ops(cmds), ['Waagent.Test.Probe 1.0.0 install', 'Waagent.Test.Probe 1.0.0 enable']);
    // Issue 7 asks for the proxy to be passed to extensions; the Python agent (peer mode) does not.
    const want = x.mode === 'upstream' ? '<unset>' : 'http://127.0.0.1:3128';
    for (const c of cmds) {
      assert.equal(c.env['http_proxy'], want);
      assert.equal(c.env['https_proxy'], want);
    }
    const seen = x.box.readFile(PROXY_LOG).trim().split('\n').map((l) => JSON.parse(l) as { method: string; target: string });
    t.diagnostic(seen.map((r) => `${r.method} ${r.target}`).join('\n'));
    assert.ok(seen.some((r) => r.target.endsWith('/extensions/Waagent.Test.Probe_manifest.xml')), 'manifest through the proxy');
    assert.ok(seen.some((r) => r.target.endsWith('/extensions/Waagent.Test.Probe__1.0.0')), 'package through the proxy');
    assert.deepEqual(seen.filter((r) => /168\.63\.129\.16|169\.254\.169\.254/.test(r.target)), [], 'platform endpoints never through the proxy');
    assert.deepEqual(await x.box.fabric!.requests({ path: '/extensionArtifact' }), [], 'the proxied direct channel worked: no fallback');
    const blob = await x.lastStatus();
    assert.equal(x.handler(blob, 'Waagent.Test.Probe')!.status, 'Ready');
    assert.equal((await x.box.fabric!.statusUploads()).at(-1)!.channel, 'hgap', 'status goes to the HostGAPlugin, directly');
  } finally {
    await x.close();
  }
});
