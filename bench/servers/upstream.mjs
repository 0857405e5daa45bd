// The minimal upstream every target forwards to: a fixed small JSON body, keep-alive, nothing else.
// Usage: node upstream.mjs PORT
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const body = Buffer.from('{"ok":true,"service":"bench-upstream"}');
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
