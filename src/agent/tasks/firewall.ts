// OS.EnableFirewall: the WireServer rules set at start, checked and repaired every OS.EnableFirewallPeriod.
import { agentOperationEvent } from '../telemetry.ts';
import { FirewallTask } from '../firewall.ts';
import { sec, type Duty } from './context.ts';

export const firewall: Duty = async (d) => {
  const c = d.ctx.config;
  if (!c.bool('OS.EnableFirewall')) return [];
  const fw = new FirewallTask({
    runner: d.ctx.runner, root: d.ctx.root, endpoint: d.conn.host, self: d.ctx.self, flatcar: d.distro.family === 'flatcar',
    onRepair: (what) => d.events.push(agentOperationEvent('ResetFirewall', true, `firewall rules ${what}`)),
    onFailure: (message) => d.events.push(agentOperationEvent('Firewall', false, message)),
  });
  d.hooks.agentProblem = () => fw.problem;
  await fw.init();
  const period = sec(c.int('OS.EnableFirewallPeriod'));
  return [{ name: 'EnableFirewall', periodMs: period, initialDelayMs: period, run: () => fw.run() }];
};
