// Control API on a unix socket, so tests on the host can drive a simulator that runs inside the
// box's private network namespace (a unix socket crosses namespaces; TCP would not).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { chmodSync, rmSync } from 'node:fs';
import type { Fabric, RequestFilter } from './server.ts';
import type { Endpoint } from './scenario.ts';

const MAX_BODY = 4 << 20;

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw new Error('request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export async function serveControl(socketPath: string, fabric: Fabric): Promise<() => Promise<void>> {
  rmSync(socketPath, { force: true });
  const server = createServer((req, res) => {
    void (async () => {
      const u = new URL(req.url ?? '/', 'http://control.invalid');
      const route = `${req.method} ${u.pathname}`;
      try {
        switch (route) {
          case 'GET /requests': {
            const f: RequestFilter = {};
            const ep = u.searchParams.get('endpoint');
            if (ep) f.endpoint = ep as Endpoint;
            const m = u.searchParams.get('method');
            if (m) f.method = m;
            const p = u.searchParams.get('path');
            if (p !== null) f.path = p;
            return send(res, 200, fabric.requests(f));
          }
          case 'GET /status-uploads': return send(res, 200, fabric.statusUploads());
          case 'GET /health': return send(res, 200, fabric.health());
          case 'GET /violations': return send(res, 200, fabric.violations());
          case 'GET /urls': return send(res, 200, fabric.urls);
          case 'GET /state': return send(res, 200, { incarnation: fabric.incarnation(), etag: fabric.etag(), scenario: fabric.scenario() });
          case 'GET /summary': return send(res, 200, fabric.summary());
          case 'GET /transport-cert': return send(res, 200, { cert: fabric.transportCertSeen() ?? null });
          case 'GET /ovf-env': return send(res, 200, { ovfEnv: fabric.ovfEnv() });
          case 'GET /custom-data': return send(res, 200, { customData: fabric.customData() ?? null });
          case 'GET /ssh-keys': return send(res, 200, fabric.sshKeys());
          case 'GET /fabric-cert': return send(res, 200, fabric.fabricCert());
          case 'POST /update': {
            const patch = JSON.parse(await readBody(req)) as unknown;
            if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return send(res, 400, { error: 'the body must be a JSON object (merge patch)' });
            return send(res, 200, await fabric.update(patch as Record<string, unknown>));
          }
          case 'POST /scenario': {
            const s = JSON.parse(await readBody(req)) as Record<string, unknown>;
            return send(res, 200, await fabric.setScenario(s));
          }
          case 'POST /incarnation': return send(res, 200, fabric.bumpIncarnation());
          default: return send(res, 404, { error: `no route ${route}` });
        }
      } catch (e) {
        return send(res, 400, { error: (e as Error).message });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => { server.off('error', reject); resolve(); });
  });
  chmodSync(socketPath, 0o600);
  return () => new Promise<void>((resolve) => {
    server.close(() => { rmSync(socketPath, { force: true }); resolve(); });
    server.closeAllConnections();
  });
}
