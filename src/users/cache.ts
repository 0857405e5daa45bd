/**
 * The user cache: one interface, a Redis and an in-process LRU implementation (redis-cache.ts, memory-cache.ts),
 * one contract test suite for both. A read returns the id's version along with the value; a write carries that
 * version back and is dropped when an invalidation moved it in between, so a slow fill can never write back a
 * value older than the invalidation that raced it. A store failure is thrown; the service decides what it costs.
 */
import type { Lookup } from './user.js';

export interface CacheRead {
  /** undefined: not cached; null: cached as absent; otherwise the user. */
  readonly value: Lookup | undefined;
  /** Opaque; pass it to `set` for the fill this read started. */
  readonly version: string;
}

export interface UserCache {
  readonly kind: 'redis' | 'memory';
  get(id: string): Promise<CacheRead>;
  /** Stores `value` for `ttlMs` unless `id` was invalidated after `version` was read; false when skipped. */
  set(id: string, value: Lookup, ttlMs: number, version: string): Promise<boolean>;
  /** Drops the entry and moves the version on, so in-flight fills for `id` are discarded. */
  invalidate(id: string): Promise<void>;
}

/** `base` plus up to `jitter × base`, so entries filled together do not all expire in the same instant. */
export function ttlWithJitter(base: number, jitter: number, random: () => number = Math.random): number {
  return Math.max(1, Math.round(base * (1 + jitter * random())));
}
