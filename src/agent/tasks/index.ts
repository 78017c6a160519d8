// The daemon's periodic duties, in the order they are set up (the firewall's rules are in place before the
// first goal state). Adding a duty: one module in this directory exporting a `Duty`, and one line here.
import type { Duty } from './context.ts';
import { firewall } from './firewall.ts';
import { hostPluginHealth, imdsHealth } from './health.ts';
import { heartbeat, networkErrors } from './heartbeat.ts';
import { resourceUsage } from './usage.ts';
import { networkConfiguration } from './netconfig.ts';
import { goalState } from './goalstate.ts';
import { netRules } from './netrules.ts';
import { dhcpRestart } from './dhcp.ts';
import { scsiTimeout } from './scsi.ts';
import { hostnameMonitor } from './hostname.ts';
import { sendTelemetry } from './telemetry.ts';
import { collectLogs } from './logs.ts';

export const DUTIES: readonly Duty[] = [
  firewall,
  hostPluginHealth,
  imdsHealth,
  networkErrors,
  heartbeat,
  resourceUsage,
  networkConfiguration,
  goalState,
  netRules,
  dhcpRestart,
  scsiTimeout,
  hostnameMonitor,
  sendTelemetry,
  collectLogs,
];
