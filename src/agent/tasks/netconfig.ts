// Network configuration (NICs, links, addresses): logged once a minute after start, then once a day, or
// watched every minute when Monitor.NetworkConfigurationChanges says so.
import { networkConfigurationTask } from '../netconfig.ts';
import type { Duty } from './context.ts';

export const networkConfiguration: Duty = (d) => {
  const watch = d.ctx.config.bool('Monitor.NetworkConfigurationChanges');
  const p = d.monitorPeriodMs ?? 60_000;
  return [{ name: 'ReportNetworkConfigurationChanges', periodMs: watch ? p : 24 * 3600_000, initialDelayMs: p, run: networkConfigurationTask(d.ctx.root, watch) }];
};
