// Helpers for tests that talk to the simulator on 127.0.0.1 (never any other address).
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { request } from 'node:http';
import type { Fabric } from './server.ts';
import { configName } from './documents.ts';

export const FABRIC_DIR = fileURLToPath(new URL('.', import.meta.url));
export const SCENARIOS = join(FABRIC_DIR, 'scenarios');

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  text: string;
}

/** Plain HTTP/1.1 request with exactly the headers given (fetch adds its own). Loopback only. */
export function http(method: string, url: string, headers: Record<string, string> = {}, body?: string | Buffer): Promise<RawResponse> {
  const u = new URL(url);
  if (u.hostname !== '127.0.0.1') throw new Error(`tests only talk to 127.0.0.1, not ${u.hostname}`);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body, 'utf8');
    const h: Record<string, string | number> = { connection: 'close', ...headers };
    if (payload && !Object.keys(h).some((k) => k.toLowerCase() === 'content-length')) h['content-length'] = payload.length;
    const req = request({ host: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method, headers: h, timeout: 30_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const b = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: b, text: b.toString('utf8') });
      });
      res.on('error', reject);
      res.on('aborted', () => reject(new Error('response aborted')));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(payload);
  });
}

export const WS_HEADERS = { 'x-ms-agent-name': 'WALinuxAgent', 'x-ms-version': '2012-11-30', 'user-agent': 'WALinuxAgent/3.0.0.0' };
export const WS_XML_HEADERS = { ...WS_HEADERS, 'content-type': 'text/xml;charset=utf-8' };

export function hgapHeaders(f: Fabric): Record<string, string> {
  const s = f.scenario();
  return {
    'x-ms-version': '2015-09-01',
    'x-ms-containerid': s.vm.containerId,
    'x-ms-host-config-name': configName(s),
    'x-ms-client-correlationid': '11111111-2222-3333-4444-555555555555',
  };
}

/** A small valid scenario for tests; override fields with a merge. */
export function baseScenario(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'test',
    vm: {
      vmId: '11111111-2222-3333-4444-555555555555',
      containerId: '66666666-7777-8888-9999-000000000000',
      roleName: 'testvm',
      hostname: 'testvm',
    },
    user: { name: 'tester', password: 'Test-Passw0rd!' },
    sshKeys: [{ id: 'test-key-a', ovf: 'inline', imds: true }],
    customData: 'echo hello',
    extensions: [{
      name: 'Waagent.Test.ShellExt',
      version: '1.0.0',
      seqNo: 3,
      publicSettings: { message: 'from-test' },
      protectedSettings: { secret: 'test-protected' },
    }],
    ...extra,
  };
}

/** Bounded polling (never asserts on time; only gives up). */
export async function until<T>(probe: () => T | Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}
