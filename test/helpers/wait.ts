// Polling instead of fixed sleeps: wait until a condition holds (a truthy value is returned), checking
// every `everyMs`, and fail with what was awaited after `timeoutMs`. Tests never assert wall time;
// the bound only turns a hang into a clear failure.
export interface WaitOptions { what?: string; timeoutMs?: number; everyMs?: number }

export async function waitFor<T>(probe: () => T | undefined | null | false | Promise<T | undefined | null | false>, o: WaitOptions = {}): Promise<T> {
  const end = Date.now() + (o.timeoutMs ?? 10_000);
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out after ${o.timeoutMs ?? 10_000} ms waiting for ${o.what ?? 'a condition'}`);
    await new Promise((r) => setTimeout(r, o.everyMs ?? 10));
  }
}
