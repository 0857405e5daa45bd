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
import { databaseSchema, userLookupSchema } from '../users/config.js';
import { rateLimitsSchema } from '../middleware/rate-limit/policy.js';
import { duration } from './duration.js';
import { httpUrl, listenAddress, upstreamList } from './address.js';
import { middlewareEntrySchema, type MiddlewareEntryConfig } from './middleware-entry.js';

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
  name: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'route names use letters, digits, _ . -'),
  match: z
    .strictObject({
      /** Exact host, case-insensitive; with a port it must match the Host port too. */
      host: z.string().min(1).optional(),
      /** Segment-aware prefix: `/api` matches `/api` and `/api/x`, not `/apix`. */
      pathPrefix: z.string().startsWith('/').default('/'),
      methods: z.array(method).min(1).optional(),
    })
    .prefault({}),
  /** One URL or a list (round robin). */
  upstream: upstreamList,
  stripPrefix: z.boolean().default(false),
  /** Upstream idle timeout: connect, first byte and each gap between bytes. Past it: 504. */
  timeout: duration({ min: 1 }).default(15_000),
  /** Largest request body forwarded; larger gets 413. 0 means no limit. */
  maxBodySize: z.number().int().min(0).default(0),
  middleware: z.array(middlewareEntrySchema).default([]),
  /** Global middleware kinds this route skips, e.g. `[logging]` for a health route. */
  excludeMiddleware: z.array(z.string()).default([]),
  mirror: z
    .strictObject({
      upstream: httpUrl,
      sampleRatio: z.number().min(0).max(1).default(1),
      maxBodySize: z.number().int().min(0).default(1_048_576),
      timeout: duration({ min: 1 }).default(5000),
    })
    .optional(),
});

const serverSchema = z
  .strictObject({
    listen: listenAddress.default({ host: '0.0.0.0', port: 8080 }),
    admin: listenAddress.default({ host: '127.0.0.1', port: 9901 }),
    /** Required when `admin` binds anything but loopback; every admin call must carry it as a bearer token. */
    adminToken: z
      .string()
      .optional()
      .transform((token) => (token === '' ? undefined : token))
      .refine((token) => token === undefined || token.length >= 16, { message: 'must be at least 16 characters' }),
    trustedProxies: z.array(cidr).default([]),
    drainTimeout: duration().default(20_000),
    /** Above a typical load balancer's idle timeout (AWS ALB: 60s), so the balancer closes first. */
    keepAliveTimeout: duration({ min: 1 }).default(75_000),
    /** Slowloris bound: a request's headers must arrive within this. */
    headersTimeout: duration({ min: 1 }).default(15_000),
    /** Whole-request bound for receiving the request (Node's requestTimeout); 0 disables. */
    requestTimeout: duration().default(300_000),
    /** How often Node checks headersTimeout/requestTimeout (its default of 30s lets slow clients linger). */
    connectionsCheckingInterval: duration({ min: 100 }).default(1000),
    maxHeaderSize: z.number().int().min(1024).max(1_048_576).default(16_384),
    /** A request body that stalls this long is abandoned (408 if nothing was answered yet). */
    bodyIdleTimeout: duration({ min: 1 }).default(30_000),
    /** Idle upstream keep-alive sockets are closed after this; keep it below the upstream's own idle timeout. */
    upstreamIdleTimeout: duration({ min: 1 }).default(4000),
    upstreamMaxSockets: z.number().int().min(1).default(512),
  })
  .prefault({});

export const configSchema = z.strictObject({
  server: serverSchema,
  redis: redisSchema,
  database: databaseSchema,
  telemetry: telemetrySchema,
  rateLimits: rateLimitsSchema.default({}),
  middleware: z.array(middlewareEntrySchema).default([]),
  routes: z.array(routeSchema).default([]),
  userLookup: userLookupSchema,
  workerPool: workerPoolSchema,
});

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
