/**
 * The stores a plan runs on. Without a Redis (`redis.url`, `redis.sentinels` or `redis.cluster`) every store is
 * in-process (one Portico instance only); with one, Redis clients are created once and shared by the rate limiter
 * and the user cache. Built by the composition root and injected; reloads reuse the same Stores when the `redis`
 * section did not change.
 */
import type { Logger } from 'pino';
import { redisMode, type RedisConfig } from './config.js';
import type { RedisClient } from './connect.js';
import { createRedisStores } from './redis.js';

export type StoreClientName = 'limit' | 'cache';
export type { RedisClient };

export interface StoreHealth {
  readonly kind: 'memory' | 'redis';
  /** False: some client is disconnected or its commands fail; users run on their configured fallback. */
  readonly healthy: boolean;
  /** Which client is degraded and why, e.g. `limit: connect ECONNREFUSED 127.0.0.1:6379`. */
  readonly detail?: string;
}

export interface Stores {
  readonly kind: 'memory' | 'redis';
  /** Client for rate limits: offline queue off, short command timeout, no retries (a dead Redis fails fast). */
  readonly limitClient: RedisClient | undefined;
  /** Client for the user cache; same failure bounds. */
  readonly cacheClient: RedisClient | undefined;
  health(): StoreHealth;
  /**
   * Users report command outcomes so health reflects a Redis that is connected but failing (timeouts, OOM),
   * not only the socket state. Both are O(1) and log only on a transition.
   */
  reportFailure(client: StoreClientName, err: unknown): void;
  reportSuccess(client: StoreClientName): void;
  close(): Promise<void>;
}

export function memoryStores(): Stores {
  return {
    kind: 'memory',
    limitClient: undefined,
    cacheClient: undefined,
    health: () => ({ kind: 'memory', healthy: true }),
    reportFailure: () => {},
    reportSuccess: () => {},
    close: async () => {},
  };
}

/**
 * Stores for a `redis` section: in-process when it names no Redis, else Redis clients. Resolves once both clients
 * are ready or `connectTimeout` has passed: a Redis that is down at start leaves Portico serving, degraded.
 */
export async function createStores(config: RedisConfig, logger: Logger): Promise<Stores> {
  if (redisMode(config) === 'memory') return memoryStores();
  return createRedisStores(config, logger);
}
