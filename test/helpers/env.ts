// Run a function with some environment variables set (a string) or removed (undefined), then put
// every one back as it was, also when the function throws.
export function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v)) { if (x === undefined) delete process.env[k]; else process.env[k] = x; }
  };
  apply(vars);
  try { return fn(); } finally { apply(saved); }
}
