// HealthService side channel (docs/protocol.md §2.1): POST http://<ws>:80/HealthService with observations about
// the plugin and IMDS. Best effort: bounded sizes, one attempt, failures only logged by the caller.
import type { HttpTransport } from './http.ts';
import { NO_RETRY, expectOk, realClock, sendWithRetry, type Clock } from './retry.ts';

export interface Observation {
  name: string;
  isHealthy: boolean;
  description?: string;
  value?: string;
}

export const OBSERVATION_NAMES = ['GuestAgentPluginHeartbeat', 'GuestAgentPluginStatus', 'GuestAgentPluginVersions', 'GuestAgentPluginArtifact', 'InstanceMetadataHeartbeat'] as const;

export function healthServiceBody(obs: Observation[]): string {
  return JSON.stringify({
    Api: 'reporttargethealth', Version: '1.0', Source: 'WALinuxAgent',
    Observations: obs.slice(0, 10).map((o) => ({
      ObservationName: o.name.slice(0, 64), IsHealthy: o.isHealthy,
      Description: (o.description ?? '').slice(0, 128), Value: (o.value ?? '').slice(0, 128),
    })),
  });
}

export async function reportObservations(transport: HttpTransport, wireBaseUrl: string, obs: Observation[], clock: Clock = realClock): Promise<void> {
  if (obs.length === 0) return;
  const res = await sendWithRetry(transport, {
    method: 'POST', url: `${wireBaseUrl.replace(/\/+$/, '')}/HealthService`, doc: 'HealthService',
    body: healthServiceBody(obs), headers: { 'Content-Type': 'application/json' },
  }, NO_RETRY, clock);
  expectOk(res, 'HealthService');
}
