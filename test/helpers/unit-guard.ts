// Loaded into every test process by scripts/run-tests.mjs (--import). In a file under test/unit/ it
// makes the unit tier's promise checkable: no child process, no socket. Starting a tool or opening a
// socket there throws with the reason, so a test that needs either goes to test/integration/.
import { syncBuiltinESMExports } from 'node:module';
import { sep } from 'node:path';

const file = process.argv[1] ?? '';
if (file.includes(`${sep}test${sep}unit${sep}`)) {
  const refuse = (what: string) => () => {
    throw new Error(`unit tier: ${what} is not allowed in ${file} (pure tests only; move it to test/integration/)`);
  };
  const cp = process.getBuiltinModule('node:child_process') as unknown as Record<string, unknown>;
  for (const k of ['spawn', 'spawnSync', 'execFile', 'execFileSync', 'exec', 'execSync', 'fork']) cp[k] = refuse(`child_process.${k}`);
  const net = process.getBuiltinModule('node:net');
  net.Server.prototype.listen = refuse('listening on a socket') as never;
  net.Socket.prototype.connect = refuse('connecting a socket') as never;
  syncBuiltinESMExports();
}
