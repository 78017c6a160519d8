// Debug.CgroupCheckPeriod: the agent's resource usage (hourly metrics; Debug.CgroupLogMetrics logs them) and,
// with Debug.EnableAgentMemoryUsageCheck, its memory against Debug.AgentMemoryQuota (exit 1 above it).
import { log } from '../../util/logger.ts';
import { systemdRunning } from '../../os/service.ts';
import { ResourceUsage, usageTask } from '../usage.ts';
import type { Duty } from './context.ts';

export const resourceUsage: Duty = (d) => {
  const c = d.ctx.config;
  const seam = d.monitorPeriodMs;
  const usage = new ResourceUsage({ root: d.ctx.root, emit: (e) => d.events.push(e), logMetrics: c.bool('Debug.CgroupLogMetrics'), ...(seam ? { hourMs: seam } : {}) });
  const checkMs = seam ?? Math.max(1, c.int('Debug.CgroupCheckPeriod')) * 1000;
  if (!systemdRunning(d.ctx.root)) {
    log.info('systemd is not running: Debug.AgentCpuQuota is not applied (it is the CPUQuota of the waagent.service unit) and the log collector runs without its cgroup limits; Debug.EnableAgentMemoryUsageCheck needs a cgroup with memory accounting');
  }
  return [{
    name: 'PollResourceUsage', periodMs: checkMs, initialDelayMs: checkMs,
    run: usageTask({
      usage, check: c.bool('Debug.EnableAgentMemoryUsageCheck'), quotaBytes: c.int('Debug.AgentMemoryQuota'),
      converged: () => d.summary.converged, event: d.event, exit: d.exit,
    }),
  }];
};
