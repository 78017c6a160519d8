// The platform layer against the fabric simulator on 127.0.0.1: a simulator from a scenario, a
// private Lib.Dir (0700) and extension log dir, an HttpClient that ignores the environment's proxy
// variables, and an AzureProtocol wired to them. `withProtocol` runs a test body and always cleans
// up; by default it also asserts that the simulator saw no protocol violation.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpClient } from '../../src/platform/http.ts';
import { AzureProtocol } from '../../src/platform/protocol.ts';
import type { Clock } from '../../src/platform/retry.ts';
import { OpenSsl } from '../../src/crypto/openssl.ts';
import { startFabric, type Fabric } from '../fabric/server.ts';
import { quickClock } from './clock.ts';

export interface ProtocolCtx {
  f: Fabric;
  p: AzureProtocol;
  /** Lib.Dir (host path). */
  lib: string;
  roots: { libDir: string; extLogDir: string };
  http: HttpClient;
  close(): Promise<void>;
}

export interface ProtocolOptions {
  /** Debug.EnableFastTrack (default true). */
  fastTrack?: boolean;
  /** Default: quickClock() (real time, retries sleep at most 2 ms). */
  clock?: Clock;
}

export async function openProtocol(scenario: Record<string, unknown>, o: ProtocolOptions = {}): Promise<ProtocolCtx> {
  const f = await startFabric({ bind: 'loopback', scenario });
  assert.match(f.urls.wire, /^http:\/\/127\.0\.0\.1:/, 'the simulator listens on loopback only');
  const dir = mkdtempSync(join(tmpdir(), 'waagent-protocol-'));
  const roots = { libDir: join(dir, 'lib'), extLogDir: join(dir, 'log') };
  mkdirSync(roots.libDir, { mode: 0o700 });
  const http = new HttpClient({ env: {} });
  const p = new AzureProtocol({
    endpoint: f.urls.wire, hgapUrl: f.urls.hgap, libDir: roots.libDir, transport: http,
    clock: o.clock ?? quickClock(), openssl: new OpenSsl('openssl'), fastTrack: o.fastTrack ?? true,
  });
  return {
    f, p, lib: roots.libDir, roots, http,
    close: async () => {
      await http.close();
      await f.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function withProtocol(scenario: Record<string, unknown>, fn: (c: ProtocolCtx) => Promise<void>, o: ProtocolOptions & { expectNoViolations?: boolean } = {}): Promise<void> {
  const c = await openProtocol(scenario, o);
  try {
    await fn(c);
    if (o.expectNoViolations ?? true) assert.deepEqual(c.f.violations(), [], 'the simulator saw no protocol violations');
  } finally {
    await c.close();
  }
}
