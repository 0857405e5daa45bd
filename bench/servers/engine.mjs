// "engine": plain httpxy (the proxy engine under http-proxy-middleware 4) on a bare node:http server, with a
// keep-alive agent like Portico's. The floor Portico is compared against.
// Usage: node engine.mjs PORT UPSTREAM_URL
import { createServer, Agent } from 'node:http';
import { createProxyServer } from 'httpxy';

const port = Number(process.argv[2]);
const target = new URL(process.argv[3]);
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const proxy = createProxyServer({ target, agent });
proxy.on('error', (err, req, res) => {
  if (res && 'writeHead' in res && !res.headersSent) res.writeHead(502).end();
  else res?.destroy?.();
});
const server = createServer((req, res) => {
  proxy.web(req, res).catch(() => {});
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
