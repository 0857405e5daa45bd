/**
 * The config file's schema: the single source of validation, defaults and the JSON Schema that editors use.
 * Every object is strict (unknown keys are errors); defaults live here and nowhere else. Sections owned by one
 * concern keep their schema beside that concern's code and are composed here.
 */
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { telemetrySchema } from '../telemetry/config.js';
import { redisSchema } from '../stores/config.js';
import { workerPoolSchema } from '../pool/config.js';
import { asyncSchema } from '../tasks/config.js';
import { databaseSchema, userLookupSchema } from '../users/config.js';
import { rateLimitsSchema } from '../middleware/rate-limit/policy.js';
import { duration } from './duration.js';
import { httpUrl, listenAddress, upstreamList } from './address.js';
import { middlewareEntrySchema, type MiddlewareEntryConfig } from './middleware-entry.js';
import { resilienceFields } from '../upstream/config.js';

export { middlewareEntrySchema, type MiddlewareEntryConfig };

/** `10.0.0.0/8`, `::1/128` or a bare address. */
const cidr = z.string().refine(
  (value) => {
    const [address, prefix] = value.split('/');
    const family = isIP(address ?? '');
    if (family === 0) return false;
    if (prefix === undefined) return true;
    const bits = Number(prefix);
    return /^\d{1,3}$/.test(prefix) && bits <= (family === 4 ? 32 : 128);
  },
  { message: 'must be an IP address or CIDR range, e.g. 10.0.0.0/8' },
);

const method = z
  .string()
  .transform((value) => value.toUpperCase())
  .pipe(z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']));

const routeSchema = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9_.-]+$/, 'route names use letters, digits, _ . -')
    .describe('Unique route name (letters, digits, `_ . -`); shown in logs, metrics and problem bodies.'),
  match: z
    .strictObject({
      host: z
        .string()
        .min(1)
        .optional()
        .describe('Exact host, case-insensitive, a trailing dot ignored; with a port it must match the Host port too.'),
      pathPrefix: z
        .string()
        .startsWith('/')
        .default('/')
        .describe('Segment-aware prefix: `/api` matches `/api` and `/api/x`, not `/apix`.'),
      caseInsensitive: z
        .boolean()
        .default(false)
        .describe(
          '`pathPrefix` compares ASCII letters case-insensitively (`/LOGIN` matches `/login`). Turn it on when the upstream routes case-insensitively (Express and ASP.NET by default), so a route and its middleware cannot be skipped by changing case.',
        ),
      methods: z
        .array(method)
        .min(1)
        .optional()
        .describe('Methods the route takes; others get 405 with `Allow`. Absent: any method.'),
    })
    .prefault({})
    .describe(
      'Which requests the route takes. The most specific match wins: a host, then the longer prefix, then named methods, then file order.',
    ),
  upstream: upstreamList.describe(
    'One http(s) URL or a list; an entry may be `{ url, weight }`. Several are balanced by `balance` (round robin by default).',
  ),
  ...resilienceFields,
  stripPrefix: z.boolean().default(false).describe('Remove `match.pathPrefix` from the path before forwarding.'),
  timeout: duration({ min: 1 })
    .default(15_000)
    .describe('Upstream idle timeout: connect, first byte and each gap between bytes. Past it: 504.'),
  maxBodySize: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe('Largest request body forwarded, in bytes; larger gets 413. 0 means no limit.'),
  middleware: z
    .array(middlewareEntrySchema)
    .default([])
    .describe("This route's chain, run after the global `middleware`, in order."),
  excludeMiddleware: z
    .array(z.string())
    .default([])
    .describe('Global middleware kinds this route skips, e.g. `[logging]` for a health route.'),
  mirror: z
    .strictObject({
      upstream: httpUrl.describe('Where copies go (http or https URL); its answers are discarded.'),
      sampleRatio: z.number().min(0).max(1).default(1).describe('Share of requests copied, 0 to 1.'),
      maxBodySize: z
        .number()
        .int()
        .min(0)
        .default(1_048_576)
        .describe('Requests with a larger body (bytes) are not copied.'),
      timeout: duration({ min: 1 }).default(5000).describe('Bound on one mirrored request.'),
    })
    .optional()
    .describe('Copy sampled requests to a shadow upstream on the worker pool, without touching the primary request.'),
  async: asyncSchema.optional(),
});

const serverSchema = z
  .strictObject({
    listen: listenAddress
      .default({ host: '0.0.0.0', port: 8080 })
      .describe('Proxy listener, `host:port` (`:port` for all interfaces).'),
    admin: listenAddress
      .default({ host: '127.0.0.1', port: 9901 })
      .describe(
        'Admin listener (health, readiness, metrics, effective config); beyond loopback it needs `adminToken`.',
      ),
    adminToken: z
      .string()
      .optional()
      .transform((token) => (token === '' ? undefined : token))
      .refine((token) => token === undefined || token.length >= 16, { message: 'must be at least 16 characters' })
      .describe(
        'Required when `admin` binds anything but loopback; every admin call but `/healthz` and `/readyz` must carry it as a bearer token (`/readyz` shows its checks only with it). 16+ characters; empty means none.',
      ),
    trustedProxies: z
      .array(cidr)
      .default([])
      .describe("Peers (IPs or CIDR ranges) whose X-Forwarded-For is believed; everyone else's is replaced."),
    drainTimeout: duration()
      .default(20_000)
      .describe('On SIGTERM/SIGINT: how long in-flight requests may finish before the process exits.'),
    keepAliveTimeout: duration({ min: 1 })
      .default(75_000)
      .describe(
        "Idle client keep-alive; above a typical load balancer's idle timeout (AWS ALB: 60s), so the balancer closes first.",
      ),
    headersTimeout: duration({ min: 1 })
      .default(15_000)
      .describe("Slowloris bound: a request's headers must arrive within this."),
    requestTimeout: duration()
      .default(300_000)
      .describe("Whole-request bound for receiving the request (Node's requestTimeout); 0 disables."),
    connectionsCheckingInterval: duration({ min: 100 })
      .default(1000)
      .describe('How often Node checks headersTimeout/requestTimeout (its default of 30s lets slow clients linger).'),
    maxHeaderSize: z
      .number()
      .int()
      .min(1024)
      .max(1_048_576)
      .default(16_384)
      .describe('Largest request head, in bytes; larger gets 431.'),
    bodyIdleTimeout: duration({ min: 1 })
      .default(30_000)
      .describe('A request body that stalls this long is abandoned (408 if nothing was answered yet).'),
    bodyMinRate: z
      .number()
      .int()
      .min(0)
      .default(500)
      .describe(
        'Slowest request body accepted, in bytes per second on average: a body may take `bodyIdleTimeout` plus one second per `bodyMinRate` bytes received, then it is abandoned like a stalled one (408). 0 disables.',
      ),
    upstreamIdleTimeout: duration({ min: 1 })
      .default(4000)
      .describe(
        "Idle upstream keep-alive sockets are closed after this; keep it below the upstream's own idle timeout. An upstream that announces `Keep-Alive: timeout=N` has its idle sockets closed a second before N when that is sooner.",
      ),
    maxRequestsPerClient: z
      .number()
      .int()
      .min(0)
      .default(256)
      .describe(
        'Requests one client (its address, as rate limits see it) may have in flight at once; more get 429. A WebSocket counts until it closes. Keep it below `upstreamMaxSockets`, so one client cannot hold every upstream socket. 0 disables.',
      ),
    upstreamMaxSockets: z
      .number()
      .int()
      .min(1)
      .default(512)
      .describe('Concurrent sockets per upstream at most; further requests queue for one.'),
  })
  .prefault({})
  .describe('Listeners, client-facing timeouts and the upstream connection pool.');

export const configSchema = z
  .strictObject({
    server: serverSchema,
    redis: redisSchema,
    database: databaseSchema,
    telemetry: telemetrySchema,
    rateLimits: rateLimitsSchema.default({}),
    middleware: z
      .array(middlewareEntrySchema)
      .default([])
      .describe(
        "The global chain, run before each route's own: kind names (`logging`) or one-key maps (`rateLimit: per-client`).",
      ),
    routes: z.array(routeSchema).default([]).describe('Proxied routes; a request no route matches gets 404.'),
    userLookup: userLookupSchema,
    workerPool: workerPoolSchema,
  })
  .describe('Portico config file (YAML). Any string may use `${VAR}` or `${VAR:-default}` from the environment.');

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type ServerConfig = z.output<typeof serverSchema>;

/** Builds a BlockList from validated CIDR strings; `check()` is how the hot path asks "is this peer trusted". */
export function toBlockList(cidrs: readonly string[]): BlockList {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address, prefix] = entry.split('/') as [string, string | undefined];
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address, family);
    else list.addSubnet(address, Number(prefix), family);
  }
  return list;
}
