// "fastify-bare": fastify 5 + @fastify/http-proxy and nothing else (no logger, no plugins): the fastest Node proxy
// we know, as its README sets it up (undici to the upstream, its default).
// Usage: node fastify-bare.mjs PORT UPSTREAM_URL
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const [port, upstream] = [Number(process.argv[2]), process.argv[3]];
const app = Fastify();
await app.register(proxy, { upstream });
app.server.keepAliveTimeout = 120_000;
app.server.headersTimeout = 121_000;
await app.listen({ port, host: '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
