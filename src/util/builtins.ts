// Node built-in modules that not every command needs, loaded on first use (process.getBuiltinModule)
// instead of by a static import: the bundle's static imports all run when the binary starts, so
// `waagent -version` would pay for each of them (~8 ms for these, measured with hyperfine), and the
// daemon would keep node:crypto resident (~2-4 MiB) even where it needs no secret or certificate.
type Builtins = { 'node:crypto': typeof import('node:crypto'); 'node:zlib': typeof import('node:zlib'); 'node:child_process': typeof import('node:child_process'); 'node:net': typeof import('node:net') };

function builtin<K extends keyof Builtins>(id: K): Builtins[K] {
  return process.getBuiltinModule(id) as Builtins[K];
}

export const nodeCrypto = () => builtin('node:crypto');
export const nodeZlib = () => builtin('node:zlib');
export const childProcess = () => builtin('node:child_process');
export const nodeNet = () => builtin('node:net');

/** A promise that resolves after `ms` (node:timers/promises' setTimeout without loading that module). */
export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
