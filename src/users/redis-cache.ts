/**
 * The shared user cache in Redis. `<prefix><id>` holds the user's JSON (or `-` for a known-absent user) with a
 * PX TTL; `<prefix><id>:v` (on a Cluster `{<prefix><id>}:v`, same slot) holds the id's version, bumped by every
 * invalidation. The hit path is one MGET.
 * A fill writes through a script that compares the version first, so the check and the write are atomic.
 * Failure bounds come from the client (Stores.cacheClient: no offline queue, short command timeout, no retries).
 */
import { Cluster } from 'ioredis';
import type { RedisClient } from '../stores/connect.js';
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

/**
 * Redis Cluster: MGET, the fill script and the invalidation transaction touch the entry and its version, so both
 * must share a slot. `{<entry>}:v` hashes exactly like `<entry>` (a hash tag equal to the whole entry key); a
 * prefix that carries its own hash tag already puts `<entry>:v` beside the entry. (A prefix with a stray `}` and
 * no complete tag cannot share a slot this way; its commands fail with CROSSSLOT, visibly.)
 */
function clusterVersionKey(entry: string): string {
  const open = entry.indexOf('{');
  const close = open === -1 ? -1 : entry.indexOf('}', open + 1);
  return close > open + 1 ? `${entry}:v` : `{${entry}}:v`;
}

export function redisCache(client: RedisClient, options: { keyPrefix: string; versionTtl: number }): UserCache {
  const key = (id: string): string => options.keyPrefix + id;
  const versionKey =
    client instanceof Cluster
      ? (id: string): string => clusterVersionKey(key(id))
      : (id: string): string => `${key(id)}:v`;
  return {
    kind: 'redis',
    async get(id): Promise<CacheRead> {
      const [raw, version] = await client.mget(key(id), versionKey(id));
      return { value: decode(raw ?? null), version: version ?? '' };
    },
    async set(id, value, ttlMs, version) {
      const stored = await client.eval(
        SET_IF_VERSION,
        2,
        key(id),
        versionKey(id),
        value === null ? ABSENT : value.json,
        ttlMs,
        version,
      );
      return stored === 1;
    },
    async invalidate(id) {
      // The version key outlives any fill that could have read the old version (fills have a deadline).
      const results = await client
        .multi()
        .incr(versionKey(id))
        .pexpire(versionKey(id), options.versionTtl)
        .del(key(id))
        .exec();
      const failed = results?.find(([err]) => err !== null);
      if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('redis transaction aborted');
    },
  };
}
