// The built binary's one-shot commands inside the VM-in-a-box (the box has its own netns, so its
// netfilter is private; no systemd runs there): -setup-firewall=IP with iptables, twice (idempotent);
// the same with iptables absent (nft); -register-service writing the unit and a default waagent.conf.
// Needs root (namespaces).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Box, PINNED_NODE } from '../sandbox/box.ts';
import { AGENT_BIN, firstReason, needsAgentBin, needsRoot } from '../helpers/skip.ts';
import { waitFor } from '../helpers/wait.ts';
import { iptablesListingHasRules } from '../../src/os/firewall.ts';

const WIRESERVER = '168.63.129.16'; // inside the sandbox netns only

const DIST = AGENT_BIN;
const skip = firstReason(needsRoot('namespaces'), needsAgentBin());

const CONNECT = `
const s = require('node:net').connect({ host: '${WIRESERVER}', port: 80 });
const t = setTimeout(() => { console.log('TIMEOUT'); process.exit(0); }, 3000);
s.on('connect', () => { console.log('CONNECTED'); clearTimeout(t); s.destroy(); });
s.on('error', (e) => { console.log(e.code); clearTimeout(t); });
`;

async function connectAs(box: Box, uid: number | null): Promise<string> {
  const argv = uid === null ? [PINNED_NODE, '-e', CONNECT] : ['setpriv', `--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', PINNED_NODE, '-e', CONNECT];
  return (await box.run(argv, { timeoutMs: 20_000 })).stdout.trim();
}

test('-setup-firewall=IP in the box (root, namespaces): iptables rules once, even when run twice; nobody is blocked, root is not', { skip }, async () => {
  const box = await Box.start();
  try {
    for (let i = 0; i < 2; i++) {
      const r = await box.run([DIST, `-setup-firewall=${WIRESERVER}`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
    }
    const rules = (await box.run(['iptables', '-w', '-t', 'security', '-S', 'OUTPUT'])).stdout;
    assert.equal(rules.split('\n').filter((l) => l.includes(WIRESERVER)).length, 3, rules);
    // The daemon's periodic check reads this listing: the real tool prints the rules as it expects.
    assert.ok(iptablesListingHasRules(rules, WIRESERVER, 0), rules);
    // A listener as root inside the box stands in for the WireServer (loopback address on lo).
    const server = box.spawn([PINNED_NODE, '-e', `require('node:net').createServer((c) => c.end()).listen(80, '${WIRESERVER}')`]);
    // Poll until the stand-in listens (root connects), instead of a fixed sleep.
    await waitFor(async () => (await connectAs(box, null)) === 'CONNECTED', { what: 'root to connect to the stand-in WireServer', timeoutMs: 30_000, everyMs: 50 });
    assert.notEqual(await connectAs(box, 65534), 'CONNECTED');
    server.kill('SIGKILL');
    const bad = await box.run([DIST, '-setup-firewall=999.1.1.1']);
    assert.notEqual(bad.code, 0);
  } finally {
    await box.close();
  }
});

test('-setup-firewall=IP in the box (root, namespaces): without iptables, one nft table and rule', { skip }, async () => {
  // iptables "absent": a shim first in PATH that fails like a missing command.
  const box = await Box.start({ files: { '/usr/local/sbin/iptables': { content: '#!/bin/sh\nexit 127\n', mode: 0o755 } } });
  try {
    for (let i = 0; i < 2; i++) {
      const r = await box.run([DIST, `-setup-firewall=${WIRESERVER}`]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /\(nft\)/);
    }
    const listing = (await box.run(['nft', 'list', 'table', 'ip', 'walinuxagent'])).stdout;
    assert.match(listing, /ip daddr 168\.63\.129\.16 tcp dport != 53 meta skuid != 0 ct state invalid,new counter packets \d+ bytes \d+ drop/);
    assert.equal(listing.split('\n').filter((l) => l.includes('drop')).length, 1, 'not duplicated by the second run');
    const server = box.spawn([PINNED_NODE, '-e', `require('node:net').createServer((c) => c.end()).listen(80, '${WIRESERVER}')`]);
    // Poll until the stand-in listens (root connects), instead of a fixed sleep.
    await waitFor(async () => (await connectAs(box, null)) === 'CONNECTED', { what: 'root to connect to the stand-in WireServer', timeoutMs: 30_000, everyMs: 50 });
    assert.notEqual(await connectAs(box, 65534), 'CONNECTED');
    server.kill('SIGKILL');
  } finally {
    await box.close();
  }
});

test('-setup-firewall=IP in the box (root, namespaces): an iptables whose owner/conntrack matches do not load ends with the nft rules in place', { skip }, async () => {
  // The box's iptables, first in PATH, fails like one whose xt_owner/xt_conntrack modules are missing.
  const shim = [
    '#!/bin/sh',
    'for a in "$@"; do case "$a" in owner|conntrack) echo "iptables v1.8.9 (legacy): Couldn\'t load match $a:No such file or directory" >&2; exit 2;; esac; done',
    'exec /usr/sbin/iptables "$@"',
    '',
  ].join('\n');
  const box = await Box.start({ files: { '/usr/local/sbin/iptables': { content: shim, mode: 0o755 } } });
  try {
    const r = await box.run([DIST, `-setup-firewall=${WIRESERVER}`]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /WARNING .*iptables: .*Couldn't load match owner:.*; using nft instead/);
    assert.match(r.stdout, /\(nft\)/);
    const listing = (await box.run(['nft', 'list', 'table', 'ip', 'walinuxagent'])).stdout;
    assert.match(listing, /ip daddr 168\.63\.129\.16 tcp dport != 53 meta skuid != 0 ct state invalid,new counter packets \d+ bytes \d+ drop/);
    const rules = (await box.run(['/usr/sbin/iptables', '-w', '-t', 'security', '-S', 'OUTPUT'])).stdout;
    assert.equal(rules.split('\n').filter((l) => l.includes(WIRESERVER)).length, 0, `no half set of iptables rules left: ${rules}`);
    const server = box.spawn([PINNED_NODE, '-e', `require('node:net').createServer((c) => c.end()).listen(80, '${WIRESERVER}')`]);
    await new Promise((res) => setTimeout(res, 500));
    assert.equal(await connectAs(box, null), 'CONNECTED');
    assert.notEqual(await connectAs(box, 65534), 'CONNECTED', 'a non-root process is blocked');
    server.kill('SIGKILL');
  } finally {
    await box.close();
  }
});

test('-register-service in the box (root, namespaces): unit for this binary under /etc/systemd/system, default conf only when none', { skip }, async () => {
  const box = await Box.start();
  try {
    await box.run(['rm', '-f', '/etc/waagent.conf']);
    const r = await box.run([DIST, '-register-service']);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const unit = box.readFile('/etc/systemd/system/waagent.service');
    assert.match(unit, new RegExp(`^ExecStart=${DIST.replace(/[/.]/g, '\\$&')} -daemon$`, 'm'));
    assert.match(box.readFile('/etc/waagent.conf'), /^OS\.EnableFirewall=y$/m);
    assert.match(r.stdout, /systemd is not running here: waagent\.service was not enabled/);
    // An existing configuration is never replaced; a second run changes nothing.
    box.writeFile('/etc/waagent.conf', 'Logs.Verbose=y\n');
    const again = await box.run([DIST, '-register-service']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Unchanged: \/etc\/systemd\/system\/waagent\.service/);
    assert.equal(box.readFile('/etc/waagent.conf'), 'Logs.Verbose=y\n');
    assert.ok(!box.changedFiles().some((p) => p.startsWith('/lib/') || p.startsWith('/usr/')), box.changedFiles().join(' '));
  } finally {
    await box.close();
  }
});

test('-start in the box (root, namespaces): returns at once, the detached daemon reports status; SIGTERM to the pid in Pid.File stops it', { skip }, async () => {
  const { baseScenario } = await import('../fabric/testing.ts');
  const box = await Box.start({
    scenario: baseScenario({ vmSettings: false, extensions: [] }),
    files: { '/etc/waagent.conf': 'Provisioning.Agent=disabled\nExtensions.GoalStatePeriod=1\nLogs.Collect=n\nLogs.Console=n\n' },
  });
  try {
    const r = await box.run([DIST, '-start'], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const fabric = box.fabric!;
    await fabric.waitFor(() => fabric.statusUploads(), (u) => u.length >= 2, 60_000);
    const health = await fabric.health();
    assert.equal(health.at(-1)!.state, 'Ready', 'Provisioning.Agent=disabled still reports Ready');
    const pid = box.readFile('/var/run/waagent.pid');
    assert.match(pid, /^\d+$/);
    // Its parent (-start) is gone, so the box's init is the parent and may leave a zombie: exited = gone or Z.
    const k = await box.run(['bash', '-c', `kill -TERM ${pid}; for i in $(seq 100); do s=$(cut -d' ' -f3 /proc/${pid}/stat 2>/dev/null); [ -z "$s" ] || [ "$s" = Z ] && exit 0; sleep 0.1; done; exit 1`]);
    assert.equal(k.code, 0, 'the daemon stopped');
    assert.equal(box.exists('/var/run/waagent.pid'), false);
  } finally {
    await box.close();
  }
});
