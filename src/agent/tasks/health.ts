// Health heartbeats to the platform every minute (2.15 monitor): the HostGAPlugin's health and IMDS's,
// each posted to the WireServer's health service when it changes or every few minutes.
import { reportObservations, type Observation } from '../../platform/healthservice.ts';
import { ImdsClient } from '../../platform/imds.ts';
import { hostPluginHeartbeat, imdsHeartbeat, type HealthReporter } from '../monitor.ts';
import type { Duty, DutyContext } from './context.ts';

function reporter(d: DutyContext): HealthReporter {
  return { post: (obs: Observation[]) => reportObservations(d.conn.transport, d.protocol.wire.baseUrl, obs) };
}

export const hostPluginHealth: Duty = (d) => {
  const p = d.monitorPeriodMs ?? 60_000;
  return [{ name: 'SendHostPluginHeartbeat', periodMs: p, initialDelayMs: p, run: hostPluginHeartbeat({ health: () => d.protocol.hgap.health(), reporter: reporter(d), event: d.event }) }];
};

export const imdsHealth: Duty = (d) => {
  const p = d.monitorPeriodMs ?? 60_000;
  const imds = new ImdsClient({ transport: d.conn.transport });
  return [{ name: 'SendImdsHeartbeat', periodMs: p, initialDelayMs: p, run: imdsHeartbeat({ validate: () => imds.validate(), reporter: reporter(d), event: d.event }) }];
};
