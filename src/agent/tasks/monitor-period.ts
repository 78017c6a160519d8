// Test-only seam: shortens every fixed monitor period (heartbeat 30 min, health 1 min, network errors 30 min,
// hourly metrics) to this many ms. Honoured only where the machine has no network interface but `lo` (the
// VM-in-a-box's private namespace); on anything that can reach a real fabric it is ignored.
import { existsSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Sysroot } from '../../util/sysroot.ts';
import { listLinks } from '../../os/network/links.ts';
import { log } from '../../util/logger.ts';

export const TEST_PERIOD_ENV = 'WAAGENT_TEST_MONITOR_PERIOD_MS';

export function testMonitorPeriod(env: NodeJS.ProcessEnv, ifaces: () => string[]): number | null {
  const v = env[TEST_PERIOD_ENV];
  if (v === undefined) return null;
  const n = Number(v);
  const names = ifaces();
  if (names.length !== 1 || names[0] !== 'lo') {
    log.warn(`${TEST_PERIOD_ENV} is ignored: it is a test seam honoured only without network interfaces other than lo (found: ${names.join(', ') || 'none'})`);
    return null;
  }
  if (!Number.isInteger(n) || n < 100 || n > 3_600_000) { log.warn(`${TEST_PERIOD_ENV}=${v} is ignored (100..3600000 ms)`); return null; }
  log.warn(`${TEST_PERIOD_ENV}=${n}: monitor periods shortened for a test`);
  return n;
}

/** Every interface this process sees: /sys/class/net (through the Sysroot; lo when present) and the kernel's address list. */
export function interfaceNames(root: Sysroot): string[] {
  const sys = listLinks(root).map((l) => l.name);
  if (existsSync(root.path('/sys/class/net/lo'))) sys.push('lo');
  return [...new Set([...sys, ...Object.keys(networkInterfaces())])].sort();
}
