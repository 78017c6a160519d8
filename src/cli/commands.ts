// The command registry: every command of the command line -> how it is started (configuration,
// logging) and its async handler returning the exit code.
//
// A feature is plugged in with one line,
// `feature(() => import('../agent/daemon.ts'), (m) => m.runDaemon, opts)`. The dynamic import keeps
// the feature (and undici) out of start-up for every other command: in the bundle the module's
// code only runs when its handler does.
import type { Invocation } from '../util/invocation.ts';
import type { CommandName, ParsedArgs } from './args.ts';
import { EXIT } from '../util/exit.ts';

/** The Invocation features receive, plus what only the face layer needs. */
export interface CommandContext extends Invocation {
  command: CommandName;
  args: ParsedArgs;
  /** How the user invoked us (for the usage line). */
  argv0: string;
  /** The registry in use. */
  registry: Registry;
}

export type Handler = (ctx: CommandContext) => Promise<number>;

export interface CommandOptions {
  /** Log thread name (waagent: MainThread for CLI commands, Daemon, ExtHandler...). */
  thread?: string;
  /** Process-wide log prefix (Daemon, ExtHandler, LogCollector, Firewall), none for others. */
  prefix?: string;
  /** Echo log lines to /dev/console until provisioned (Logs.Console), like waagent's daemon. */
  console?: boolean;
}

export interface CommandSpec extends CommandOptions {
  /**
   * 'required': load waagent.conf (missing file = exit 2) and log to /var/log/waagent.log.
   * 'optional': use it if present, built-in defaults otherwise; no log file.
   * 'none': never read it (-version must work with nothing installed).
   */
  config: 'required' | 'optional' | 'none';
  /** Terminal log lines: 'stdout' for log-style commands (waagent), 'stderr' when stdout is the answer. */
  logTo: 'stdout' | 'stderr';
  run: Handler;
}

export type Registry = Record<CommandName, CommandSpec>;

/** A command whose feature is loaded on demand. */
export function feature<M>(load: () => Promise<M>, pick: (m: M) => Handler, opts: CommandOptions = {}): CommandSpec {
  return { config: 'required', logTo: 'stdout', ...opts, run: async (ctx) => pick(await load())(ctx) };
}

/** A built-in command of the face layer itself. */
function builtin(config: CommandSpec['config'], run: Handler): CommandSpec {
  return { config, logTo: 'stderr', run };
}

export const COMMANDS: Registry = {
  'help': builtin('none', async (ctx) => {
    const { usageText } = await import('./usage.ts');
    ctx.io.out(usageText(ctx.argv0));
    return EXIT.OK;
  }),
  'version': builtin('none', async (ctx) => {
    const { versionText } = await import('./version.ts');
    ctx.io.out(versionText());
    return EXIT.OK;
  }),
  // Without /etc/waagent.conf this shows the built-in defaults (a note goes to stderr); a file
  // named by -configuration-path must exist.
  'show-configuration': builtin('optional', async (ctx) => {
    const { showConfigText } = await import('./showConfig.ts');
    if (ctx.config.source === undefined) ctx.io.err(`note: ${ctx.configPath} does not exist; showing built-in defaults\n`);
    ctx.io.out(showConfigText(ctx.config));
    return EXIT.OK;
  }),
  'start': { ...builtin('none', async (ctx) => (await import('./start.ts')).runStart(ctx)), logTo: 'stdout' },
  'daemon': feature(() => import('../agent/daemon.ts'), (m) => m.runDaemon, { thread: 'Daemon', prefix: 'Daemon', console: true }),
  'run-exthandlers': feature(() => import('../agent/daemon.ts'), (m) => m.runExtHandlers, { thread: 'ExtHandler', prefix: 'ExtHandler' }),
  'provision': feature(() => import('../provision/command.ts'), (m) => m.runProvision, { thread: 'Provision', prefix: 'Provision', console: true }),
  'deprovision': { ...feature(() => import('../deprovision/command.ts'), (m) => m.runDeprovision), config: 'optional' },
  'deprovision+user': { ...feature(() => import('../deprovision/command.ts'), (m) => m.runDeprovision), config: 'optional' },
  'register-service': { ...feature(() => import('../agent/service.ts'), (m) => m.runRegisterService), config: 'optional' },
  'collect-logs': feature(() => import('../logcollector/command.ts'), (m) => m.runCollectLogs, { prefix: 'LogCollector' }),
  'setup-firewall': { ...feature(() => import('../agent/service.ts'), (m) => m.runSetupFirewall, { thread: 'Firewall', prefix: 'Firewall' }), config: 'optional' },
  'serialconsole': { ...feature(() => import('../agent/serialconsole.ts'), (m) => m.runSerialConsole), config: 'optional' },
};
