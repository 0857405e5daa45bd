// "fastify-chain": fastify 5 with the same chain, each piece as its documentation shows it: fastify's own logger
// (pino, to stdout), @fastify/rate-limit on Redis (ioredis with the README's `connectTimeout: 500,
// maxRetriesPerRequest: 1`; keyed by client address, its default), @fastify/http-proxy (undici to the upstream, its
// default); tracing from otel-peer.cjs (@fastify/otel + http, undici and ioredis instrumentations, 100%), --require'd.
// Usage: node --require ./otel-peer.cjs fastify-chain.cjs PORT UPSTREAM_URL REDIS_URL
const Fastify = require('fastify');
const Redis = require('ioredis');

const [port, upstream, redisUrl] = [Number(process.argv[2]), process.argv[3], process.argv[4]];

async function main() {
  const app = Fastify({ logger: true });
  const redis = new Redis(redisUrl, { connectTimeout: 500, maxRetriesPerRequest: 1 });
  // The bench's policy: never reached, so every request is counted and none rejected.
  await app.register(require('@fastify/rate-limit'), {
    max: 1_000_000_000,
    timeWindow: '1 hour',
    redis,
    nameSpace: 'bench-fastify-chain-',
  });
  await app.register(require('@fastify/http-proxy'), { upstream });
  app.server.keepAliveTimeout = 120_000;
  app.server.headersTimeout = 121_000;
  await app.listen({ port, host: '127.0.0.1' });
  process.on('SIGTERM', () => app.close().then(() => redis.quit()));
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
