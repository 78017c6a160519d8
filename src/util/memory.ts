// One full garbage collection after a burst of work (a goal state processed, provisioning, a log
// collection). Why: objects that hold native memory (child processes and their pipes, X509
// certificates, zlib contexts, sockets) look small to V8, and an idle daemon allocates so little that
// V8 may not run a major GC for hours, while the native memory behind dead objects stays allocated.
// Measured in the VM-in-a-box (scripts/bench/daemon.ts --change 10): without it the malloc heap grew
// ~1.2 MiB a minute with a new goal state every 10 s; with one major GC after each, RSS stayed flat.
// The binary runs with --expose-gc for this call alone (build.mjs); from source it is a no-op.
// The 'last-resort' flavour (V8's CollectAllAvailableGarbage: at least two full GCs that compact, then the
// freed pages returned to the system): a regular major GC frees the objects but V8 keeps the pages it freed
// pooled, and with the memory reducer off (build.mjs) nothing returns them later. Measured in the
// VM-in-a-box (scripts/bench/daemon.ts, parallel with the node:net floor): idle RSS 2.5 MiB lower, floor
// + 5.9 -> + 3.2 MiB. Its price is about twice the CPU of a regular major GC (~10-30 ms for a daemon-sized
// heap), once per burst, never per idle poll (test/integration/util-memory.test.ts shows the RSS effect).
export function collectAfterBurst(): void {
  const gc = (globalThis as { gc?: (o?: { type: string; execution: string; flavor?: string }) => void }).gc;
  if (typeof gc === 'function') gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}

/**
 * A young-generation (scavenge) collection, cheap: frees the dead buffers of a long streaming job (zip
 * extraction) whose memory V8 counts only as external and would otherwise let pile up. No-op from source.
 */
export function collectYoung(): void {
  const gc = (globalThis as { gc?: (o?: { type: string; execution: string }) => void }).gc;
  if (typeof gc === 'function') gc({ type: 'minor', execution: 'sync' });
}
