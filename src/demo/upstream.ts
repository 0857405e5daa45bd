/**
 * A demo upstream for `npm start`: echoes what it received as JSON, so a newcomer sees the proxy's forwarding
 * (path, X-Forwarded-*, X-Request-Id) without running a service of their own. Not for production use.
 */
import http from 'node:http';
import { once } from 'node:events';

export async function startDemoUpstream(host: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.stringify({
        service: 'demo-upstream',
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyBytes: Buffer.concat(chunks).length,
      });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}
