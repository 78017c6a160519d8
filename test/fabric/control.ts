// Client of the simulator's control socket (see control-server.ts): the same questions as the
// in-process Fabric object, asked over a unix socket from outside the box.
import { request } from 'node:http';
import type { FabricUrls, HealthReport, RecordedRequest, RequestFilter, SshKeyInfo, Violation } from './server.ts';
import type { StatusUpload } from './blobstore.ts';
import type { Scenario } from './scenario.ts';

export class FabricControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'FabricControlError';
    this.status = status;
  }
}

export class FabricControl {
  readonly socketPath: string;
  readonly timeoutMs: number;

  constructor(socketPath: string, timeoutMs = 30_000) {
    this.socketPath = socketPath;
    this.timeoutMs = timeoutMs;
  }

  private call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const req = request({
        socketPath: this.socketPath, method, path, timeout: this.timeoutMs,
        headers: payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {},
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let v: unknown;
          try {
            v = JSON.parse(text);
          } catch {
            return reject(new FabricControlError(res.statusCode ?? 0, `control ${path}: answer is not JSON`));
          }
          if (res.statusCode !== 200) return reject(new FabricControlError(res.statusCode ?? 0, `control ${path}: ${(v as { error?: string }).error ?? res.statusCode}`));
          resolve(v as T);
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`control ${path}: no answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  requests(filter: RequestFilter = {}): Promise<RecordedRequest[]> {
    const q = new URLSearchParams();
    if (filter.endpoint) q.set('endpoint', filter.endpoint);
    if (filter.method) q.set('method', filter.method);
    if (filter.path !== undefined) q.set('path', filter.path);
    const qs = q.toString();
    return this.call('GET', `/requests${qs ? `?${qs}` : ''}`);
  }

  statusUploads(): Promise<StatusUpload[]> { return this.call('GET', '/status-uploads'); }
  health(): Promise<HealthReport[]> { return this.call('GET', '/health'); }
  violations(): Promise<Violation[]> { return this.call('GET', '/violations'); }
  urls(): Promise<FabricUrls> { return this.call('GET', '/urls'); }
  summary(): Promise<string[]> { return this.call('GET', '/summary'); }
  state(): Promise<{ incarnation: number; etag: string; scenario: Scenario }> { return this.call('GET', '/state'); }
  async transportCertSeen(): Promise<string | undefined> {
    return (await this.call<{ cert: string | null }>('GET', '/transport-cert')).cert ?? undefined;
  }
  async ovfEnv(): Promise<string> { return (await this.call<{ ovfEnv: string }>('GET', '/ovf-env')).ovfEnv; }
  async customData(): Promise<string | undefined> {
    return (await this.call<{ customData: string | null }>('GET', '/custom-data')).customData ?? undefined;
  }
  sshKeys(): Promise<SshKeyInfo[]> { return this.call('GET', '/ssh-keys'); }
  fabricCert(): Promise<{ certPem: string; keyPem: string; thumbprint: string }> { return this.call('GET', '/fabric-cert'); }
  update(patch: Record<string, unknown>): Promise<{ incarnation: number; etag: string }> { return this.call('POST', '/update', patch); }
  setScenario(s: Scenario | Record<string, unknown>): Promise<{ incarnation: number; etag: string }> { return this.call('POST', '/scenario', s); }
  bumpIncarnation(): Promise<{ incarnation: number; etag: string }> { return this.call('POST', '/incarnation'); }

  /** Polls until `pred` holds or the time is up (bounded; for tests waiting on the agent). */
  async waitFor<T>(probe: () => Promise<T>, pred: (v: T) => boolean, timeoutMs = 60_000, everyMs = 250): Promise<T> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (pred(v)) return v;
      if (Date.now() > end) throw new Error(`waitFor: condition not met within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  }
}
