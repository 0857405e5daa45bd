// "express-chain": the naive Express build of Portico's full chain, each piece as its documentation shows it:
// Express 5, pino-http (request log to stdout), rate-limiter-flexible's RateLimiterRedis keyed by client address in a
// middleware (ioredis with `enableOfflineQueue: false`, as its Redis guide recommends), http-proxy-middleware 4 with a
// keep-alive agent like Portico's; tracing from otel-peer.cjs (auto-instrumentations, 100%), loaded by --require.
// CommonJS: the auto-instrumentations hook require(); ESM would need a loader hook as well.
// Usage: node --require ./otel-peer.cjs express-chain.cjs PORT UPSTREAM_URL REDIS_URL
const { Agent } = require('node:http');
const express = require('express');
const pinoHttp = require('pino-http');
const Redis = require('ioredis');
const { RateLimiterRedis } = require('rate-limiter-flexible');
const { createProxyMiddleware } = require('http-proxy-middleware');

const [port, target, redisUrl] = [Number(process.argv[2]), process.argv[3], process.argv[4]];
const redis = new Redis(redisUrl, { enableOfflineQueue: false });
// The bench's policy: never reached, so every request is counted and none rejected.
const limiter = new RateLimiterRedis({
  storeClient: redis,
  keyPrefix: 'bench-express-chain',
  points: 1_000_000_000,
  duration: 3600,
});
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.use(pinoHttp());
app.use((req, res, next) => {
  limiter
    .consume(req.ip)
    .then(() => next())
    .catch(() => res.status(429).send('Too Many Requests'));
});
app.use(createProxyMiddleware({ target, agent }));
const server = app.listen(port, '127.0.0.1');
server.keepAliveTimeout = 120_000;
server.headersTimeout = 121_000;
process.on('SIGTERM', () => server.close(() => redis.quit()).closeAllConnections());
