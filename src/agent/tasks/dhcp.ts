// OS.MonitorDhcpClientRestartPeriod: the route to the WireServer restored after a DHCP client restart (§6.4).
import { dhcpChore } from '../chores.ts';
import { sec, type Duty } from './context.ts';

export const dhcpRestart: Duty = (d) => [
  { name: 'MonitorDhcpClientRestart', periodMs: sec(d.ctx.config.int('OS.MonitorDhcpClientRestartPeriod')), run: dhcpChore(d.ctx.root, d.ctx.runner, d.conn.endpoint) },
];
