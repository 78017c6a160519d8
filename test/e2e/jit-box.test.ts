// JIT remote access end to end: the BUILT dist/waagent -run-exthandlers in the VM-in-a-box (root, namespaces),
// the fabric simulator serving a RemoteAccess document whose passwords are CMS envelopes to the agent's own
// transport certificate. Over incarnations: accounts added (JIT_Account, expiry = Expiration + 1 day,
// password set, sudoers), changed (password, expiry), one expiring while still listed (removed without a new
// goal state), and all removed when the goal state no longer names the document; `root` and an existing
// non-JIT account refused and untouched.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Box, PROJECT } from '../sandbox/box.ts';
import { baseScenario, until } from '../fabric/testing.ts';
import { verifyPassword } from '../../src/crypto/password.ts';
import { realRunner } from '../../src/util/exec.ts';

const DIST = join(PROJECT, 'dist', 'waagent');
const skip = process.getuid?.() !== 0 ? 'needs root (namespaces)' : !existsSync(DIST) ? 'dist/waagent is not built (npm test builds it)' : false;
const CONF = ['Extensions.GoalStatePeriod=1', 'Debug.EtpCollectionPeriod=1', 'Logs.Collect=n', 'Logs.Console=n', 'OS.EnableFirewall=n', ''].join('\n');

function entry(box: Box, file: string, name: string): string[] | undefined {
  return box.readFile(file).split('\n').find((l) => l.startsWith(`${name}:`))?.split(':');
}
const days = (date: string) => String(Date.parse(`${date}T00:00:00Z`) / 86_400_000);

test('JIT remote access in the box (root, namespaces): add, change, expire, remove; reserved and non-JIT names refused', { skip, timeout: 240_000 }, async () => {
  const users = [
    { name: 'jitalice', password: 'Alice-Pass-1', expiration: 'Mon, 01 Jan 2035 00:00:00 GMT', groups: ['Administrators'] },
    { name: 'root', password: 'Root-Pass-1', expiration: 'Mon, 01 Jan 2035 00:00:00 GMT', groups: ['Administrators'] },
    { name: 'localops', password: 'Ops-Pass-1', expiration: 'Mon, 01 Jan 2035 00:00:00 GMT', groups: [] },
  ];
  const box = await Box.start({ scenario: baseScenario({ vmSettings: false, extensions: [], remoteAccess: { users } }), files: { '/etc/waagent.conf': CONF } });
  try {
    const fabric = box.fabric!;
    assert.equal((await box.run(['useradd', '-m', '-c', 'Operations', 'localops'])).code, 0);
    const opsBefore = entry(box, '/etc/shadow', 'localops')!.join(':');
    const rootBefore = entry(box, '/etc/shadow', 'root')!.join(':');
    const agent = box.spawn([DIST, '-run-exthandlers']);
    try {
      // Incarnation 1: jitalice created.
      await until(() => box.agentLog(), (l) => /Remote access users: added \[jitalice\]/.test(l), 60_000);
      const pw = entry(box, '/etc/passwd', 'jitalice')!;
      assert.equal(pw[4], 'JIT_Account');
      assert.equal(pw[5], '/home/jitalice');
      assert.equal(entry(box, '/etc/shadow', 'jitalice')![7], days('2035-01-02'), 'expiry = Expiration + 1 day');
      assert.ok(await verifyPassword(realRunner, 'Alice-Pass-1', entry(box, '/etc/shadow', 'jitalice')![1]!), 'the decrypted password is set');
      assert.match(box.readFile('/etc/sudoers.d/waagent'), /^jitalice ALL=\(ALL\) ALL$/m);
      const log1 = await until(() => box.agentLog(), (l) => /Error processing remote access user "localops"/.test(l) && /Error processing remote access user "root"/.test(l), 30_000);
      assert.match(log1, /"localops": an account named "localops" exists and is not a remote access \(JIT\) account: left untouched/);
      assert.doesNotMatch(log1, /Alice-Pass-1|Root-Pass-1|Ops-Pass-1/, 'no password in the log');
      const ra = await fabric.requests({ endpoint: 'wire', path: '/remoteaccess' });
      assert.equal(ra.length, 1, 'fetched once for the incarnation');
      assert.equal(ra[0]!.headers['x-ms-cipher-name'], 'AES128_CBC');

      // Incarnation 2: alice's password and expiry change; bob arrives with an Expiration 25 s ahead.
      const bobExp = new Date(Math.ceil(Date.now() / 1000) * 1000 + 25_000);
      await fabric.update({ remoteAccess: { users: [
        { name: 'jitalice', password: 'Alice-Pass-2', expiration: 'Tue, 01 Jan 2036 00:00:00 GMT', groups: [] },
        { name: 'jitbob', password: 'Bob-Pass-1', expiration: bobExp.toUTCString(), groups: [] },
      ] } });
      await until(() => box.agentLog(), (l) => /Remote access users: added \[jitbob\], updated \[jitalice\]/.test(l), 60_000);
      assert.equal(entry(box, '/etc/shadow', 'jitalice')![7], days('2036-01-02'));
      assert.ok(await verifyPassword(realRunner, 'Alice-Pass-2', entry(box, '/etc/shadow', 'jitalice')![1]!), 'password changed');
      assert.ok(await verifyPassword(realRunner, 'Bob-Pass-1', entry(box, '/etc/shadow', 'jitbob')![1]!));
      const fetches = (await fabric.requests({ endpoint: 'wire', path: '/remoteaccess' })).length;

      // bob's Expiration passes: removed without a new incarnation (and without another fetch).
      await until(() => box.agentLog(), (l) => /Remote access users: added \[\], updated \[\], removed \[jitbob\]/.test(l), 90_000);
      assert.equal(entry(box, '/etc/passwd', 'jitbob'), undefined);
      assert.ok(Date.now() >= bobExp.getTime(), 'not removed before its expiration');
      assert.ok(!box.exists('/home/jitbob'), 'home removed');
      assert.doesNotMatch(box.readFile('/etc/sudoers.d/waagent'), /jitbob/);
      assert.equal((await fabric.requests({ endpoint: 'wire', path: '/remoteaccess' })).length, fetches);
      assert.ok(entry(box, '/etc/passwd', 'jitalice'), 'alice stays');

      // Incarnation N: no RemoteAccessInfo any more -> every JIT account goes.
      await fabric.update({ remoteAccess: null });
      await until(() => box.agentLog(), (l) => /removed \[jitalice\]/.test(l), 60_000);
      assert.equal(entry(box, '/etc/passwd', 'jitalice'), undefined);
      assert.doesNotMatch(box.readFile('/etc/sudoers.d/waagent'), /jitalice/);
      assert.equal(entry(box, '/etc/shadow', 'localops')!.join(':'), opsBefore, 'the non-JIT account was never touched');
      assert.equal(entry(box, '/etc/shadow', 'root')!.join(':'), rootBefore, 'root was never touched');
      // The refusals reached the platform as RemoteAccessHandling events; no password in any event.
      const telemetry = await until(async () => (await fabric.requests({ endpoint: 'wire', path: 'comp=telemetrydata' })).map((r) => String(r.body)).join('\n'),
        (t) => /Value="RemoteAccessHandling"/.test(t), 30_000);
      assert.match(telemetry, /Error processing remote access user &quot;root&quot;|Error processing remote access user "root"|Error processing remote access user '"root"'/);
      assert.doesNotMatch(telemetry, /Alice-Pass|Bob-Pass|Root-Pass|Ops-Pass/);
      assert.deepEqual(await fabric.violations(), []);
    } finally {
      agent.kill('SIGTERM');
      await agent.wait(30_000);
    }
  } finally {
    await box.close();
  }
});
