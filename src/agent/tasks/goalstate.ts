// The goal-state loop (docs/extensions.md §6): every Extensions.GoalStatePeriod (Extensions.InitialGoalStatePeriod
// until the first goal state on this VM converged; every 5 minutes, reporting only, with Extensions.Enabled=n)
// the goal state is fetched, extensions processed and status reported; then JIT remote access; the endpoint is
// saved after the first cycle.
import { keyDef } from '../../config/keys.ts';
import { errorText, log } from '../../util/logger.ts';
import { saveEndpoint } from '../../platform/endpoint.ts';
import { currentHostname } from '../../os/hostname.ts';
import { ExtensionsExecutor } from '../../extensions/executor.ts';
import { platformArtifactSource } from '../../extensions/artifacts.ts';
import { extensionHandlerStartup, waitForCloudInit } from '../../extensions/startup.ts';
import { GoalStateLoop } from '../loop.ts';
import { GoalStateHistory } from '../history.ts';
import { remoteAccessRun } from './remoteaccess.ts';
import { sec, type Duty } from './context.ts';

/** Extensions.Enabled=n: the loop only reports, every 5 minutes (docs/extensions.md §6.3). */
export const DISABLED_PERIOD_MS = 300_000;

export const goalState: Duty = (d) => {
  const c = d.ctx.config;
  const { libDir, protocol, scheduler } = d;
  const roots = { libDir, extLogDir: d.extLogDir };
  extensionHandlerStartup(roots);
  const enabled = c.bool('Extensions.Enabled');
  const fastTrack = c.bool('Debug.EnableFastTrack');
  const proxyHost = c.str('HttpProxy.Host');
  const proxyPort = c.int('HttpProxy.Port');
  const excluded = (c.str('CGroups.Excluded') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const history = new GoalStateHistory(libDir);
  const policyPath = c.str('Policy.PolicyFilePath') || String(keyDef('Policy.PolicyFilePath').default);
  const period = enabled ? sec(c.int('Extensions.GoalStatePeriod')) : DISABLED_PERIOD_MS;
  d.hooks.initialCompleted = () => {
    if (!enabled || scheduler.period('ProcessGoalState') === period) return;
    scheduler.setPeriod('ProcessGoalState', period);
    log.info(`Initial goal state completed, switched the goal state period to ${period / 1000}`);
  };
  let loop: GoalStateLoop | null = null;
  const executor = new ExtensionsExecutor({
    roots, wireServer: d.conn.host, extensionsEnabled: enabled, confPath: d.ctx.configPath,
    artifacts: platformArtifactSource(protocol.artifacts, { fastTrack: () => loop?.extensionsGoalState?.source === 'FastTrack' }),
    ...(proxyHost && proxyPort !== undefined ? { proxy: { host: proxyHost, port: proxyPort } } : {}),
    limits: { enforce: c.bool('CGroups.EnforceLimits'), excluded },
    policy: { enabled: c.bool('Debug.EnableExtensionPolicy'), path: d.ctx.root.path(policyPath), displayPath: policyPath, saveToHistory: (t) => history.save('waagent_policy.json', t) },
    signature: { enabled: c.bool('Debug.EnableSignatureValidation'), openssl: d.conn.openssl, libDir },
    onEvent: d.event,
  });
  const l = new GoalStateLoop({
    protocol, executor, fastTrack,
    history,
    honourOnHold: c.bool('EnableOverProvisioning'),
    guestOS: () => ({ computerName: currentHostname(), osName: d.distro.os.id, osVersion: d.distro.os.versionId }),
    onNewGoalState: (id) => d.summary.newGoalState(id),
    onReport: (handlers) => d.summary.reported(handlers),
    beforeFirstProcess: c.bool('Extensions.WaitForCloudInit') ? async () => { await waitForCloudInit(d.ctx.runner, c.int('Extensions.WaitForCloudInitTimeout')); } : undefined,
    agentProblem: () => d.hooks.agentProblem(),
  });
  loop = l;
  // 2.15: Extensions.InitialGoalStatePeriod until the first goal state on this VM converged (marker file).
  const firstPeriod = enabled && d.summary.isInitial ? sec(c.int('Extensions.InitialGoalStatePeriod')) : period;
  log.info(`Goal State Period: ${firstPeriod / 1000} sec. This indicates how often the agent checks for new goal states and reports status.`);
  if (!enabled) log.info(`Extensions.Enabled=n: extensions are not processed; status is reported every ${DISABLED_PERIOD_MS / 1000} s`);
  // 2.15: remote access (JIT users) after the status report, on each new incarnation.
  const remoteAccess = remoteAccessRun(d);
  let savedEndpoint = false;
  return [{
    name: 'ProcessGoalState', periodMs: firstPeriod, maxBackoffMs: 60_000,
    run: async () => {
      const failures = l.stats.pollFailures;
      try {
        await l.cycle();
      } catch (e) {
        if (l.stats.pollFailures > failures) d.gsErrors.failed(e);
        throw e;
      } finally {
        if (l.stats.pollFailures === failures) d.gsErrors.succeeded(`incarnation ${protocol.wire.current?.incarnation ?? '?'}`);
        await remoteAccess();
      }
      if (!savedEndpoint) { savedEndpoint = true; try { saveEndpoint(libDir, d.conn.endpoint); } catch (e) { log.warn(`saving the endpoint: ${errorText(e)}`); } }
    },
  }];
};
