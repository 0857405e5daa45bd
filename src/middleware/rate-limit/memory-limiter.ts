/** In-process backend: exact for one Portico instance; the fallback of the Redis backend with onStoreError local. */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { BURST_KEY_PREFIX, KEY_PREFIX, fromFlexible, type Limiter, type LimiterSpec } from './limiter.js';

export function memoryLimiter(spec: LimiterSpec): Limiter {
  const main = new RateLimiterMemory({ keyPrefix: KEY_PREFIX, points: spec.limit, duration: spec.windowMs / 1000 });
  const burst =
    spec.burst > 0
      ? new RateLimiterMemory({ keyPrefix: BURST_KEY_PREFIX, points: spec.burst, duration: spec.burstWindowMs / 1000 })
      : undefined;
  return fromFlexible(main, burst);
}
