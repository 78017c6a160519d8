// The wireserver firewall's commands (docs/os.md §6.6), recorded: iptables argv (table, chain, order, -w),
// check -> ok/missing/partial, restore of a partial set, nft script and its JSON check (a fixture
// captured from nft 1.0.6 in the VM-in-a-box). Nothing is run on this host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RecordingRunner } from '../../src/util/exec.ts';
import { Firewall, FirewallError, checkAddress, iptablesListedRules, iptablesListingHasRules, iptablesRules, iptablesSupportsWait, nftRulePresent, nftScript } from '../../src/os/firewall.ts';

const NFT_JSON = '{"nftables": [{"metainfo": {"version": "1.0.6", "release_name": "Lester Gooch #5", "json_schema_version": 1}}, {"table": {"family": "ip", "name": "walinuxagent", "handle": 1}}, {"chain": {"family": "ip", "table": "walinuxagent", "name": "output", "handle": 1, "type": "filter", "hook": "output", "prio": 0, "policy": "accept"}}, {"rule": {"family": "ip", "table": "walinuxagent", "chain": "output", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "168.63.129.16"}}, {"match": {"op": "!=", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 53}}, {"match": {"op": "!=", "left": {"meta": {"key": "skuid"}}, "right": 0}}, {"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["invalid", "new"]}}, {"counter": {"packets": 0, "bytes": 0}}, {"drop": null}]}}]}';

const W = 'iptables -w -t security';

test('the three iptables rules, in waagent\'s order, only for a dotted IPv4 address', () => {
  assert.deepEqual(iptablesRules('168.63.129.16', 0).map((r) => r.join(' ')), [
    '-d 168.63.129.16 -p tcp --destination-port 53 -j ACCEPT',
    '-d 168.63.129.16 -p tcp -m owner --uid-owner 0 -j ACCEPT',
    '-d 168.63.129.16 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP',
  ]);
  for (const bad of ['168.63.129', '1.2.3.256', '168.63.129.16; rm -rf /', '-j ACCEPT', '']) assert.throws(() => checkAddress(bad), FirewallError, bad);
  assert.equal(iptablesSupportsWait('iptables v1.8.9 (nf_tables)'), true);
  assert.equal(iptablesSupportsWait('iptables v1.4.21'), true);
  assert.equal(iptablesSupportsWait('iptables v1.4.20'), false);
  assert.equal(iptablesSupportsWait('garbage'), false);
});

test('check: all present = ok, none = missing, some = partial; -C argv with -w in the security table', async () => {
  for (const [present, state] of [[[true, true, true], 'ok'], [[false, false, false], 'missing'], [[true, false, true], 'partial']] as const) {
    const r = new RecordingRunner().answer('iptables --version', { stdout: 'iptables v1.8.9\n' });
    const rules = iptablesRules('168.63.129.16', 0).map((x) => x.join(' '));
    rules.forEach((rule, i) => r.answer((a) => a.includes('-C') && a.join(' ').endsWith(rule), { code: present[i] ? 0 : 1 }));
    const fw = new Firewall({ runner: r, dst: '168.63.129.16' });
    assert.equal(await fw.check(), state);
    // The listing (empty here) does not show the rules: each is asked with -C.
    assert.deepEqual(r.calls.slice(1).map((c) => c.argv.join(' ')), [`${W} -S OUTPUT`, ...rules.map((x) => `${W} -C OUTPUT ${x}`)]);
  }
  const err = new RecordingRunner().answer('iptables --version', { stdout: 'v1.8.9' }).answer((a) => a.includes('-C'), { code: 2, stderr: 'permission denied' });
  await assert.rejects(new Firewall({ runner: err, dst: '168.63.129.16' }).check(), /iptables -C failed \(exit 2\)/);
});

// `iptables -w -t security -S OUTPUT` after the three rules were set, as iptables 1.8.9 prints it with the
// nf_tables and the legacy backend alike (taken in the VM-in-a-box), plus a narrower copy of the DROP rule.
const LISTING = [
  '-P OUTPUT ACCEPT',
  '-A OUTPUT -d 168.63.129.16/32 -p tcp -m tcp --dport 53 -j ACCEPT',
  '-A OUTPUT -d 168.63.129.16/32 -p tcp -m owner --uid-owner 0 -j ACCEPT',
  '-A OUTPUT -d 168.63.129.16/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP',
  '-A OUTPUT -d 168.63.129.16/32 -o lo -p tcp -m conntrack --ctstate INVALID,NEW -j DROP',
  '',
].join('\n');

test('check in the steady state: one `iptables -S OUTPUT` listing that shows all three rules is ok, no -C', async () => {
  assert.equal(iptablesListingHasRules(LISTING, '168.63.129.16', 0), true);
  assert.equal(iptablesListingHasRules(LISTING.replace('--uid-owner 0', '--uid-owner 1000'), '168.63.129.16', 0), false, 'another uid');
  assert.equal(iptablesListingHasRules(LISTING, '168.63.129.17', 0), false, 'another address');
  assert.equal(iptablesListingHasRules(LISTING.replace(/\n-A OUTPUT -d \S+ -p tcp -m conntrack[^\n]*DROP/, ''), '168.63.129.16', 0), false,
    'only the narrower DROP rule (-o lo) is left: it does not count');
  assert.equal(iptablesListingHasRules(LISTING.replace(/ /g, '  '), '168.63.129.16', 0), true, 'whitespace runs');
  assert.equal(iptablesListingHasRules(iptablesListedRules('10.0.0.1', 7).join('\n'), '10.0.0.1', 7), true);

  const r = new RecordingRunner().answer('iptables --version', { stdout: 'iptables v1.8.9 (nf_tables)\n' }).answer(`${W} -S OUTPUT`, { stdout: LISTING });
  const fw = new Firewall({ runner: r, dst: '168.63.129.16' });
  assert.equal(await fw.check(), 'ok');
  assert.equal(await fw.ensure(), 'unchanged');
  assert.deepEqual(r.calls.slice(1).map((c) => c.argv.join(' ')), [`${W} -S OUTPUT`, `${W} -S OUTPUT`], 'one process per check');

  // A listing that is cut short, fails, or lacks a rule: -C decides (here all present).
  for (const answer of [{ stdout: LISTING, truncated: true }, { code: 4, stdout: LISTING }, { stdout: LISTING.split('\n').slice(0, 2).join('\n') }]) {
    const r2 = new RecordingRunner().answer('iptables --version', { stdout: 'iptables v1.8.9\n' }).answer(`${W} -S OUTPUT`, answer);
    assert.equal(await new Firewall({ runner: r2, dst: '168.63.129.16' }).check(), 'ok');
    assert.equal(r2.calls.filter((c) => c.argv.includes('-C')).length, 3, JSON.stringify(answer));
  }
});

test('ensure: missing -> three -A in order; partial -> every copy deleted (-D until 1), then set up; ok -> nothing', async () => {
  const rules = iptablesRules('168.63.129.16', 0).map((x) => x.join(' '));
  // missing, then ok after setup
  let added = false;
  const r1 = new RecordingRunner().answer('iptables --version', { stdout: 'v1.8.9' })
    .answer((a) => a.includes('-A'), { code: 0 });
  const origRun = r1.run.bind(r1);
  r1.run = async (argv, o) => {
    if (argv.includes('-A')) added = true;
    const res = await origRun(argv, o);
    return argv.includes('-C') ? { ...res, code: added ? 0 : 1 } : res;
  };
  assert.equal(await new Firewall({ runner: r1, dst: '168.63.129.16' }).ensure(), 'created');
  assert.deepEqual(r1.calls.filter((c) => c.argv.includes('-A')).map((c) => c.argv.join(' ')), rules.map((x) => `${W} -A OUTPUT ${x}`));

  // partial: rule 2 present twice; -D answers 0 until the copies are gone
  const copies = new Map(rules.map((x, i) => [x, i === 1 ? 2 : 0]));
  let setUp = false;
  const r2 = new RecordingRunner();
  r2.run = async (argv) => {
    r2.calls.push({ argv });
    const rule = argv.slice(argv.indexOf('OUTPUT') + 1).join(' ');
    let code = 0;
    if (argv.includes('-C')) code = setUp || (copies.get(rule) ?? 0) > 0 ? 0 : 1;
    if (argv.includes('-D')) { const n = copies.get(rule) ?? 0; code = n > 0 ? 0 : 1; if (n > 0) copies.set(rule, n - 1); }
    if (argv.includes('-A')) setUp = true;
    return { argv, code, signal: null, stdout: argv[1] === '--version' ? 'iptables v1.8.9' : '', stderr: '', timedOut: false, truncated: false, durationMs: 0 };
  };
  assert.equal(await new Firewall({ runner: r2, dst: '168.63.129.16' }).ensure(), 'repaired');
  const ds = r2.calls.filter((c) => c.argv.includes('-D')).map((c) => c.argv.slice(c.argv.indexOf('OUTPUT') + 1).join(' '));
  assert.deepEqual(ds, [rules[0], rules[1], rules[1], rules[1], rules[2]], 'each rule deleted until iptables says 1');
  assert.equal(r2.calls.filter((c) => c.argv.includes('-A')).length, 3);

  const r3 = new RecordingRunner().answer('iptables --version', { stdout: 'v1.8.9' });
  assert.equal(await new Firewall({ runner: r3, dst: '168.63.129.16' }).ensure(), 'unchanged');
  assert.equal(r3.calls.filter((c) => c.argv.includes('-A') || c.argv.includes('-D')).length, 0);
});

test('nft when iptables is absent: one table, one rule fed on stdin; the JSON listing is checked', async () => {
  assert.equal(nftScript('168.63.129.16', 0), [
    'add table ip walinuxagent',
    'add chain ip walinuxagent output { type filter hook output priority 0 ; policy accept ; }',
    'add rule ip walinuxagent output ip daddr 168.63.129.16 tcp dport != 53 skuid != 0 ct state invalid,new counter drop',
    '',
  ].join('\n'));
  assert.equal(nftRulePresent(NFT_JSON, '168.63.129.16', 0), true);
  assert.equal(nftRulePresent(NFT_JSON, '168.63.129.17', 0), false);
  assert.equal(nftRulePresent(NFT_JSON, '168.63.129.16', 1000), false);
  assert.equal(nftRulePresent(NFT_JSON.replace('{"drop": null}', '{"accept": null}'), '168.63.129.16', 0), false);
  assert.equal(nftRulePresent('not json', '168.63.129.16', 0), false);

  let tablePresent = false;
  const r = new RecordingRunner();
  r.run = async (argv, o) => {
    r.calls.push({ argv, input: o?.input === undefined ? undefined : String(o.input) });
    let code = 0;
    let stdout = '';
    if (argv[0] === 'iptables') code = 127;
    if (argv.join(' ') === 'nft --json list table ip walinuxagent') { code = tablePresent ? 0 : 1; stdout = tablePresent ? NFT_JSON : ''; }
    if (argv.join(' ') === 'nft -f -') tablePresent = true;
    return { argv, code, signal: null, stdout, stderr: '', timedOut: false, truncated: false, durationMs: 0 };
  };
  const fw = new Firewall({ runner: r, dst: '168.63.129.16' });
  assert.equal(await fw.detect(), 'nft');
  assert.equal(await fw.check(), 'missing');
  assert.equal(await fw.ensure(), 'created');
  const feed = r.calls.find((c) => c.argv.join(' ') === 'nft -f -')!;
  assert.equal(feed.input, nftScript('168.63.129.16', 0));
  assert.equal(await fw.check(), 'ok');
  await fw.remove();
  assert.ok(r.calls.some((c) => c.argv.join(' ') === 'nft delete table ip walinuxagent'));
  assert.equal(await fw.removeLegacy(), 0, 'no legacy rule with nft');
});

test('neither tool: a typed error', async () => {
  const r = new RecordingRunner().answer(() => true, { code: 127 });
  await assert.rejects(new Firewall({ runner: r, dst: '168.63.129.16' }).detect(), /neither iptables nor nft/);
});

/** iptables whose match modules do not load (exit 2 on -m owner/conntrack) and a working nft. */
function brokenIptables(o: { nftWorks?: boolean; iptablesWorks?: boolean } = {}): RecordingRunner {
  const r = new RecordingRunner();
  const ipt = new Set<string>();
  let table = false;
  r.run = async (argv, opt) => {
    r.calls.push({ argv, input: opt?.input === undefined ? undefined : String(opt.input) });
    const line = argv.join(' ');
    let code = 0; let stdout = ''; let stderr = '';
    if (argv[0] === 'iptables') {
      if (line === 'iptables --version') stdout = 'iptables v1.8.9 (legacy)';
      else if (o.iptablesWorks !== true && (line.includes('-m owner') || line.includes('-m conntrack'))) {
        code = 2; stderr = `iptables v1.8.9 (legacy): Couldn't load match \`${line.includes('owner') ? 'owner' : 'conntrack'}':No such file or directory`;
      } else {
        const rule = argv.slice(argv.indexOf('OUTPUT') + 1).join(' ');
        if (argv.includes('-A')) ipt.add(rule);
        else if (argv.includes('-C')) code = ipt.has(rule) ? 0 : 1;
        else if (argv.includes('-D')) code = ipt.delete(rule) ? 0 : 1;
      }
    } else if (argv[0] === 'nft') {
      if (o.nftWorks === false && line !== 'nft --version') { code = 1; stderr = 'Error: Could not process rule: Operation not supported'; }
      else if (line === 'nft --json list table ip walinuxagent') { code = table ? 0 : 1; stdout = table ? NFT_JSON : ''; }
      else if (line === 'nft -f -') table = true;
      else if (line === 'nft delete table ip walinuxagent') table = false;
    }
    return { argv, code, signal: null, stdout, stderr, timedOut: false, truncated: false, durationMs: 0 };
  };
  (r as unknown as { ipt: Set<string> }).ipt = ipt;
  return r;
}

test('iptables without its match modules: the rule it did set is removed and the nft table is used instead', async () => {
  const r = brokenIptables();
  const fw = new Firewall({ runner: r, dst: '168.63.129.16' });
  assert.equal(await fw.ensure(), 'created');
  assert.equal(await fw.detect(), 'nft');
  assert.match(fw.fallback!, /^iptables: iptables -C failed \(exit 2\): .*Couldn't load match `owner'.*; using nft instead$/);
  assert.equal((r as unknown as { ipt: Set<string> }).ipt.size, 0, 'no half set of iptables rules is left');
  assert.ok(r.calls.some((c) => c.argv.join(' ') === 'nft -f -'));
  // The periodic check now verifies the nft table.
  assert.equal(await fw.ensure(), 'unchanged');
  assert.equal(r.calls.at(-1)!.argv.join(' '), 'nft --json list table ip walinuxagent');
});

test('the reverse: nft failing falls back to iptables; both failing is an error naming both', async () => {
  const r = brokenIptables({ nftWorks: false, iptablesWorks: true });
  const fw = new Firewall({ runner: r, dst: '168.63.129.16', uid: 0 });
  // Start on nft (as after an earlier fallback), then nft breaks.
  (fw as unknown as { tool: string; detected: boolean }).tool = 'nft';
  (fw as unknown as { detected: boolean }).detected = true;
  assert.equal(await fw.ensure(), 'created');
  assert.equal(await fw.detect(), 'iptables');
  assert.equal((r as unknown as { ipt: Set<string> }).ipt.size, 3);

  const both = brokenIptables({ nftWorks: false });
  await assert.rejects(new Firewall({ runner: both, dst: '168.63.129.16' }).ensure(),
    (e: unknown) => e instanceof FirewallError && /^iptables: .*Couldn't load match.*; nft: nft -f - failed \(exit 1\): .*Operation not supported/.test(e.message));
});

test('daemon firewall task: no tool can set the rules -> an ERROR, one error event, the problem in the status until fixed', async () => {
  const { FirewallTask } = await import('../../src/agent/firewall.ts');
  const { Sysroot } = await import('../../src/util/sysroot.ts');
  const { MemoryAppender, log } = await import('../../src/util/logger.ts');
  const { buildAggregateStatus } = await import('../../src/extensions/aggregate.ts');
  const mem = new MemoryAppender('INFO');
  log.appenders.push(mem);
  try {
    const events: string[] = [];
    const task = new FirewallTask({ runner: brokenIptables({ nftWorks: false }), root: new Sysroot('/nonexistent-root-for-test'), endpoint: '168.63.129.16', self: ['/x/waagent'], flatcar: false, onFailure: (m) => events.push(m) });
    await task.init();
    await assert.rejects(task.run());
    assert.equal(events.length, 1, 'one event, not one per period');
    assert.match(events[0]!, /the WireServer firewall for 168\.63\.129\.16 could not be set: iptables: .*; nft: /);
    assert.ok(mem.lines.some((l) => / ERROR .*could not be set.*any local user can reach the WireServer/.test(l)), mem.lines.join(''));
    assert.ok(task.problem);
    const doc = buildAggregateStatus({ handlers: [], guestOS: { computerName: 'vm', osName: 'x', osVersion: '1' }, features: [], agentMessage: `Guest Agent is running; ERROR: ${task.problem}` }) as { aggregateStatus: { guestAgentStatus: { status: string; formattedMessage: { message: string } } } };
    assert.match(doc.aggregateStatus.guestAgentStatus.formattedMessage.message, /ERROR: the WireServer firewall .* could not be set/);
  } finally {
    log.appenders = log.appenders.filter((a) => a !== mem);
  }
});
