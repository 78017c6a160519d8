// A forward HTTP proxy for the VM-in-a-box (run with the pinned node inside it): absolute-form requests
// and CONNECT, to 127.0.0.1 only (anything else is refused with 403, so nothing can leave the box even
// by mistake). Each request is appended as a JSON line {method, target} to argv[3]; argv[2] is the port.
// It prints "proxy: ready" once listening.
import { appendFileSync, readdirSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { connect } from 'node:net';

const nets = readdirSync('/sys/class/net');
if (nets.length !== 1 || nets[0] !== 'lo') {
  process.stderr.write('ext-proxy: refusing to run outside the VM-in-a-box\n');
  process.exit(2);
}
const port = Number(process.argv[2] ?? 3128);
const record = process.argv[3] ?? '/var/log/probe/proxy.log';

function note(method: string, target: string, allowed: boolean): void {
  appendFileSync(record, `${JSON.stringify({ method, target, allowed })}\n`);
}

const server = createServer((req, res) => {
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    res.writeHead(400).end('absolute URI expected');
    return;
  }
  const ok = url.protocol === 'http:' && url.hostname === '127.0.0.1';
  note(req.method ?? '', url.href, ok);
  if (!ok) {
    res.writeHead(403).end('this proxy only reaches 127.0.0.1');
    return;
  }
  const headers = { ...req.headers };
  delete headers['proxy-authorization'];
  delete headers['proxy-connection'];
  const up = request({ host: url.hostname, port: url.port || 80, path: `${url.pathname}${url.search}`, method: req.method, headers }, (r) => {
    res.writeHead(r.statusCode ?? 502, r.headers);
    r.pipe(res);
  });
  up.on('error', (e) => { if (!res.headersSent) res.writeHead(502); res.end(e.message); });
  req.pipe(up);
});
server.on('connect', (req, socket, head) => {
  const [host, p] = (req.url ?? '').split(':');
  const ok = host === '127.0.0.1';
  note('CONNECT', req.url ?? '', ok);
  if (!ok) {
    socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
    return;
  }
  const up = connect(Number(p), host, () => {
    socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    up.write(head);
    up.pipe(socket);
    socket.pipe(up);
  });
  up.on('error', () => socket.destroy());
  socket.on('error', () => up.destroy());
});
server.listen(port, '127.0.0.1', () => process.stdout.write('proxy: ready\n'));
process.once('SIGTERM', () => { server.close(); process.exit(0); });
