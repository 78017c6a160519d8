// Every 30 minutes (2.15 monitor): the HeartBeat event (with the goal-state error count since the last one),
// and the HttpErrors event counting failed platform requests.
import { heartbeat as heartbeatRun, networkErrors as networkErrorsRun } from '../monitor.ts';
import type { Duty } from './context.ts';

const HALF_HOUR_MS = 30 * 60_000;

export const heartbeat: Duty = (d) => [
  { name: 'HeartBeat', periodMs: d.monitorPeriodMs ?? HALF_HOUR_MS, run: heartbeatRun({ event: d.event, updateGsErrors: () => d.gsErrors.takeForHeartbeat() }) },
];

export const networkErrors: Duty = (d) => {
  const p = d.monitorPeriodMs ?? HALF_HOUR_MS;
  return [{ name: 'ReportNetworkErrors', periodMs: p, initialDelayMs: p, run: networkErrorsRun(d.event) }];
};
