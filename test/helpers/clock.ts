// Clocks for code that takes an injected Clock (platform/retry.ts and its users). Tests never assert
// wall time; these make waiting either virtual or short.
import type { Clock } from '../../src/platform/retry.ts';

/**
 * Virtual time: sleep() returns at once and moves the clock forward; every sleep is recorded.
 * `onSleep` sees the new time (a test can change the world at a given moment).
 */
export class FakeClock implements Clock {
  t: number;
  readonly sleeps: number[] = [];
  private readonly rnd: number;
  private readonly onSleep: ((now: number) => void) | undefined;
  constructor(o: { random?: number; start?: number; onSleep?: (now: number) => void } = {}) {
    this.rnd = o.random ?? 0.5;
    this.t = o.start ?? 1_000_000;
    this.onSleep = o.onSleep;
  }
  now(): number { return this.t; }
  async sleep(ms: number): Promise<void> { this.sleeps.push(ms); this.t += ms; this.onSleep?.(this.t); }
  random(): number { return this.rnd; }
}

/**
 * Real time, short sleeps: for tests against the fabric simulator, where retries must happen but the
 * policy's delays (tested with FakeClock) would only slow the suite. Every requested sleep is recorded.
 */
export function quickClock(o: { capMs?: number; random?: number | (() => number) } = {}): Clock & { sleeps: number[] } {
  const cap = o.capMs ?? 2;
  const r = o.random ?? 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Date.now(),
    sleep: (ms) => { sleeps.push(ms); return new Promise((res) => setTimeout(res, Math.min(ms, cap))); },
    random: typeof r === 'function' ? r : () => r,
  };
}
