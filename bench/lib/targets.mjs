// What the bench measures. Every target answers GET `path` on its own port; `start(ctx)` returns the child process
// whose CPU and RSS are "the proxy" (for direct: the upstream itself). `needs` lists what must exist, and `check`
// proves at the end of the run that the target really does what its name says (a rate limit that never ran would flatter it);
// it is given the run's ctx with the target's `adminUrl`.
// `prepare(ctx, shared)` (optional) runs before start and resolves a reason when the target cannot run.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { spawnPinned, get } from './proc.mjs';
import { startNginx } from './nginx.mjs';
import {
  startPortico,
  porticoUnavailable,
  seedDatabase,
  sinkEndpoint,
  SAMPLE_USERS,
  CLIENT_HEADER,
} from './portico.mjs';

const server = (file) => fileURLToPath(new URL(`../servers/${file}`, import.meta.url));
/** Connections of the many-clients rows (BENCH_CONNECTIONS sets the others). */
export const MANY_CONNECTIONS = 256;

const has = (headers, name) => headers[name] !== undefined;

/** True when the target's request log (telemetry.logs.destination, or stdout where that is not wired) has lines. */
function loggedRequests(ctx, id) {
  return [`${id}.requests.log`, `${id}.stdout.log`].some((name) => {
    try {
      const text = readFileSync(join(ctx.dir, name), 'utf8');
      return text.includes('"request completed"');
    } catch {
      return false;
    }
  });
}

const portico = (id, label, spec, extra = {}) => ({
  id,
  label,
  group: 'portico',
  connections: spec.connections,
  path: spec.users ? '/users/1' : '/api/bench',
  // Many ids, so a miss is a database query and not a single-flight join on one hot id.
  randomPath: spec.users ? { prefix: '/users/', count: SAMPLE_USERS } : undefined,
  // A header numbered per request by the load generator (a rate-limit key no two requests share).
  clientHeader: spec.clientHeader ? CLIENT_HEADER : undefined,
  needs: [...(spec.redis ? ['redis'] : []), ...(spec.users ? ['users'] : [])],
  unavailable: porticoUnavailable,
  prepare: spec.users ? (ctx, shared) => (shared.seeded ??= seedDatabase({ id, ...spec }, ctx)) : undefined,
  start: (ctx) => startPortico({ id, ...spec }, ctx),
  async check(ctx, response) {
    if (spec.logging && !loggedRequests(ctx, id)) return 'no "request completed" line in its request log or stdout';
    if (spec.rateLimit && !has(response.headers, 'ratelimit-policy') && !has(response.headers, 'ratelimit')) {
      return 'no RateLimit headers: the rate limit did not run';
    }
    if (spec.users === 'miss' && /hit/.test(String(response.headers['cache-status'] ?? '')))
      return 'a cache hit on the miss path';
    if (spec.users === 'hit' && !/hit/.test(String(response.headers['cache-status'] ?? ''))) {
      return `Cache-Status is "${response.headers['cache-status'] ?? ''}", not a hit`;
    }
    if (spec.tracing) {
      const stats = JSON.parse((await get(`${ctx.sinkUrl}/stats`)).body);
      const mine = stats.byPath[new URL(sinkEndpoint(ctx, id)).pathname];
      if (!mine || mine.exports === 0) return 'the OTLP sink received no span export from it';
    }
    return extra.check?.(ctx, response);
  },
  spec,
});

/** Keys under `prefix` in the bench's Redis: proof that a peer's rate limit talked to Redis. */
async function redisKeys(ctx, prefix) {
  const { default: Redis } = await import('ioredis');
  const redis = new Redis(ctx.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    // One SCAN call looks at one slice of the keyspace: a full run's keyed rows and user cache leave more keys than
    // a slice holds, so the cursor is followed to its end.
    let cursor = '0';
    let count = 0;
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000);
      cursor = next;
      count += keys.length;
    } while (cursor !== '0');
    return count;
  } finally {
    redis.disconnect();
  }
}

/** The same-chain peers' checks: a request log on stdout, spans at the sink, counters in Redis. */
const peerChainRan = (id, prefix) => async (ctx) => {
  if (!loggedRequests(ctx, id)) return 'no "request completed" line on its stdout';
  const stats = JSON.parse((await get(`${ctx.sinkUrl}/stats`)).body);
  if (!stats.byPath[new URL(sinkEndpoint(ctx, id)).pathname]?.exports) return 'the OTLP sink received no span export';
  if ((await redisKeys(ctx, prefix)) === 0) return `no Redis key under ${prefix}: the rate limit did not use Redis`;
  return undefined;
};

/** A peer in its own Node process on the proxy core; `args(ctx)` after the script. */
const nodePeer = (
  id,
  label,
  file,
  { args = () => [], preload = [], env = () => ({}), needs = [], check, connections } = {},
) => ({
  id,
  label,
  group: 'peer',
  path: '/api/bench',
  needs,
  check,
  connections,
  start: (ctx) =>
    spawnPinned({
      cpu: ctx.proxyCpu,
      pinning: ctx.pinning,
      command: process.execPath,
      args: [...(ctx.nodeFlags ?? []), ...preload, server(file), String(ctx.port), ctx.upstreamUrl, ...args(ctx)],
      logFile: join(ctx.dir, `${id}.stdout.log`),
      env: { ...env(ctx), ...ctx.env },
    }),
});

/** The same-chain peers trace with otel-peer.cjs, preloaded; their metrics and logs exporters stay off. */
const tracedPeer = (id, label, file, peer, prefix) =>
  nodePeer(id, label, file, {
    needs: ['redis'],
    preload: ['--require', server('otel-peer.cjs')],
    args: (ctx) => [ctx.redisUrl],
    env: (ctx) => ({
      BENCH_OTEL_PEER: peer,
      BENCH_OTLP_URL: sinkEndpoint(ctx, id),
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    }),
    check: peerChainRan(id, prefix),
  });

/** cors with its defaults answers `Access-Control-Allow-Origin: *` on every response: proof that it ran. */
const corsRan = (_ctx, response) =>
  has(response.headers, 'access-control-allow-origin') ? undefined : 'no Access-Control-Allow-Origin: cors did not run';

/** The route reports its three upstreams up in /readyz: the resilient forwarder and its health checks ran. */
async function resilienceRan(ctx) {
  const response = await get(`${ctx.adminUrl}/readyz`).catch((err) => ({ body: err.message }));
  return /3\/3 upstreams up/.test(String(response.body))
    ? undefined
    : `readiness does not show 3/3 upstreams up: ${response.body}`;
}

const logging = 'logging';
const tracing = 'tracing';
const rateLimit = { rateLimit: 'bench' };
const rateLimitPerRequest = { rateLimit: 'bench-keyed' };

/** The full chain with a rate-limit key per request (the load generator numbers a header per request). */
const FULL_CHAIN_KEYED = {
  middleware: [logging, tracing, rateLimitPerRequest],
  logging: true,
  tracing: true,
  rateLimit: true,
  redis: true,
  clientHeader: true,
};

/**
 * Many clients: 256 connections from one address, so the per-client cap (server.maxRequestsPerClient, 256 in flight
 * by default) is raised above it; it still counts every request.
 */
const MANY_CLIENTS = { connections: MANY_CONNECTIONS, server: { maxRequestsPerClient: 4 * MANY_CONNECTIONS } };

export const TARGETS = [
  {
    id: 'direct',
    label: 'direct to upstream',
    group: 'peer',
    path: '/api/bench',
    needs: [],
    start: (ctx) => ({ reuse: ctx.upstream, port: ctx.upstreamPort }),
    // The upstream shares its core with the load generator by design: its run-queue wait is not contention.
    sharesCore: true,
  },
  {
    id: 'nginx',
    label: 'nginx (1 worker)',
    group: 'peer',
    path: '/api/bench',
    needs: ['nginx'],
    start: (ctx) =>
      startNginx({
        binary: ctx.nginx,
        port: ctx.port,
        upstreamPort: ctx.upstreamPort,
        dir: ctx.dir,
        cpu: ctx.proxyCpu,
        pinning: ctx.pinning,
      }),
  },
  nodePeer('engine', 'engine (httpxy, bare http)', 'engine.mjs'),
  nodePeer('express-cors', 'Express 5 + cors + http-proxy-middleware', 'express-cors.mjs', { check: corsRan }),
  // Peers of the full chain, each built as its ecosystem documents it (bench/servers/*-chain.cjs), and the bare
  // fastify proxy.
  tracedPeer(
    'express-chain',
    'Express 5 + pino-http + rate-limiter-flexible + hpm + OTel auto',
    'express-chain.cjs',
    'express',
    'bench-express-chain',
  ),
  tracedPeer(
    'fastify-chain',
    'fastify 5 + logger + rate-limit redis + http-proxy + otel',
    'fastify-chain.cjs',
    'fastify',
    'bench-fastify-chain-',
  ),
  nodePeer('fastify-bare', 'fastify 5 + @fastify/http-proxy, no plugins', 'fastify-bare.mjs'),
  nodePeer('engine-c256', `engine, ${MANY_CONNECTIONS} connections`, 'engine.mjs', { connections: MANY_CONNECTIONS }),
  portico('portico', 'portico, no middleware', { middleware: [] }),
  // The express kind's price: Express objects for the request, one timer and listener per call, cors itself.
  portico(
    'portico-express-cors',
    'portico + express kind (cors)',
    { middleware: [{ express: { use: 'cors' } }] },
    { check: corsRan },
  ),
  portico('portico-log', 'portico + logging', { middleware: [logging], logging: true }),
  portico('portico-log-trace', 'portico + logging + tracing', {
    middleware: [logging, tracing],
    logging: true,
    tracing: true,
  }),
  portico('portico-log-rl', 'portico + logging + rateLimit(redis)', {
    middleware: [logging, rateLimit],
    logging: true,
    rateLimit: true,
    redis: true,
  }),
  portico('portico-full', 'portico full chain (log+trace+rl redis)', {
    middleware: [logging, tracing, rateLimit],
    logging: true,
    tracing: true,
    rateLimit: true,
    redis: true,
  }),
  // The bench's clients all share one address, coalescing's best case (one Redis command per turn for all of them);
  // here every request has its own key, the case coalescing cannot merge.
  portico('portico-full-keys', 'portico full chain, a key per request', { ...FULL_CHAIN_KEYED }),
  portico('portico-c256', `portico, no middleware, ${MANY_CONNECTIONS} connections`, {
    middleware: [],
    ...MANY_CLIENTS,
  }),
  portico('portico-full-keys-c256', `portico full chain, a key per request, ${MANY_CONNECTIONS} conn.`, {
    ...FULL_CHAIN_KEYED,
    ...MANY_CLIENTS,
  }),
  portico('portico-rl-redis', 'portico + rateLimit (redis)', { middleware: [rateLimit], rateLimit: true, redis: true }),
  portico('portico-rl-memory', 'portico + rateLimit (in-process)', { middleware: [rateLimit], rateLimit: true }),
  portico('portico-mirror', 'portico + 10% mirror', { middleware: [], mirror: 0.1 }),
  // Issue 20's cost row: to be within the spread of the `portico` row (one upstream, no middleware).
  portico(
    'portico-resilience',
    'portico, 3 upstreams + health checks + outlier detection',
    { middleware: [], resilience: true },
    { check: resilienceRan },
  ),
  // Async routes: 202s per second (every request stored, then delivered to the upstream on the same core).
  {
    ...portico('portico-async-memory', 'async route accepts, in-process (202/s)', { middleware: [], async: true }),
    status: 202,
  },
  {
    ...portico('portico-async-redis', 'async route accepts, redis streams (202/s)', {
      middleware: [],
      async: true,
      redis: true,
    }),
    status: 202,
  },
  portico('users-hit', 'user lookup, cache hit (redis)', { users: 'hit', redis: true }),
  portico('users-miss', 'user lookup, miss (cache off, db)', { users: 'miss', redis: true }),
];

/**
 * Named subsets for BENCH_ONLY (mixable with target ids): `issue22` is what issue 22 compares (its targets, the
 * tail, the many-clients rows, the peers), `peers` the peers with the rows they are compared with, `tail` the
 * 256-connection rows with their 32-connection counterparts.
 */
export const SETS = {
  issue22: [
    'nginx',
    'engine',
    'express-chain',
    'fastify-chain',
    'fastify-bare',
    'engine-c256',
    'portico',
    'portico-log-rl',
    'portico-full',
    'portico-full-keys',
    'portico-c256',
    'portico-full-keys-c256',
  ],
  peers: ['engine', 'express-chain', 'fastify-chain', 'fastify-bare', 'portico', 'portico-full'],
  tail: ['engine', 'engine-c256', 'portico', 'portico-c256', 'portico-full-keys', 'portico-full-keys-c256'],
};

/** BENCH_ONLY's comma list, with set names expanded; undefined (everything) when empty. */
export function selectTargets(only) {
  const names = only
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!names || names.length === 0) return TARGETS;
  const ids = new Set(names.flatMap((name) => SETS[name] ?? [name]));
  const unknown = [...ids].filter((id) => !TARGETS.some((t) => t.id === id));
  if (unknown.length > 0) {
    throw new Error(
      `BENCH_ONLY: unknown ${unknown.join(', ')} (sets: ${Object.keys(SETS).join(', ')}; targets: ${TARGETS.map((t) => t.id).join(', ')})`,
    );
  }
  return TARGETS.filter((t) => ids.has(t.id));
}

/** The target named `id`; an unknown id throws, naming the known ones. */
export function targetById(id) {
  const target = TARGETS.find((t) => t.id === id);
  if (!target) throw new Error(`unknown target ${id} (known: ${TARGETS.map((t) => t.id).join(', ')})`);
  return target;
}
