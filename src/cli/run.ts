// argv -> exit code: parse, pick the command, load waagent.conf and wire logging as waagent's Agent
// constructor does (docs/os.md §3.1), run the handler, and turn every failure into a logged error and a
// non-zero exit code. In-process and injectable, so tests run it without spawning.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, DEFAULT_CONFIG_PATH, defaultConfig, loadConfig } from '../config/config.ts';
import { inertKeyWarnings } from '../config/inert.ts';
import type { Config } from '../config/config.ts';
import { realRunner } from '../util/exec.ts';
import type { Runner } from '../util/exec.ts';
import { DeviceAppender, FileAppender, log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import type { Appender, Level } from '../util/logger.ts';
import { Sysroot, hostRoot } from '../util/sysroot.ts';
import { parseArgs } from './args.ts';
import { COMMANDS } from './commands.ts';
import type { CommandContext, Registry } from './commands.ts';
import { EXIT } from '../util/exit.ts';
import { stdio } from '../util/output.ts';
import type { Output } from '../util/output.ts';

/** Fixed like waagent's (not configurable; the legacy Logs.File key is ignored). */
export const LOG_FILE = '/var/log/waagent.log';
export const CONSOLE_DEVICE = '/dev/console';

export interface RunOptions {
  io?: Output;
  argv0?: string;
  self?: string[];
  registry?: Registry;
  runner?: Runner;
  defaultConfigPath?: string;
  logFile?: string;
  consoleDevice?: string;
}

/** Terminal log lines through the EPIPE-safe output. */
export class OutputAppender implements Appender {
  level: Level;
  private readonly write_: (t: string) => void;
  constructor(write: (t: string) => void, level: Level) { this.write_ = write; this.level = level; }
  write(line: string): void { this.write_(line); }
}

export async function runCli(argv: string[], opts: RunOptions = {}): Promise<number> {
  const io = opts.io ?? stdio;
  const registry = opts.registry ?? COMMANDS;
  const argv0 = opts.argv0 ?? 'waagent';
  const args = parseArgs(argv);

  if (args.errors.length) {
    for (const e of args.errors) io.err(`${argv0}: ${e}\n`);
    const { usageText } = await import('./usage.ts');
    io.out(usageText(argv0));
    return EXIT.USAGE;
  }

  const spec = registry[args.command];
  const verbose = args.flags.verbose;
  log.thread = spec.thread ?? 'MainThread';
  log.prefix = spec.prefix ?? '';
  // 1. terminal appender (stdout for log-style commands like waagent; stderr where stdout is the answer)
  const termLevel: Level = verbose ? 'VERBOSE' : spec.logTo === 'stdout' ? 'INFO' : 'WARNING';
  const term = new OutputAppender(spec.logTo === 'stdout' ? (t) => io.out(t) : (t) => io.err(t), termLevel);
  log.appenders = [term];

  // 2. configuration
  const configPath = args.configPath ?? opts.defaultConfigPath ?? DEFAULT_CONFIG_PATH;
  let config: Config = defaultConfig();
  const warnings: string[] = [];
  if (spec.config !== 'none') {
    try {
      config = loadConfig(configPath, {
        onWarning: (m) => warnings.push(m),
        // A file named on the command line must exist; the default one only for commands that need it.
        required: spec.config === 'required' || args.configPath !== undefined,
      });
    } catch (e) {
      if (!(e instanceof ConfigError)) throw e;
      const hint = args.configPath === undefined ? ' (or name one with -configuration-path:PATH)' : '';
      io.err(`${argv0}: ${e.message}${hint}\n`);
      return EXIT.USAGE;
    }
  }

  // 3. the log file, for commands that run with a configuration (VERBOSE with -verbose or Logs.Verbose)
  if (spec.config === 'required') {
    const fileLevel: Level = verbose || config.bool('Logs.Verbose') ? 'VERBOSE' : 'INFO';
    log.appenders.push(new FileAppender(opts.logFile ?? LOG_FILE, fileLevel));
    // 4. /dev/console until provisioned, as waagent's daemon does; the daemon removes it later
    //    with log.removeAppenders((a) => a instanceof DeviceAppender).
    if (spec.console && config.bool('Logs.Console') && !existsSync(join(config.str('Lib.Dir'), 'provisioned'))) {
      log.appenders.push(new DeviceAppender(opts.consoleDevice ?? CONSOLE_DEVICE, fileLevel));
    }
  }
  // Keys known but not acted upon: one warning each at start, where the agent runs with its configuration.
  if (spec.config === 'required') warnings.push(...inertKeyWarnings(config));
  for (const w of warnings) log.warn(w);

  let root: Sysroot = hostRoot;
  if (args.root !== undefined) {
    let ok = false;
    try { ok = statSync(args.root).isDirectory(); } catch { /* reported below */ }
    if (!ok) { io.err(`${argv0}: -root:${args.root} is not a directory\n`); return EXIT.USAGE; }
    root = new Sysroot(args.root);
  }

  const ctx: CommandContext = {
    command: args.command, args, config, configPath, root,
    runner: opts.runner ?? realRunner, io, argv0,
    self: opts.self ?? selfArgv(), registry,
  };
  try {
    return await spec.run(ctx);
  } catch (e) {
    // ERROR is above every terminal level, so the user sees it as well as the log file.
    log.error(`Failed to run '${args.command}': ${errorText(e)}`);
    return EXIT.FAILURE;
  }
}

/** argv that re-executes this agent. In the SEA binary argv[1] repeats the binary; from source it is main.ts. */
export function selfArgv(): string[] {
  const script = process.argv[1];
  if (!script || script === process.execPath || !/\.(ts|js|cjs|mjs)$/.test(script)) return [process.execPath];
  return [process.execPath, script];
}
