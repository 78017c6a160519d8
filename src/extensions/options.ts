// The executor's options (what the agent composes from waagent.conf and the platform) and the launch
// options one handler command gets from them (docs/extensions.md §3.5).
import type { ExtensionSettings } from '../platform/types.ts';
import type { ArtifactSource } from './download.ts';
import type { HandlerLayout, LayoutRoots } from './layout.ts';
import { manifestCommand, type HandlerManifest, type Operation } from './manifest.ts';
import type { LaunchOptions } from './launcher.ts';
import type { PlanItem } from './plan.ts';
import type { ReadStatusOptions } from './statusFile.ts';
import type { GateOptions } from './policy/gate.ts';

/** `policy` / `signature` (GateOptions): extension allow-list policy and package signatures, off when absent. */
export interface ExecutorOptions extends GateOptions {
  roots: LayoutRoots;
  wireServer: string;
  artifacts: ArtifactSource;
  /** Extensions.Enabled (default true). */
  extensionsEnabled?: boolean;
  /** waagent.conf path named in the "extension processing is disabled" message. */
  confPath?: string;
  /** HttpProxy.Host/Port, exported to extension commands. */
  proxy?: { host: string; port: number };
  /**
   * CGroups.EnforceLimits: run commands in systemd scopes with the manifest's CPU quota; handlers named in
   * `excluded` (CGroups.Excluded) run plainly.
   */
  limits?: { enforce: boolean; excluded?: string[]; systemdMarker?: string; systemdRun?: string };
  baseEnv?: NodeJS.ProcessEnv;
  etp?: boolean;
  statusRead?: ReadStatusOptions;
  dependencyWaitMs?: number;
  dependencyPollMs?: number;
  /** Overall budget for one package download across URIs (5 minutes). */
  downloadBudgetMs?: number;
  /** Backoff of download-only retries after every URI and channel failed (default 1 min doubling to 30 min). */
  downloadRetry?: { firstMs?: number; maxMs?: number; random?: () => number };
  /**
   * Per-operation command timeouts in seconds (default §3.5: install/disable/update 900, enable/uninstall 300).
   * Only tests shorten them; the Python agent has no setting for this either.
   */
  operationTimeoutsSec?: Partial<Record<Operation, number>>;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** URI order (default: shuffled, as the Python agent does). Tests pass the identity. */
  shuffle?: <T>(items: T[]) => T[];
}

/** What launching `op` of an item's handler gets: its command, settings sequence, environment and limits. */
export function launchOptionsFor(o: ExecutorOptions, item: PlanItem, layout: HandlerLayout, manifest: HandlerManifest, op: Operation, settings: ExtensionSettings | null, extraEnv: Record<string, string>): LaunchOptions {
  const ext = item.handler.isMultiConfig && settings ? settings.name : undefined;
  return {
    layout, command: manifestCommand(manifest, op), operation: op, wireServer: o.wireServer,
    seqNo: settings ? settings.sequenceNumber : undefined, extensionName: ext, extraEnv,
    timeoutSec: o.operationTimeoutsSec?.[op],
    proxy: o.proxy, baseEnv: o.baseEnv, etp: o.etp,
    limits: o.limits ? {
      enforce: o.limits.enforce && !(o.limits.excluded ?? []).some((n) => n.toLowerCase() === item.handler.name.toLowerCase()),
      cpuQuotaPercentage: manifest.resourceLimits.cpuQuotaPercentage,
      sliceName: ext === undefined ? item.handler.name : `${item.handler.name}.${ext}`,
      systemdMarker: o.limits.systemdMarker, systemdRun: o.limits.systemdRun,
    } : undefined,
  };
}
