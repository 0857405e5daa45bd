/**
 * The limiter contract shared by the memory and Redis backends (Traefik's `limiter` interface): one call per
 * decision. "Denied is a value, failed is an error": rate-limiter-flexible rejects with a RateLimiterRes when the
 * limit is reached and with an Error when the store failed; here the first becomes a resolved Decision and only
 * the second rejects.
 */
import { BurstyRateLimiter, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Consumer } from './coalesce.js';

export interface Decision {
  readonly allowed: boolean;
  /** Units left in the current window; never negative. */
  readonly remaining: number;
  /** Milliseconds until the window resets (a unit frees). */
  readonly resetMs: number;
}

export interface Limiter {
  /** Counts one unit for `key`. Resolves with the decision; rejects only when the store failed. */
  consume(key: string): Promise<Decision>;
}

/** The numbers a backend needs; windows in milliseconds, whole seconds. */
export interface LimiterSpec {
  readonly limit: number;
  readonly windowMs: number;
  readonly burst: number;
  readonly burstWindowMs: number;
}

/** Counter key prefixes: `portico:rl:{<policy>:<client>}` and its burst bucket `portico:rl:burst:{…}`. */
export const KEY_PREFIX = 'portico:rl';
export const BURST_KEY_PREFIX = 'portico:rl:burst';

function allowed(res: RateLimiterRes): Decision {
  return { allowed: true, remaining: Math.max(res.remainingPoints, 0), resetMs: Math.max(res.msBeforeNext, 0) };
}

function deniedOrFailed(reason: unknown): Decision {
  if (reason instanceof RateLimiterRes)
    return { allowed: false, remaining: 0, resetMs: Math.max(reason.msBeforeNext, 0) };
  throw reason instanceof Error ? reason : new Error(String(reason));
}

/**
 * Wraps rate-limiter-flexible limiters: `burst` > 0 adds a second bucket consulted only once the main one is
 * exhausted (so a request under the limit still costs one store call; one past it, two).
 */
export function fromFlexible(main: Consumer, burst: Consumer | undefined): Limiter {
  // BurstyRateLimiter calls only `consume` and `points` of the limiters it combines (a coalescing wrapper's whole
  // surface; test/contracts/rate-limiter-flexible.test.ts).
  const limiter =
    burst === undefined ? main : new BurstyRateLimiter(main as RateLimiterAbstract, burst as RateLimiterAbstract);
  return {
    consume: (key) => limiter.consume(key).then(allowed, deniedOrFailed),
  };
}
