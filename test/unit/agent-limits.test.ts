// The agent's own limits (2.15 cgroupconfigurator): Debug.AgentCpuQuota as the CPUQuota of the unit that
// -register-service writes (temp root, recording runner: systemctl is never run here), none when cgroups are
// off or the value is out of range; Debug.EnableAgentMemoryUsageCheck against Debug.AgentMemoryQuota once the
// goal state converged, with the AgentMemory event and the exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { agentCpuQuota, runRegisterService } from '../../src/agent/service.ts';
import { usageTask } from '../../src/agent/usage.ts';
import { agentUnit } from '../../src/os/service.ts';
import { configFromText } from '../../src/config/config.ts';
import { RecordingRunner } from '../../src/util/exec.ts';
import { MemoryOutput } from '../../src/util/output.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import type { Invocation } from '../../src/util/invocation.ts';
import type { CgroupUsage } from '../../src/os/cgroup.ts';

const flags = { verbose: false, force: false, full: false, debug: false, dryRun: false };

test('-register-service: the unit carries CPUQuota=<Debug.AgentCpuQuota>% (default 50); no systemctl on a temp root', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'limits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const [text, want] of [['', 'CPUQuota=50%'], ['Debug.AgentCpuQuota=75\n', 'CPUQuota=75%'], ['CGroups.EnforceLimits=n\n', null], ['CGroups.Enabled=n\n', null]] as const) {
    const runner = new RecordingRunner();
    const io = new MemoryOutput();
    const ctx: Invocation = {
      command: 'register-service', args: { flags }, config: configFromText(text, 'waagent.conf'), configPath: '/etc/waagent.conf',
      root: new Sysroot(dir), runner, io, self: ['/opt/bin/waagent'],
    };
    assert.equal(await runRegisterService(ctx), 0);
    const unit = readFileSync(join(dir, 'etc/systemd/system/waagent.service'), 'utf8');
    if (want) assert.match(unit, new RegExp(`^${want}$`, 'm'), text);
    else assert.doesNotMatch(unit, /CPUQuota=/, text);
    assert.match(unit, /^MemoryAccounting=yes$/m);
    assert.doesNotMatch(unit, /MemoryMax=|MemoryHigh=/, '2.15 checks the agent\'s memory, it does not cap it');
    assert.deepEqual(runner.calls, [], 'nothing run against a temp root');
  }
});

test('agentCpuQuota: out-of-range values give no quota; the unit line follows the value', () => {
  assert.equal(agentCpuQuota(configFromText('Debug.AgentCpuQuota=0\n', 'c'), 2), undefined);
  assert.equal(agentCpuQuota(configFromText('Debug.AgentCpuQuota=201\n', 'c'), 2), undefined);
  assert.equal(agentCpuQuota(configFromText('Debug.AgentCpuQuota=200\n', 'c'), 2), 200);
  assert.match(agentUnit({ self: ['/x'], cpuQuotaPercent: 5 }), /^CPUQuota=5%$/m);
  assert.doesNotMatch(agentUnit({ self: ['/x'] }), /CPUQuota/);
});

function usage(anon: number, file: number, swap: number): CgroupUsage {
  return { version: 2, path: '/system.slice/waagent.service', anon, file, swap, peak: null, cpuUsec: null, throttledUsec: null };
}

test('memory check: only when enabled and converged; over the quota -> AgentMemory event and exit', () => {
  let u: CgroupUsage | null = usage(20 << 20, 11 << 20, 0);
  let converged = false;
  const events: [string, boolean, string][] = [];
  const exits: string[] = [];
  const o = { usage: { poll: () => u }, quotaBytes: 31457280, converged: () => converged, event: (a: string, b: boolean, c: string) => events.push([a, b, c]), exit: (r: string) => exits.push(r) };
  usageTask({ ...o, check: false })();
  usageTask({ ...o, check: true })();
  assert.deepEqual([events, exits], [[], []], 'disabled, or the goal state has not converged');
  converged = true;
  usageTask({ ...o, check: true })();
  assert.equal(events.length, 1);
  assert.deepEqual(events[0]!.slice(0, 2), ['AgentMemory', true]);
  assert.match(events[0]![2], /The agent memory limit 31457280 bytes exceeded\. The current reported usage is 32505856 bytes\./);
  assert.deepEqual(exits, ['Agent WALinuxAgent-3.0.0.0 is reached memory limit -- exiting']);
  u = usage(10 << 20, 10 << 20, 0);
  usageTask({ ...o, check: true })();
  u = null;
  usageTask({ ...o, check: true })();
  assert.equal(exits.length, 1, 'under the quota, or no cgroup: nothing');
});
