// Handler versions compare like the Python agent's FlexibleVersion: numeric per dotted component,
// missing components count as 0 (1.0 == 1.0.0), and a requested partial version is a prefix
// ("2.0" matches 2.0.0 and 2.0.1 but not 2.1.0).

const VERSION_RE = /^\d{1,9}(\.\d{1,9}){0,7}$/;

export function isVersion(v: string): boolean {
  return VERSION_RE.test(v);
}

export function parseVersion(v: string): number[] | null {
  return isVersion(v) ? v.split('.').map(Number) : null;
}

/** <0, 0, >0. Unparseable versions sort below every valid one (and compare as strings among themselves). */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  if (!pa || !pb) return pa ? 1 : pb ? -1 : a < b ? -1 : a > b ? 1 : 0;
  const n = Math.max(pa.length, pb.length);
  for (let i = 0; i < n; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/** True when every component of `requested` equals the same component of `candidate`. */
export function versionMatches(requested: string, candidate: string): boolean {
  const r = parseVersion(requested);
  const c = parseVersion(candidate);
  if (!r || !c || r.length > c.length) return false;
  return r.every((x, i) => x === c[i]);
}

/** Highest candidate matching the requested (possibly partial) version, or undefined. */
export function selectVersion(requested: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  for (const c of candidates) {
    if (versionMatches(requested, c) && (best === undefined || compareVersions(c, best) > 0)) best = c;
  }
  return best;
}
