// Counts of failed platform requests (2.15 restutil.IOErrorCounter), reported by the monitor every 30 minutes
// as one HttpErrors event: `hostplugin` (port 32526), `protocol` (the WireServer), `other` (IMDS, storage).
// A failure is a transport error or an HTTP status the retry policy treats as transient. Three integers.
import { endpointHost } from './endpoint.ts';

const counts = { hostplugin: 0, protocol: 0, other: 0 };
let wireHost = '168.63.129.16';

/** The WireServer address in use (its requests count as `protocol`). */
export function setWireServerHost(host: string): void { wireHost = endpointHost(host); }

export function countIoError(url: string): void {
  let u: URL;
  try { u = new URL(url); } catch { counts.other++; return; }
  if (u.port === '32526') counts.hostplugin++;
  else if (u.hostname === wireHost) counts.protocol++;
  else counts.other++;
}

/** The counts since the last call, then zero. */
export function takeIoErrors(): { hostplugin: number; protocol: number; other: number } {
  const out = { ...counts };
  counts.hostplugin = counts.protocol = counts.other = 0;
  return out;
}
