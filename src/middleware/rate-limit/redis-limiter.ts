/**
 * Redis backend: one EVALSHA per key and event-loop turn (rate-limiter-flexible's script: SET NX EX, INCRBY, PTTL;
 * same-key decisions of one turn are coalesced into one increment, see coalesce.ts), atomic, so N
 * concurrent requests across any number of instances admit exactly `limit`: the increment happens before the
 * comparison, never a read-then-write. A client that is not ready fails the call at once (no queueing).
 */
import type { RedisClient } from '../../stores/connect.js';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { coalescing } from './coalesce.js';
import { BURST_KEY_PREFIX, KEY_PREFIX, fromFlexible, type Limiter, type LimiterSpec } from './limiter.js';

export function redisLimiter(client: RedisClient, spec: LimiterSpec): Limiter {
  const common = { storeClient: client, rejectIfRedisNotReady: true } as const;
  const main = new RateLimiterRedis({ ...common, keyPrefix: KEY_PREFIX, points: spec.limit, duration: spec.windowMs / 1000 });
  const burst = spec.burst > 0 ? new RateLimiterRedis({ ...common, keyPrefix: BURST_KEY_PREFIX, points: spec.burst, duration: spec.burstWindowMs / 1000 }) : undefined;
  return fromFlexible(coalescing(main), burst === undefined ? undefined : coalescing(burst));
}
