// 20 `waagent -daemon` started at once in the VM-in-a-box, over a stale pid file left by a crash:
// exactly one daemon keeps running, the pid file names it, the 19 others say which one runs and
// exit. Root + namespaces (the box); the fabric simulator answers inside the box's netns only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Box, PROJECT } from '../sandbox/box.ts';
import { baseScenario } from '../fabric/testing.ts';

const DIST = join(PROJECT, 'dist', 'waagent');
const skip = process.getuid?.() !== 0 ? 'needs root (namespaces, loop devices)' : !existsSync(DIST) ? 'dist/waagent is not built (npm test builds it)' : false;
const N = 20;

test(`${N} daemons started at once in the box (root, namespaces): exactly one runs`, { skip, timeout: 180_000 }, async () => {
  const box = await Box.start({
    scenario: baseScenario({ vmSettings: false }),
    media: { kind: 'udf' },
    files: { '/etc/waagent.conf': 'Provisioning.Agent=waagent\nLogs.Console=n\nOS.EnableFirewall=n\n', '/var/run/waagent.pid': '999999' },
  });
  try {
    const script = [
      `for i in $(seq ${N}); do "${DIST}" -daemon > /tmp/d$i.out 2>&1 & done`,
      // Let every start reach its verdict (losers exit right after the lock).
      'for t in $(seq 100); do n=0; for i in $(seq ' + N + '); do grep -q "already running" /tmp/d$i.out && n=$((n+1)); done; [ $n -ge ' + (N - 1) + ' ] && break; sleep 0.2; done',
      'sleep 2',
      // Daemons alive now: processes whose command line is exactly "<binary> -daemon".
      `for p in /proc/[0-9]*; do [ "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" = "${DIST} -daemon " ] && echo "alive \${p#/proc/}"; done`,
      `for i in $(seq ${N}); do grep -h "already running" /tmp/d$i.out | head -1; done`,
      'echo "pidfile $(cat /var/run/waagent.pid)"',
    ].join('\n');
    const r = await box.run(['bash', '-c', script], { timeoutMs: 90_000 });
    const lines = r.stdout.split('\n');
    const alive = lines.filter((l) => l.startsWith('alive ')).map((l) => l.slice(6));
    const refused = lines.filter((l) => /Daemon is already running: \d+/.test(l));
    const pidfile = lines.find((l) => l.startsWith('pidfile '))?.slice(8);
    assert.equal(alive.length, 1, `exactly one daemon runs:\n${r.stdout}\n${r.stderr}`);
    assert.equal(refused.length, N - 1, r.stdout);
    assert.equal(pidfile, alive[0], 'the pid file names the running daemon');
    for (const l of refused) assert.match(l, new RegExp(`Daemon is already running: ${alive[0]}$`));
    assert.equal(box.exists('/var/run/waagent.pid.takeover'), false);
    await box.run(['kill', '-TERM', alive[0]!]);
  } finally {
    await box.close();
  }
});
