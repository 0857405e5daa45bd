/**
 * The shared user cache in Redis. `<prefix><id>` holds the user's JSON (or `-` for a known-absent user) with a
 * PX TTL; `<prefix><id>:v` holds the id's version, bumped by every invalidation. The hit path is one MGET.
 * A fill writes through a script that compares the version first, so the check and the write are atomic.
 * Failure bounds come from the client (Stores.cacheClient: no offline queue, short command timeout, no retries).
 */
import type { Redis } from 'ioredis';
import type { CacheRead, UserCache } from './cache.js';
import { etagOf, type Lookup } from './user.js';

const ABSENT = '-';

/** KEYS: entry, version. ARGV: value, ttl ms, version read by the fill ('' when there was none). */
const SET_IF_VERSION = `
local current = redis.call('GET', KEYS[2])
if (current or '') ~= ARGV[3] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

function decode(raw: string | null): Lookup | undefined {
  if (raw === null) return undefined;
  if (raw === ABSENT) return null;
  // Anything but a JSON object (a foreign or corrupt value) is a miss; the fill overwrites it.
  return raw.startsWith('{') ? { json: raw, etag: etagOf(raw) } : undefined;
}

export function redisCache(client: Redis, options: { keyPrefix: string; versionTtl: number }): UserCache {
  const key = (id: string): string => options.keyPrefix + id;
  return {
    kind: 'redis',
    async get(id): Promise<CacheRead> {
      const [raw, version] = await client.mget(key(id), `${key(id)}:v`);
      return { value: decode(raw ?? null), version: version ?? '' };
    },
    async set(id, value, ttlMs, version) {
      const stored = await client.eval(SET_IF_VERSION, 2, key(id), `${key(id)}:v`, value === null ? ABSENT : value.json, ttlMs, version);
      return stored === 1;
    },
    async invalidate(id) {
      // The version key outlives any fill that could have read the old version (fills have a deadline).
      const results = await client.multi().incr(`${key(id)}:v`).pexpire(`${key(id)}:v`, options.versionTtl).del(key(id)).exec();
      const failed = results?.find(([err]) => err !== null);
      if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('redis transaction aborted');
    },
  };
}
