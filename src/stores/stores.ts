/**
 * The stores a plan runs on. Without `redis.url` every store is in-process (one Portico instance only); with it,
 * Redis clients are created once and shared by the rate limiter and the user cache. Built by the composition root
 * and injected; reloads reuse the same Stores when the `redis` section did not change.
 */
import type { Redis } from 'ioredis';

export interface StoreHealth {
  readonly kind: 'memory' | 'redis';
  readonly healthy: boolean;
  readonly detail?: string;
}

export interface Stores {
  readonly kind: 'memory' | 'redis';
  /** Client for rate limits: offline queue off, short command timeout, no retries (a dead Redis fails fast). */
  readonly limitClient: Redis | undefined;
  /** Client for the user cache; same failure bounds. */
  readonly cacheClient: Redis | undefined;
  health(): StoreHealth;
  close(): Promise<void>;
}

export function memoryStores(): Stores {
  return {
    kind: 'memory',
    limitClient: undefined,
    cacheClient: undefined,
    health: () => ({ kind: 'memory', healthy: true }),
    close: async () => {},
  };
}
