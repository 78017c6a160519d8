// .NET ticks (100 ns since 0001-01-01T00:00:00Z) order Fabric and Fast Track goal states. They exceed
// 2^53, so they travel as decimal strings and are compared as bigint.
const EPOCH_TICKS = 621355968000000000n;

/** Normalises a ticks value from XML/JSON ('' / invalid / negative => '0'). */
export function normTicks(v: unknown): string {
  const s = typeof v === 'number' ? (Number.isSafeInteger(v) ? String(v) : BigInt(Math.trunc(v)).toString()) : typeof v === 'string' ? v.trim() : '';
  return /^\d{1,20}$/.test(s) ? BigInt(s).toString() : '0';
}

export function compareTicks(a: string, b: string): number {
  const x = BigInt(normTicks(a));
  const y = BigInt(normTicks(b));
  return x < y ? -1 : x > y ? 1 : 0;
}

export function ticksToIso(ticks: string): string {
  const ms = (BigInt(normTicks(ticks)) - EPOCH_TICKS) / 10000n;
  const d = new Date(Number(ms));
  return Number.isNaN(d.getTime()) ? '0001-01-01T00:00:00.000Z' : d.toISOString();
}
