// A local OTLP/HTTP receiver for the tracing targets: accepts a POST on any path (each target exports to its own,
// `/<target>/v1/traces`), counts exports and bytes per path, answers 200 with an empty ExportTraceServiceResponse.
// GET /stats returns the counts (the bench checks that each tracing target's spans arrived).
// Usage: node otlp-sink.mjs PORT
import { createServer } from 'node:http';

const port = Number(process.argv[2]);
const stats = { exports: 0, bytes: 0, byPath: {} };
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(stats));
    return;
  }
  let bytes = 0;
  req.on('data', (chunk) => (bytes += chunk.length));
  req.on('end', () => {
    stats.exports++;
    stats.bytes += bytes;
    const path = (stats.byPath[req.url] ??= { exports: 0, bytes: 0 });
    path.exports++;
    path.bytes += bytes;
    const json = String(req.headers['content-type'] ?? '').includes('json');
    res.writeHead(200, { 'content-type': json ? 'application/json' : 'application/x-protobuf' });
    res.end(json ? '{}' : '');
  });
});
server.keepAliveTimeout = 120_000;
server.listen(port, '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
