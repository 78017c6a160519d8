// Provisioning.MonitorHostName, every Provisioning.MonitorHostNamePeriod: a changed hostname is set and
// published again (§6.5).
import { hostnameChore } from '../chores.ts';
import { sec, type Duty } from './context.ts';

export const hostnameMonitor: Duty = (d) => {
  const c = d.ctx.config;
  if (!c.bool('Provisioning.MonitorHostName')) return [];
  return [{
    name: 'MonitorHostNameChanges', periodMs: sec(c.int('Provisioning.MonitorHostNamePeriod')),
    run: hostnameChore({ root: d.ctx.root, runner: d.ctx.runner, libDir: c.str('Lib.Dir'), distro: d.distro }),
  }];
};
