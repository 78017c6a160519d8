// npm run fabric -- SCENARIO [--box] [--control SOCK] [--record FILE] [--workdir DIR] [--ovf FILE] [--extensions DIR]
// Runs the simulator until SIGTERM/SIGINT; prints its URLs, and on stop a per-endpoint summary.
import mri from 'mri';
import { resolve } from 'node:path';
import { writeFileAtomic } from '../../src/util/atomic.ts';
import { startFabric } from './server.ts';

const USAGE = 'usage: npm run fabric -- SCENARIO.json [--box] [--control SOCK] [--record FILE] [--workdir DIR] [--ovf FILE] [--extensions DIR]';

async function main(): Promise<number> {
  const args = mri(process.argv.slice(2), { boolean: ['box', 'help'], string: ['control', 'record', 'workdir', 'ovf', 'extensions'] });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const file = args._[0];
  if (!file || args._.length > 1) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  const opts: Parameters<typeof startFabric>[0] = { scenario: resolve(String(file)), bind: args.box ? 'box' : 'loopback', quiet: true };
  if (args.control) opts.controlSocket = resolve(args.control as string);
  if (args.record) opts.recordFile = resolve(args.record as string);
  if (args.workdir) opts.workDir = resolve(args.workdir as string);
  if (args.extensions) opts.extensionsDir = resolve(args.extensions as string);
  const fabric = await startFabric(opts);
  if (args.ovf) writeFileAtomic(resolve(args.ovf as string), fabric.ovfEnv(), { mode: 0o600 });
  process.stdout.write(`fabric: scenario ${fabric.scenario().name}, incarnation ${fabric.incarnation()}\n`);
  for (const [k, v] of Object.entries(fabric.urls)) process.stdout.write(`fabric: ${k} ${v}\n`);
  if (opts.controlSocket) process.stdout.write(`fabric: control ${opts.controlSocket}\n`);
  process.stdout.write('fabric: ready\n');
  await new Promise<void>((done) => {
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
  await fabric.close();
  for (const line of fabric.summary()) process.stdout.write(`fabric: ${line}\n`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`fabric: ${(e as Error).message}\n`);
  process.exitCode = 1;
});
