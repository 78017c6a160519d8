// OS.RootDeviceScsiTimeout (when set), every OS.RootDeviceScsiTimeoutPeriod: the SCSI timeout of the disks.
import { scsiChore } from '../chores.ts';
import { sec, type Duty } from './context.ts';

export const scsiTimeout: Duty = (d) => {
  const c = d.ctx.config;
  const value = c.str('OS.RootDeviceScsiTimeout');
  if (!value) return [];
  return [{ name: 'SetRootDeviceScsiTimeout', periodMs: sec(c.int('OS.RootDeviceScsiTimeoutPeriod')), run: scsiChore(d.ctx.root, value) }];
};
