// Natural order of device names (sr2 before sr10, nvme0n2 before nvme0n10): runs of digits compare as
// numbers, everything else byte-wise. Not String.prototype.localeCompare: an ICU collator stays loaded
// for the life of the daemon (~3 MiB of RSS measured for a one-off sort at start-up), and device names
// are ASCII, where a locale adds nothing.
const RUNS = /(\d+)|(\D+)/g;

export function naturalCompare(a: string, b: string): number {
  const x = a.match(RUNS) ?? [];
  const y = b.match(RUNS) ?? [];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const p = x[i]!;
    const q = y[i]!;
    if (p === q) continue;
    const pd = p.charCodeAt(0) <= 57 && p.charCodeAt(0) >= 48;
    const qd = q.charCodeAt(0) <= 57 && q.charCodeAt(0) >= 48;
    if (pd && qd) {
      // Compare as numbers without parsing (any length): fewer significant digits is smaller.
      const ps = p.replace(/^0+(?=\d)/, '');
      const qs = q.replace(/^0+(?=\d)/, '');
      if (ps.length !== qs.length) return ps.length - qs.length;
      if (ps !== qs) return ps < qs ? -1 : 1;
      // Equal values with different zero padding: the shorter spelling first, so the order is total.
      return p.length - q.length;
    }
    return p < q ? -1 : 1;
  }
  return x.length - y.length;
}
