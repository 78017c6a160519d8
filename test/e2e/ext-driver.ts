// Stand-in for `waagent -run-exthandlers` inside the VM-in-a-box, until the daemon's goal-state loop
// exists in the binary (and afterwards for what the binary cannot be told: shortened command timeouts).
// It does what that loop does, with the agent's real defaults (inside the sandbox: WireServer 168.63.129.16, Lib.Dir
// /var/lib/waagent, /var/log/azure): start-up tasks, then every period poll the goal state, process a
// new extensions goal state with ExtensionsExecutor, and upload the aggregate status every pass.
// One JSON line per event on stdout ({event: 'processed'|'reported', id, ...}); log lines on stderr.
// argv[2]: DriverConfig as JSON. It refuses to run outside a network namespace that has only `lo`.
import { mkdirSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { AzureProtocol } from '../../src/platform/protocol.ts';
import { HttpClient } from '../../src/platform/http.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { ExtensionsExecutor } from '../../src/extensions/executor.ts';
import { platformArtifactSource } from '../../src/extensions/artifacts.ts';
import { aggregateStatusJson, crpSupportedFeatures, type GoalStateAggregate } from '../../src/extensions/aggregate.ts';
import { extensionHandlerStartup } from '../../src/extensions/startup.ts';
import { DEFAULT_EXT_LOG_DIR, DEFAULT_LIB_DIR } from '../../src/extensions/layout.ts';
import type { Operation } from '../../src/extensions/manifest.ts';
import type { ExtensionsGoalState } from '../../src/platform/types.ts';
import { log, StreamAppender } from '../../src/util/logger.ts';
import { errorText } from '../../src/util/errors.ts';

export interface DriverConfig {
  /** Goal-state period (Extensions.GoalStatePeriod; the agent's default is 6 s). Default 300 ms. */
  periodMs?: number;
  /** Stop after this long whatever happens (bounded test runs). Default 300 s. */
  maxSeconds?: number;
  /** Debug.EnableFastTrack (default true). */
  fastTrack?: boolean;
  /** Extensions.Enabled (default true). */
  extensionsEnabled?: boolean;
  operationTimeoutsSec?: Partial<Record<Operation, number>>;
  /** Dependency wait (90 min by default). */
  dependencyWaitMs?: number;
  /** HttpProxy.Host/Port: storage traffic goes through it, the platform endpoints never; extensions get it. */
  proxy?: { host: string; port: number };
  /** CGroups.EnforceLimits (default true, as the agent's). */
  enforceLimits?: boolean;
  /** Debug.EnableExtensionPolicy (policy at /etc/waagent_policy.json) and Debug.EnableSignatureValidation. */
  extensionPolicy?: boolean;
  signatureValidation?: boolean;
}

const WIRE = '168.63.129.16'; // inside the sandbox netns only

function emit(o: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(o)}\n`);
}

async function main(): Promise<number> {
  const nets = readdirSync('/sys/class/net');
  if (nets.length !== 1 || nets[0] !== 'lo') {
    process.stderr.write(`ext-driver: refusing to run: network interfaces ${nets.join(',')} (only inside the VM-in-a-box)\n`);
    return 2;
  }
  const cfg = JSON.parse(process.argv[2] ?? '{}') as DriverConfig;
  log.appenders.push(new StreamAppender(2, 'VERBOSE'));
  const roots = { libDir: DEFAULT_LIB_DIR, extLogDir: DEFAULT_EXT_LOG_DIR };
  // The agent makes its state dir on start (provisioning normally has, on a real VM).
  mkdirSync(roots.libDir, { recursive: true, mode: 0o700 });
  const http = new HttpClient({ env: {}, ...(cfg.proxy ? { proxy: cfg.proxy } : {}), directHosts: [WIRE] });
  const protocol = new AzureProtocol({ endpoint: WIRE, libDir: roots.libDir, transport: http, openssl: new OpenSsl(), fastTrack: cfg.fastTrack ?? true });
  let current: ExtensionsGoalState | null = null;
  const executor = new ExtensionsExecutor({
    roots, wireServer: WIRE,
    artifacts: platformArtifactSource(protocol.artifacts, { fastTrack: () => current?.source === 'FastTrack' }),
    extensionsEnabled: cfg.extensionsEnabled ?? true,
    operationTimeoutsSec: cfg.operationTimeoutsSec,
    dependencyWaitMs: cfg.dependencyWaitMs,
    limits: { enforce: cfg.enforceLimits ?? true },
    ...(cfg.proxy ? { proxy: cfg.proxy } : {}),
    statusRead: { retryDelayMs: 100 },
    policy: { enabled: cfg.extensionPolicy ?? false, path: '/etc/waagent_policy.json', displayPath: '/etc/waagent_policy.json' },
    signature: { enabled: cfg.signatureValidation ?? false, openssl: new OpenSsl(), libDir: roots.libDir },
  });
  let stop = false;
  process.once('SIGTERM', () => { stop = true; });
  const end = Date.now() + (cfg.maxSeconds ?? 300) * 1000;
  extensionHandlerStartup(roots);
  let poll = await protocol.detect();
  let agg: GoalStateAggregate | null = null;
  let first = true;
  try {
    while (!stop && Date.now() < end) {
      const egs = poll.extensions;
      if (first || poll.extensionsChanged) {
        first = false;
        current = egs;
        agg = await executor.process(egs);
        emit({ event: 'processed', id: egs.id, source: egs.source, status: agg.status, code: agg.code });
      }
      const reports = await executor.report(egs);
      const blob = aggregateStatusJson({
        handlers: reports, goalState: agg, guestOS: { computerName: hostname(), osName: 'box', osVersion: '1' },
        features: crpSupportedFeatures({ fastTrack: poll.fastTrackSupported }),
      });
      const outcome = await protocol.uploadStatus(blob);
      emit({ event: 'reported', id: egs.id, ok: outcome.ok, handlers: reports.length });
      await delay(cfg.periodMs ?? 300);
      try {
        poll = await protocol.poll();
      } catch (e) {
        log.warn(`goal state poll: ${errorText(e)}`);
      }
    }
  } finally {
    await http.close();
  }
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`ext-driver: ${errorText(e)}\n`);
  process.exitCode = 1;
});
