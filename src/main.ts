// Entry point of dist/waagent. Everything of substance is in cli/run.ts; here only the process
// guards a root daemon needs: a closed stdout/stderr pipe (EPIPE) ends output quietly, and an
// unhandled rejection or exception is logged and exits 1 instead of dumping a stack.
import { writeFd } from './util/output.ts';
import { log } from './util/logger.ts';
import { errorText } from './util/errors.ts';
import { isVersionOnly } from './cli/version.ts';

function fatal(kind: string, e: unknown): void {
  const msg = `${kind}: ${errorText(e)}`;
  try { log.error(msg); } catch { /* logging must not recurse into another failure */ }
  if (log.appenders.length === 0) writeFd(2, `waagent: ${msg}\n`);
  process.exit(1);
}

for (const s of [process.stdout, process.stderr]) {
  // Only reached if something writes through the stream objects (console.*): our own output uses
  // writeFd, which already drops a closed pipe.
  s.on('error', (e: NodeJS.ErrnoException) => { if (e.code !== 'EPIPE') fatal('output error', e); });
}
process.on('unhandledRejection', (e) => fatal('unhandled rejection', e));
process.on('uncaughtException', (e) => fatal('uncaught exception', e));

// In the SEA binary argv[1] repeats the executable; from source it is this file.
const argv = process.argv.slice(2);
if (isVersionOnly(argv)) {
  // `waagent -version` alone, the one command whose whole cost is start-up: answered without loading the
  // command line's modules (the dynamic imports keep their initialisation out of this path; same output).
  // In the binary boot.ts answers it before this bundle is even compiled.
  import('./cli/version.ts').then(
    ({ versionText }) => { writeFd(1, versionText()); process.exit(0); },
    (e) => fatal('error', e),
  );
} else {
  import('./cli/run.ts').then(({ runCli }) => runCli(argv, { argv0: process.argv0 || 'waagent' })).then(
    (code) => process.exit(code),
    (e) => fatal('error', e),
  );
}
