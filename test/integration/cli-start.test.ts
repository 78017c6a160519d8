// -start for real: it spawns "<self> -daemon -configuration-path:P" detached and returns at once. The
// stand-in for the agent binary is a harmless shell that records its arguments (a child process, so
// this is not a unit test).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS } from '../../src/cli/commands.ts';
import type { Registry } from '../../src/cli/commands.ts';
import { runCli } from '../../src/cli/run.ts';
import { MemoryOutput } from '../../src/util/output.ts';
import { waitFor } from '../helpers/wait.ts';

test('-start launches "<self> -daemon -configuration-path:P" detached and returns', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-start-'));
  const out = join(dir, 'started.txt');
  const conf = join(dir, 'waagent.conf');
  writeFileSync(conf, '# defaults\n');
  const self = ['/bin/sh', '-c', `printf '%s\\n' "$@" > ${out}.tmp && mv ${out}.tmp ${out}`, 'waagent'];
  // -daemon itself is never run in this process: only the registry entry of -start is real.
  const registry: Registry = { ...COMMANDS, daemon: { ...COMMANDS.daemon, run: async () => { throw new Error('not here'); } } };
  const io = new MemoryOutput();
  const code = await runCli([`-configuration-path:${conf}`, '-start'], { io, defaultConfigPath: conf, logFile: join(dir, 'log'), argv0: 'waagent', registry, self });
  assert.equal(code, 0, io.stderr);
  assert.match(io.stderr, /^started \/bin\/sh .* -daemon -configuration-path:/);
  const text = await waitFor(() => { try { return readFileSync(out, 'utf8'); } catch { return undefined; } }, { what: `${out} written by the stand-in` });
  assert.equal(text, `-daemon\n-configuration-path:${conf}\n`);
});
