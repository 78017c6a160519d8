// -start: launch `<self> -daemon [-configuration-path:P]` in the background and return at once
// (waagent: output to /dev/null, no wait). We also detach it into its own session so closing the
// terminal that ran -start does not take the daemon down.
import type { CommandContext } from './commands.ts';
import { EXIT } from '../util/exit.ts';
import { childProcess } from '../util/builtins.ts';

export function daemonArgv(self: string[], configPath: string | undefined): string[] {
  return [...self, '-daemon', ...(configPath !== undefined ? [`-configuration-path:${configPath}`] : [])];
}

export async function runStart(ctx: CommandContext): Promise<number> {
  const argv = daemonArgv(ctx.self, ctx.args.configPath);
  const pid = await new Promise<number>((resolve, reject) => {
    const child = childProcess().spawn(argv[0]!, argv.slice(1), { detached: true, stdio: 'ignore', cwd: '/' });
    child.once('error', reject);
    child.once('spawn', () => { child.unref(); resolve(child.pid ?? -1); });
  });
  ctx.io.err(`started ${argv.join(' ')} (pid ${pid})\n`);
  return EXIT.OK;
}
