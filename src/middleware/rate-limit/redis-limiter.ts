/**
 * Redis backend: one EVALSHA per key and event-loop turn (rate-limiter-flexible's script: SET NX EX, INCRBY, PTTL;
 * same-key decisions of one turn are coalesced into one increment, see coalesce.ts), atomic, so N
 * concurrent requests across any number of instances admit exactly `limit`: the increment happens before the
 * comparison, never a read-then-write. A client that is not ready fails the call at once (no queueing).
 */
import type { RedisClient } from '../../stores/connect.js';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { flushGroup, type FlushGroup } from '../../turn.js';
import { coalescing } from './coalesce.js';
import { BURST_KEY_PREFIX, KEY_PREFIX, fromFlexible, type Limiter, type LimiterSpec } from './limiter.js';

const groups = new WeakMap<RedisClient, FlushGroup>();

/**
 * The flush group of every limiter on `client`. A single-node client's socket is corked while the turn's commands
 * are issued (rate-limiter-flexible reaches ioredis's synchronous write without awaiting), so they leave in one
 * write; a Cluster client spreads commands over several node sockets and is left as it is. The synchronous write is
 * not promised by either library: test/contracts/rate-limiter-flexible.test.ts checks it.
 */
function groupFor(client: RedisClient): FlushGroup {
  let group = groups.get(client);
  if (group === undefined) {
    group = flushGroup(() => {
      const stream = 'stream' in client ? client.stream : undefined;
      if (stream === undefined || stream.destroyed) return undefined;
      stream.cork();
      return () => stream.uncork();
    });
    groups.set(client, group);
  }
  return group;
}

export function redisLimiter(client: RedisClient, spec: LimiterSpec): Limiter {
  const common = { storeClient: client, rejectIfRedisNotReady: true } as const;
  const main = new RateLimiterRedis({
    ...common,
    keyPrefix: KEY_PREFIX,
    points: spec.limit,
    duration: spec.windowMs / 1000,
  });
  const burst =
    spec.burst > 0
      ? new RateLimiterRedis({
          ...common,
          keyPrefix: BURST_KEY_PREFIX,
          points: spec.burst,
          duration: spec.burstWindowMs / 1000,
        })
      : undefined;
  const group = groupFor(client);
  return fromFlexible(coalescing(main, group), burst === undefined ? undefined : coalescing(burst, group));
}
