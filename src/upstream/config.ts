/**
 * The route keys of upstream resilience: how a route balances over its upstreams, checks them, ejects failing ones,
 * retries on another and bounds what it piles on one. Every key is optional; a route with none of them (and equal
 * weights) forwards exactly as before (src/proxy/forward.ts `createForwarder`).
 */
import { z } from 'zod';
import { duration } from '../config/duration.js';

/** `20%` or a bare number of percent (0 to 100), as a share from 0 to 1. */
const percent = z
  .union([
    z.number().min(0).max(100).describe('percent'),
    z
      .string()
      .regex(/^\d+(?:\.\d+)?%$/, 'must be a percentage such as 20%')
      .describe('a percentage such as `20%`'),
  ])
  .transform((value, ctx) => {
    const share = (typeof value === 'number' ? value : Number(value.slice(0, -1))) / 100;
    if (share > 1) {
      ctx.addIssue({ code: 'custom', message: `invalid percentage "${String(value)}" (use 0% to 100%)` });
      return z.NEVER;
    }
    return share;
  });

export const BALANCE_POLICIES = ['round-robin', 'least-request', 'random'] as const;
export type BalancePolicy = (typeof BALANCE_POLICIES)[number];

export const balanceSchema = z
  .enum(BALANCE_POLICIES)
  .optional()
  .describe(
    'How requests spread over the upstreams: `round-robin` (the default; smooth weighted round robin), `least-request` (power of two choices: of two upstreams drawn by weight, the one with fewer requests in flight per unit of weight) or `random` (drawn by weight). Unhealthy and ejected upstreams are skipped.',
  );

export const healthCheckSchema = z
  .strictObject({
    path: z
      .string()
      .startsWith('/')
      .default('/health')
      .describe(
        "Path requested with GET on each upstream's origin (an upstream's base path is not prepended); a 2xx or 3xx answer within `timeout` passes.",
      ),
    interval: duration({ min: 10 }).default(5000).describe('Time between two checks of one upstream.'),
    timeout: duration({ min: 1 }).default(1000).describe('A check not answered within this fails.'),
    healthyThreshold: z
      .number()
      .int()
      .min(1)
      .default(2)
      .describe('Consecutive passed checks that put an unhealthy upstream back.'),
    unhealthyThreshold: z
      .number()
      .int()
      .min(1)
      .default(3)
      .describe('Consecutive failed checks that take a healthy upstream out.'),
  })
  .refine((check) => check.timeout <= check.interval, {
    message: 'timeout must not exceed interval',
    path: ['timeout'],
  })
  .optional()
  .describe(
    'Active health checks, off the request path: each upstream is probed every `interval` (first at load), and taken out of the balance after `unhealthyThreshold` failures in a row until `healthyThreshold` passes in a row. An upstream starts healthy; health is kept per upstream URL across reloads, and an upstream listed by several routes is checked once, with the settings of the first route that lists it.',
  );

export const outlierDetectionSchema = z
  .strictObject({
    consecutiveFailures: z
      .number()
      .int()
      .min(1)
      .default(5)
      .describe('Failures in a row (connect failure, reset, timeout or a 5xx answer) that eject an upstream.'),
    baseEjection: duration({ min: 1 })
      .default(30_000)
      .describe('Ejection time of a first ejection; the n-th ejection in a row lasts n times this.'),
    maxEjection: duration({ min: 1 })
      .default(300_000)
      .describe('Longest ejection, whatever the count of ejections in a row.'),
    maxEjectionPercent: z
      .number()
      .min(0)
      .max(100)
      .default(50)
      .describe(
        "Share of the route's upstreams that may be ejected at once (at least one when above 0); a failing upstream beyond it stays in.",
      ),
  })
  .optional()
  .describe(
    'Passive ejection: an upstream whose requests fail `consecutiveFailures` times in a row is left out of the balance for `baseEjection` times the number of its ejections in a row (capped by `maxEjection`), then tried again.',
  );

export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', '502', '503', '504'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

export const retrySchema = z
  .strictObject({
    attempts: z
      .number()
      .int()
      .min(2)
      .max(10)
      .default(2)
      .describe('Tries of one request at most, the first included (2: one retry).'),
    on: z
      .array(
        z
          .union([z.enum(RETRY_CONDITIONS), z.literal(502), z.literal(503), z.literal(504)], {
            error: 'must be connect-failure, reset, timeout, 502, 503 or 504',
          })
          .transform((condition) => String(condition) as RetryCondition),
      )
      .min(1)
      .prefault(['connect-failure', 'reset', 502, 503, 504])
      .describe(
        'What is retried: `connect-failure` (the upstream refused or was unreachable: nothing reached it), `reset` (the connection closed before a response), `timeout` (no response head in time), or an upstream answer of `502`, `503`, `504`.',
      ),
    budget: percent
      .prefault('20%')
      .describe(
        'Retries in flight on the route may be at most this share of its requests in flight (`20%`), so that retries cannot multiply an outage.',
      ),
    minRetries: z
      .number()
      .int()
      .min(0)
      .default(3)
      .describe('Retries in flight always allowed, whatever the budget (a quiet route may still retry).'),
  })
  .optional()
  .describe(
    'Retry a failed request on another upstream of the route, only when it is safe: nothing of the response reached the client, and either the request body was not sent (a refused connection) or the method is idempotent (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) and has no body. Responses carry `x-portico-attempts` when a request was retried.',
  );

export const circuitBreakerSchema = z
  .strictObject({
    maxRequests: z
      .number()
      .int()
      .min(1)
      .default(1000)
      .describe('Requests in flight to one upstream at most (through routes with a circuit breaker).'),
    maxPending: z
      .number()
      .int()
      .min(1)
      .default(100)
      .describe(
        'Requests waiting for a connection to one upstream at most (waiting: every pooled socket to it, `server.upstreamMaxSockets`, busy).',
      ),
  })
  .optional()
  .describe(
    'Bounds on what one upstream may have on its plate. An upstream at a bound takes no more: another upstream of the route takes the request, and when none can, Portico answers 503 (`PORTICO_UPSTREAM_OVERLOADED`) with `Retry-After` at once instead of queueing.',
  );

export const criticalSchema = z
  .boolean()
  .default(false)
  .describe(
    'When every upstream of the route is down (failed health checks or ejected), `/readyz` answers 503: the pod leaves the Service endpoints. Needs `healthCheck` or `outlierDetection`.',
  );

/** The resilience keys of a route, spread into the route schema (src/config/schema.ts). */
export const resilienceFields = {
  balance: balanceSchema,
  healthCheck: healthCheckSchema,
  outlierDetection: outlierDetectionSchema,
  retry: retrySchema,
  circuitBreaker: circuitBreakerSchema,
  critical: criticalSchema,
};

export type HealthCheckConfig = NonNullable<z.output<typeof healthCheckSchema>>;
export type OutlierConfig = NonNullable<z.output<typeof outlierDetectionSchema>>;
export type RetryConfig = NonNullable<z.output<typeof retrySchema>>;
export type BreakerConfig = NonNullable<z.output<typeof circuitBreakerSchema>>;
