// -collect-logs [-full]: collect into <Lib.Dir>/logcollector/logs.zip; exit 0 ok, 1 failed; 2/4 only
// when the agent started us and our cgroup is not the one it set up (cgroup.ts).
import type { Invocation } from '../util/invocation.ts';
import { EXIT } from '../util/exit.ts';
import { OpenSsl } from '../crypto/openssl.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import { collectLogs } from './collect.ts';
import { checkLogCollectorCgroup, MONITOR_ENV } from './cgroup.ts';

export async function runCollectLogs(ctx: Invocation): Promise<number> {
  const libDir = ctx.config.str('Lib.Dir');
  const outDir = `${libDir}/logcollector`;
  log.info(`Running log collector mode ${ctx.args.flags.full ? 'full' : 'normal'}`);
  if (process.env[MONITOR_ENV]) {
    const c = await checkLogCollectorCgroup();
    if (!c.ok) {
      log.error(`Log collection not started: ${c.reason}`);
      return c.exitCode!;
    }
  }
  try {
    const r = await collectLogs({
      full: ctx.args.flags.full,
      vars: { libDir, logDir: ctx.config.str('Extension.LogDir') },
      runner: ctx.runner,
      outDir,
      openssl: new OpenSsl(ctx.config.str('OS.OpensslPath') || 'openssl', ctx.runner),
    });
    log.info(`Log collection successfully completed. Archive can be found at ${r.archive} and detailed log output can be found at ${r.results}`);
    return EXIT.OK;
  } catch (e) {
    log.error(`Log collection failed: ${errorText(e)}. Detailed log output can be found at ${outDir}/results.txt`);
    return EXIT.FAILURE;
  }
}
