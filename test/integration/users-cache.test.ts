/** One contract for both user caches: the in-process LRU and Redis (the real one, under a unique key prefix). */
import { Redis } from 'ioredis';
import { clientOptions } from '../../src/stores/redis.js';
import { redisSchema } from '../../src/stores/config.js';
import type { UserCache } from '../../src/users/cache.js';
import { memoryCache } from '../../src/users/memory-cache.js';
import { redisCache } from '../../src/users/redis-cache.js';
import { entryOf } from '../../src/users/user.js';
import { waitFor } from '../helpers/http.js';
import { clearKeys, uniqueName } from './users-fixtures.js';

const ada = entryOf({ id: 1, name: 'Ada', email: 'ada@example.com', createdAt: '2024-01-01T00:00:00.000Z' });
const grace = entryOf({ id: 1, name: 'Grace', email: 'grace@example.com', createdAt: '2024-01-01T00:00:00.000Z' });
const prefix = `portico:${uniqueName('test')}:user:`;
const client = new Redis(
  'redis://127.0.0.1:6379',
  clientOptions(redisSchema.parse({ url: 'redis://127.0.0.1:6379' }), 'cache'),
);

afterAll(async () => {
  await clearKeys(client, prefix);
  await client.quit();
});

describe.each<[string, () => UserCache]>([
  ['memory', () => memoryCache({ maxEntries: 100 })],
  ['redis', () => redisCache(client, { keyPrefix: prefix, versionTtl: 60_000 })],
])('user cache contract: %s', (_name, make) => {
  let cache: UserCache;
  beforeAll(async () => {
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  });
  beforeEach(() => {
    cache = make();
  });

  it('misses an id never stored', async () => {
    expect((await cache.get('1001')).value).toBeUndefined();
  });

  it('returns a stored user with its ETag, and a stored absence as null', async () => {
    const first = await cache.get('1002');
    expect(await cache.set('1002', ada, 60_000, first.version)).toBe(true);
    expect((await cache.get('1002')).value).toEqual(ada);
    const absent = await cache.get('1003');
    expect(await cache.set('1003', null, 60_000, absent.version)).toBe(true);
    expect((await cache.get('1003')).value).toBeNull();
  });

  it('expires entries after their TTL', async () => {
    const read = await cache.get('1004');
    await cache.set('1004', ada, 150, read.version);
    expect((await cache.get('1004')).value).toEqual(ada);
    await waitFor(async () => (await cache.get('1004')).value === undefined, { message: 'entry 1004 to expire' });
  });

  it('drops a write whose version an invalidation moved on (no stale write-back)', async () => {
    const before = await cache.get('1005');
    await cache.invalidate('1005');
    expect(await cache.set('1005', ada, 60_000, before.version)).toBe(false);
    expect((await cache.get('1005')).value).toBeUndefined();
    const after = await cache.get('1005');
    expect(after.version).not.toBe(before.version);
    expect(await cache.set('1005', grace, 60_000, after.version)).toBe(true);
    expect((await cache.get('1005')).value).toEqual(grace);
  });

  it('invalidate removes a cached entry', async () => {
    const read = await cache.get('1006');
    await cache.set('1006', ada, 60_000, read.version);
    await cache.invalidate('1006');
    expect((await cache.get('1006')).value).toBeUndefined();
  });

  it('keeps ids apart', async () => {
    const read = await cache.get('1007');
    await cache.set('1007', ada, 60_000, read.version);
    await cache.invalidate('1008');
    expect((await cache.get('1007')).value).toEqual(ada);
    expect((await cache.get('1008')).value).toBeUndefined();
  });
});

describe('redis cache layout', () => {
  it('stores user 42 at <prefix>42 with a PX TTL, and an absence as "-"', async () => {
    await waitFor(() => client.status === 'ready', { message: 'redis' });
    const cache = redisCache(client, { keyPrefix: prefix, versionTtl: 60_000 });
    await cache.set('42', ada, 60_000, (await cache.get('42')).version);
    await cache.set('43', null, 60_000, (await cache.get('43')).version);
    expect(await client.get(`${prefix}42`)).toBe(ada.json);
    expect(await client.get(`${prefix}43`)).toBe('-');
    const ttl = await client.pttl(`${prefix}42`);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await cache.invalidate('42');
    expect(await client.pttl(`${prefix}42:v`)).toBeGreaterThan(0);
  });

  it('treats a foreign value under the key as a miss', async () => {
    const cache = redisCache(client, { keyPrefix: prefix, versionTtl: 60_000 });
    await client.set(`${prefix}44`, 'not json', 'PX', 60_000);
    expect((await cache.get('44')).value).toBeUndefined();
  });
});
