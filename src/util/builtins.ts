// Node built-in modules that not every command needs, loaded on first use (process.getBuiltinModule)
// instead of by a static import: the bundle's static imports all run when the binary starts, so
// `waagent -version` would pay for each of them (~8 ms for these, measured with hyperfine).
// node:crypto is not here on purpose: nothing in src/ loads it (test/unit/crypto-guard.test.ts), because
// once loaded it stays resident (+3.3 MiB RSS measured) for the daemon's life. Digests, certificates,
// keys and random bytes are src/crypto/digest.ts, der.ts, keys.ts and random.ts. Nor node:fs/promises
// (util/fsasync.ts says why).
type Builtins = { 'node:zlib': typeof import('node:zlib'); 'node:child_process': typeof import('node:child_process'); 'node:net': typeof import('node:net') };

function builtin<K extends keyof Builtins>(id: K): Builtins[K] {
  return process.getBuiltinModule(id) as Builtins[K];
}

export const nodeZlib = () => builtin('node:zlib');
export const childProcess = () => builtin('node:child_process');
// Kept once loaded: the idle poll opens two connections every period, and each getBuiltinModule call goes
// through the module loader's lookup.
let net: Builtins['node:net'] | undefined;
export const nodeNet = () => (net ??= builtin('node:net'));

/** A promise that resolves after `ms` (node:timers/promises' setTimeout without loading that module). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
