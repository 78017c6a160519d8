// What a feature's command entry point receives from the command line. The face layer (src/cli)
// builds it; it lives down here so that features never import the face layer (docs/architecture.md: lower
// layers never import higher ones).
import type { Config } from '../config/config.ts';
import type { Runner } from './exec.ts';
import type { Output } from './output.ts';
import type { Sysroot } from './sysroot.ts';

export interface InvocationFlags {
  verbose: boolean;
  force: boolean;
  full: boolean;
  debug: boolean;
  dryRun: boolean;
}

export interface Invocation {
  command: string;
  args: { flags: InvocationFlags; configPath?: string | undefined; firewallIp?: string | undefined; root?: string | undefined };
  /** Loaded waagent.conf (or built-in defaults for commands that do not need one). */
  config: Config;
  /** The configuration file path in effect (forwarded to re-executed children). */
  configPath: string;
  /** The system to act on: / normally, the -root:PATH mount for a rescue deprovision. */
  root: Sysroot;
  runner: Runner;
  io: Output;
  /** argv that re-executes this agent: the SEA binary alone, or node + main.ts from source. */
  self: string[];
}
