// "express-cors": the peer for Portico's express kind running cors: Express 5 with the same cors middleware in
// front of http-proxy-middleware 4 (httpxy underneath), with a keep-alive agent like Portico's.
// Usage: node express-cors.mjs PORT UPSTREAM_URL
import { Agent } from 'node:http';
import express from 'express';
import cors from 'cors';
import { createProxyMiddleware } from 'http-proxy-middleware';

const port = Number(process.argv[2]);
const target = process.argv[3];
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(cors());
app.use(createProxyMiddleware({ target, agent }));
const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)).closeAllConnections());
