// `waagent -collect-logs [-full]` (the BUILT binary) in the VM-in-a-box after a real provisioning run
// and one extension pass: a zip that unzip and Python's zipfile accept, with the spec's files, and
// none of the scenario's secrets anywhere in it — not the admin password, not the protected
// settings' plaintext, not the SAS signature of the status blob — even where uncooperative writers
// put them in collected files (an extension logging its settings, a rotated log and a goal-state
// history zip from an agent that did not redact).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { createZip } from '../../src/util/zipwrite.ts';
import { readZip } from '../../src/util/zipread.ts';
import {
  SCENARIO_PASSWORD, SCENARIO_PROTECTED, SCENARIO_USER, WAAGENT, assertOk, provisionedBox,
} from './deprovision-helpers.ts';
import { firstReason, needsAgentBin, needsRoot } from '../helpers/skip.ts';

const skip = firstReason(needsRoot('VM-in-a-box'), needsAgentBin());
const ZIP = '/var/lib/waagent/logcollector/logs.zip';
const EXT = 'Waagent.Test.ShellExt';

/** Every member's bytes, nested zips and .gz members opened too (name -> data). */
function allContent(zip: Buffer, prefix = ''): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const e of readZip(zip)) {
    if (e.isDir) continue;
    const name = prefix + e.path;
    out.set(name, e.data);
    if (name.endsWith('.zip')) for (const [k, v] of allContent(e.data, `${name}!/`)) out.set(k, v);
    if (name.endsWith('.gz')) out.set(`${name}!gunzip`, gunzipSync(e.data));
  }
  return out;
}

test('collect-logs in the box (root, namespaces): a valid zip with the expected files and no secret of the scenario', { skip }, async () => {
  const box = await provisionedBox();
  try {
    // The status blob's SAS URL, as the agent used it: the simulator recorded the upload, through the
    // HostGAPlugin (the URL is in the body) or straight to the blob store (it is the request URL).
    const up = box.requests().find((r) => (r.endpoint === 'hgap' && r.method === 'PUT' && r.url === '/status') || (r.endpoint === 'blob' && r.method === 'PUT'));
    assert.ok(up, 'the extension pass uploaded the status blob');
    const sasUrl = up.endpoint === 'blob' ? `http://${up.headers['host']}${up.url}`
      : (JSON.parse(up.body) as { requestUri: string }).requestUri;
    const sig = new URL(sasUrl).searchParams.get('sig')!;
    assert.ok(sig.length >= 8, sasUrl);
    // CustomData as provisioning kept it in Lib.Dir's ovf-env.xml (the scenario's script, base64).
    const customData = /<(?:\w+:)?CustomData>([^<]+)</.exec(box.readFile('/var/lib/waagent/ovf-env.xml'))?.[1]?.trim() ?? '';
    assert.ok(customData.length > 16, 'the ovf-env.xml copy holds CustomData');
    const secrets = { password: SCENARIO_PASSWORD, protected: SCENARIO_PROTECTED, sig, customData, customDataText: 'custom data from the fabric simulator' };

    // Uncooperative writers: the secrets in files the manifest collects.
    box.writeFile(`/var/log/azure/${EXT}/extension.log`, `enable: using secret ${SCENARIO_PROTECTED}\n`);
    box.writeFile('/var/log/waagent.log.1', `2026-11-23T08:00:00.000000Z INFO ExtHandler Uploading status blob ${sasUrl}\n`);
    box.writeFile('/var/log/waagent.log.2.gz', gzipSync(`2026-11-22T08:00:00.000000Z INFO ExtHandler PUT ${sasUrl}\n`));
    box.writeFile('/var/lib/waagent/history/2026-11-23T08-00-00__1.zip', createZip([
      { name: 'ExtensionsConfig.xml', data: `<Extensions><StatusUploadBlob statusBlobType="BlockBlob">${sasUrl.replaceAll('&', '&amp;')}</StatusUploadBlob></Extensions>` },
      { name: 'waagent_status.1.json', data: JSON.stringify({ statusBlob: sasUrl }) },
    ]), { mode: 0o600 });
    const planted = box.readFile(`/var/log/azure/${EXT}/extension.log`) + box.readFile('/var/log/waagent.log.1');
    assert.ok(planted.includes(secrets.protected) && planted.includes(secrets.sig), 'the secrets really are on disk');
    // Provisioning's own files do not hold the password (so a leak below would be the collector's).
    assert.ok(!box.readFile('/var/lib/waagent/ovf-env.xml').includes(SCENARIO_PASSWORD));

    // A group-writable /var/log (Ubuntu: root:syslog 0775) where a group member planted a link to /etc/shadow.
    assertOk(await box.run(['bash', '-c', 'chmod 0775 /var/log && ln -s /etc/shadow /var/log/syslog.9']), 'plant a link in /var/log');
    const r = await box.run([WAAGENT, '-collect-logs'], { timeoutMs: 120_000 });
    assertOk(r, 'collect-logs');
    assert.match(r.stdout, new RegExp(`Log collection successfully completed\\. Archive can be found at ${ZIP}`));
    assert.equal(statSync(box.hostPath(ZIP)).mode & 0o777, 0o600, 'the archive is private');
    assertOk(await box.run(['unzip', '-tq', ZIP]), 'unzip -t');
    assertOk(await box.run(['python3', '-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); bad = z.testzip(); sys.exit(1 if bad else 0)', ZIP]), 'python zipfile');

    const zip = box.readFile(ZIP, null);
    const names = readZip(zip).map((e) => e.path);
    for (const n of ['results.txt', 'var/log/waagent.log', 'var/log/waagent.log.1', 'var/log/waagent.log.2.gz', 'etc/waagent.conf', 'etc/hostname',
      'var/lib/waagent/ovf-env.xml', `var/lib/waagent/${EXT}-1.0.0/status/0.status`, `var/lib/waagent/${EXT}-1.0.0/config/0.settings`,
      `var/lib/waagent/${EXT}-1.0.0/config/HandlerState`, `var/lib/waagent/${EXT}-1.0.0/config/HandlerStatus`,
      `var/log/azure/${EXT}/CommandExecution.log`, `var/log/azure/${EXT}/extension.log`, 'var/lib/waagent/history/2026-11-23T08-00-00__1.zip']) {
      assert.ok(names.includes(n), `${n} in the archive: ${names.join(' ')}`);
    }
    for (const n of names) {
      assert.doesNotMatch(n, /\.(prv|pem)$|CustomData|TransportPrivate|\/shadow$/, `${n} must not be collected`);
    }
    assert.ok(!names.includes('var/lib/waagent/provisioned'), 'provisioned is only in the full set');
    assert.ok(!names.includes('var/log/syslog.9'), 'a link in a directory others can write to is not followed');
    // Must-collect files come first (docs/os.md §9), in the spec's order.
    assert.deepEqual(names.slice(0, 2), ['var/log/waagent.log', 'var/lib/waagent/history/2026-11-23T08-00-00__1.zip']);

    const content = allContent(zip);
    assert.ok(content.has('var/lib/waagent/history/2026-11-23T08-00-00__1.zip!/ExtensionsConfig.xml'), 'the history zip is a valid zip inside');
    for (const [name, data] of content) {
      const text = data.toString('latin1');
      for (const [what, s] of Object.entries(secrets)) assert.ok(!text.includes(s), `the ${what} leaked into ${name}`);
    }
    const ovf = content.get('var/lib/waagent/ovf-env.xml')!.toString('utf8');
    assert.match(ovf, new RegExp(`<(\\w+:)?UserName>${SCENARIO_USER}<`), 'the ovf-env.xml copy is there, with the user');
    assert.match(ovf, /<(\w+:)?CustomData><redacted><\//, 'and CustomData redacted');
    assert.equal((await box.run(['bash', '-c', 'ls -a /tmp /var/lib/waagent/logcollector | grep -c -e waagent-crypto -e "^\\.scratch-" || true'])).stdout.trim(), '0', 'no decryption scratch left');
    assert.match(content.get(`var/log/azure/${EXT}/extension.log`)!.toString(), /using secret <redacted>/);
    assert.match(content.get('var/log/waagent.log.1')!.toString(), /\?<redacted>/);
    const results = content.get('results.txt')!.toString();
    assert.match(results, /Running log collector mode normal/);
    assert.match(results, /ls -alF \/var\/lib\/waagent:/);
    assert.match(results, /Skipped \/var\/log\/syslog\.9: symbolic link in a directory others can write to/);

    // -full: the larger set.
    const full = await box.run([WAAGENT, '-collect-logs', '-full'], { timeoutMs: 120_000 });
    assertOk(full, 'collect-logs -full');
    assertOk(await box.run(['unzip', '-tq', ZIP]), 'unzip -t (full)');
    const fullZip = box.readFile(ZIP, null);
    const fullNames = readZip(fullZip).map((e) => e.path);
    for (const n of ['var/lib/waagent/provisioned', 'var/lib/waagent/SharedConfig.xml', 'etc/resolv.conf', 'etc/nsswitch.conf']) {
      assert.ok(fullNames.includes(n), `${n} in the full archive`);
    }
    assert.ok(fullNames.length > names.length);
    for (const [name, data] of allContent(fullZip)) {
      const text = data.toString('latin1');
      for (const [what, s] of Object.entries(secrets)) assert.ok(!text.includes(s), `the ${what} leaked into ${name} (full)`);
    }
    assert.match(allContent(fullZip).get('results.txt')!.toString(), /Running log collector mode full/);

    // Started as the agent starts it (the monitor variable) but outside the log collector's slice, it
    // refuses with the agent's codes, writing nothing: 4 (wrong slice, after 3 tries 5 s apart) where
    // the host's cgroup layout is readable from the box, 2 (invalid cgroups) where it is not.
    assertOk(await box.run(['rm', '-f', ZIP]), 'remove the archive');
    const cg = await box.run([WAAGENT, '-collect-logs'], { timeoutMs: 120_000, env: { _AZURE_GUEST_AGENT_LOG_COLLECTOR_MONITOR_CGROUPS_: '1' } });
    assert.ok(cg.code === 4 || cg.code === 2, `exit ${cg.code}: ${cg.stdout}${cg.stderr}`);
    assert.match(cg.stdout + cg.stderr, cg.code === 4 ? /Log collection not started: not in azure-walinuxagent-logcollector\.slice/ : /Log collection not started: (cgroups not readable|controllers missing|cpu or memory)/);
    assert.equal(box.exists(ZIP), false);

    // A collection that cannot be written fails with exit 1 and says where the details are.
    assertOk(await box.run(['bash', '-c', 'rm -rf /var/lib/waagent/logcollector && echo not-a-dir > /var/lib/waagent/logcollector']), 'break the output dir');
    const bad = await box.run([WAAGENT, '-collect-logs'], { timeoutMs: 120_000 });
    assert.equal(bad.code, 1, bad.stdout + bad.stderr);
    assert.match(bad.stdout + bad.stderr, /Log collection failed: .*results\.txt/);
  } finally {
    await box.close();
  }
});
