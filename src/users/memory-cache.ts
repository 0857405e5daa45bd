/** The in-process user cache: a bounded LRU with per-entry TTLs, for a single Portico instance. */
import { LRUCache } from 'lru-cache';
import type { CacheRead, UserCache } from './cache.js';
import type { Lookup, UserEntry } from './user.js';

/** lru-cache cannot hold null; a known-absent user is stored as this. */
const ABSENT = Object.freeze({ absent: true as const });

export function memoryCache(options: { maxEntries: number }): UserCache {
  const entries = new LRUCache<string, UserEntry | typeof ABSENT>({ max: options.maxEntries });
  // Versions come from one counter, so a version is never reused even after its record was evicted.
  const versions = new LRUCache<string, number>({ max: options.maxEntries });
  let counter = 0;
  const versionOf = (id: string): string => String(versions.get(id) ?? 0);

  return {
    kind: 'memory',
    async get(id): Promise<CacheRead> {
      const found = entries.get(id);
      return {
        value: found === undefined ? undefined : found === ABSENT ? null : (found as UserEntry),
        version: versionOf(id),
      };
    },
    async set(id: string, value: Lookup, ttlMs: number, version: string) {
      if (versionOf(id) !== version) return false;
      entries.set(id, value ?? ABSENT, { ttl: ttlMs });
      return true;
    },
    async invalidate(id) {
      counter += 1;
      versions.set(id, counter);
      entries.delete(id);
    },
  };
}
