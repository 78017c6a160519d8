// Where the agent binary is, and why a test cannot run here — each reason with the fix in the message.
// Tests that need root, namespaces, loop devices or system tools say so through these and still run
// in CI (root, tools installed by scripts/install-test-deps.sh). Use as `{ skip: needsRoot('…') }`.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's top directory. */
export const PROJECT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');

/** The binary under test: dist/waagent (npm test and npm run test:e2e build it), or WAAGENT_E2E_BIN. */
export const AGENT_BIN = process.env['WAAGENT_E2E_BIN'] ?? join(PROJECT, 'dist', 'waagent');

/** false when running as root, else the reason (what root is needed for) and how to run. */
export function needsRoot(what: string): string | false {
  return process.getuid?.() === 0 ? false : `needs root (${what}): run the tests as root, e.g. sudo npm test`;
}

/** false when the agent binary exists, else how to build it. */
export function needsAgentBin(): string | false {
  return existsSync(AGENT_BIN) ? false : `${AGENT_BIN} is not built: run npm run build (npm test and npm run test:e2e build it first)`;
}

/** false when `tool` runs (`tool <probeArg>`), else how to install it. */
export function needsTool(tool: string, probeArg = '--version'): string | false {
  const r = spawnSync(tool, [probeArg], { stdio: 'ignore', timeout: 10_000 });
  return r.error ? `${tool} is missing: run bash scripts/install-test-deps.sh` : false;
}

/** The first reason that applies, or false. */
export function firstReason(...reasons: Array<string | false>): string | false {
  return reasons.find((r) => r !== false) ?? false;
}
