// The binary's entry point (build.mjs makes it the SEA's main script; from source, main.ts is run directly).
// It answers `waagent -version` itself and otherwise compiles and runs the agent's bundle (main.ts and
// everything it imports), which the binary carries as a SEA asset together with its V8 code cache.
//
// Why a separate entry: Node compiles a SEA's main script before it runs a line of it, so with the whole
// agent as the main script every start paid for turning ~0.5 MB of bundle into a V8 string and
// deserialising its ~150 KB code cache; `-version`, whose whole cost is start-up, was 1.13-1.19x `node -e 0`
// (scripts/bench/startup.sh). This entry is a few KB; the agent's bundle is compiled only when a command
// needs it, with the same code cache (accepted or not: a rejected cache only costs time, and build.mjs
// checks that it is accepted).
import { getRawAsset } from 'node:sea';
import { Script } from 'node:vm';
import { isVersionOnly, versionText } from './cli/version.ts';
import { writeFd } from './util/output.ts';

// Asset names, as build.mjs writes them. The bundle asset is already wrapped in a CommonJS function
// `(function (exports, require, module, __filename, __dirname) {...})`: the text the code cache was made from.
const MAIN_ASSET = 'main.js';
const CACHE_ASSET = 'main.cache';

declare const module: { exports: unknown };
declare const require: unknown;
declare const __filename: string;
declare const __dirname: string;

function runBundle(): void {
  // A view of the binary's own memory, not a copy; the bundle is ASCII (build.mjs checks), so latin1 is exact.
  const source = Buffer.from(getRawAsset(MAIN_ASSET)).toString('latin1');
  let cachedData: Buffer | undefined;
  try { cachedData = Buffer.from(getRawAsset(CACHE_ASSET)); } catch { cachedData = undefined; /* arm64: built without a cache */ }
  const fn = new Script(source, { filename: 'waagent.js', ...(cachedData ? { cachedData } : {}) }).runInThisContext() as
    (e: unknown, r: unknown, m: unknown, f: string, d: string) => void;
  fn(module.exports, require, module, __filename, __dirname);
}

const argv = process.argv.slice(2);
if (isVersionOnly(argv)) {
  writeFd(1, versionText());
  process.exit(0);
} else {
  runBundle();
}
