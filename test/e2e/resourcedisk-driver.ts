// Runs activateResourceDisk once with the real defaults of a machine (root '/', real commands,
// real /proc) and prints {result, commands} as JSON on stdout; log lines go to stderr. Used by
// resourcedisk-box.test.ts inside the VM-in-a-box: argv[2] is the config as JSON.
import { realRunner } from '../../src/util/exec.ts';
import type { ExecOptions, ExecResult, Runner } from '../../src/util/exec.ts';
import { Logger, StreamAppender } from '../../src/util/logger.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { activateResourceDisk } from '../../src/resourcedisk/index.ts';
import type { ResourceDiskConfig } from '../../src/resourcedisk/index.ts';

const commands: string[][] = [];
const runner: Runner = {
  run(argv: string[], opts?: ExecOptions): Promise<ExecResult> { commands.push(argv); return realRunner.run(argv, opts); },
};
const log = new Logger();
log.appenders.push(new StreamAppender(2, 'VERBOSE'));
const config = JSON.parse(process.argv[2] ?? '{}') as ResourceDiskConfig;
activateResourceDisk({ root: new Sysroot('/'), runner, log, config }).then((result) => {
  process.stdout.write(JSON.stringify({ result, commands }) + '\n');
}, (e: unknown) => {
  process.stderr.write(`driver: ${String(e)}\n`);
  process.exitCode = 1;
});
