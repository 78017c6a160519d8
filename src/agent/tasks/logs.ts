// Logs.Collect, every Logs.CollectPeriod (first after Debug.LogCollectorInitialDelay): the log collector runs
// as a child of this agent and its zip goes to the HostGAPlugin.
import { systemdRunning } from '../../os/service.ts';
import { cgroupV2Mounted } from '../../os/cgroup.ts';
import { collectAfterBurst } from '../../util/memory.ts';
import { LogCollectTask } from '../logcollect.ts';
import { sec, type Duty } from './context.ts';

export const collectLogs: Duty = (d) => {
  const c = d.ctx.config;
  if (!c.bool('Logs.Collect')) return [];
  const root = d.ctx.root;
  const task = new LogCollectTask({
    runner: d.ctx.runner, self: d.ctx.self, libDir: d.libDir, systemd: systemdRunning(root), cgroupV2: cgroupV2Mounted(root),
    ...(d.ctx.args.configPath ? { configPath: d.ctx.args.configPath } : {}),
    upload: (zip) => d.protocol.withRefresh(() => d.protocol.hgap.putAgentLog(zip)),
  });
  return [{
    name: 'CollectLogs', periodMs: sec(c.int('Logs.CollectPeriod')), initialDelayMs: sec(c.int('Debug.LogCollectorInitialDelay')),
    run: async () => { try { await task.run(); } finally { collectAfterBurst(); } },
  }];
};
