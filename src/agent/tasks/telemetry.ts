// Debug.EtpCollectionPeriod: events (the agent's queue, the spool, extension event files) sent to the
// WireServer; the first run after at most a minute.
import { log } from '../../util/logger.ts';
import { defaultOsVersion, sendEventsOnce } from '../telemetry.ts';
import { sec, type Duty } from './context.ts';

export const sendTelemetry: Duty = (d) => {
  const period = sec(d.ctx.config.int('Debug.EtpCollectionPeriod'));
  const wire = d.protocol.wire;
  return [{
    name: 'SendTelemetry', periodMs: period, initialDelayMs: Math.min(60_000, period),
    run: async () => {
      const r = await sendEventsOnce({
        libDir: d.libDir, extLogDir: d.extLogDir, sender: wire, queue: d.events,
        common: { containerId: () => wire.current?.containerId ?? '', osVersion: defaultOsVersion(d.distro.os), roleInstanceName: () => wire.current?.instanceId },
      });
      if (r.collected) log.verbose(`telemetry: ${r.sent} of ${r.collected} events sent`);
    },
  }];
};
