/**
 * GET /users/:id end to end through Portico's proxy port: real PostgreSQL (own schema), real Redis (own key
 * prefix), the lookup composed by createUserLookup from YAML, as the composition root will do it.
 */
import supertest from 'supertest';
import { Redis } from 'ioredis';
import type { Config } from '../../src/config/schema.js';
import { startPortico, type Portico } from '../../src/main.js';
import { createStores, type Stores } from '../../src/stores/stores.js';
import { createUserLookup, seedUsers, type UserLookup } from '../../src/users/index.js';
import { silentLogger, testConfig } from '../helpers/portico.js';
import { clearKeys, dropSchema, PG_URL, recordingMetrics, sql, uniqueName } from './users-fixtures.js';
import { WAIT_TIMEOUT_MS, waitFor } from '../helpers/wait.js';

const schema = uniqueName('users_http');
const prefix = `portico:${uniqueName('t')}:user:`;
const channel = `portico:${uniqueName('t')}:invalidate`;
const metrics = recordingMetrics();
let config: Config;
let stores: Stores;
let lookup: UserLookup;
let portico: Portico;
let api: ReturnType<typeof supertest>;

function yaml(overrides: { ttl?: string; schemaName?: string } = {}): string {
  return [
    'redis:',
    '  url: redis://127.0.0.1:6379',
    'database:',
    `  url: ${PG_URL}`,
    'userLookup:',
    `  schema: ${overrides.schemaName ?? schema}`,
    '  cache:',
    `    ttl: ${overrides.ttl ?? '1m'}`,
    '    negativeTtl: 1m',
    '    jitter: 0',
    `    keyPrefix: "${prefix}"`,
    `    invalidationChannel: "${channel}"`,
  ].join('\n');
}

/** Polls `path` until its Cache-Status is `wanted` (the cache write happens off the request path). */
async function untilCacheStatus(
  path: string,
  wanted: string,
  timeoutMs = WAIT_TIMEOUT_MS,
): Promise<supertest.Response> {
  let last = '';
  return waitFor(
    async () => {
      const res = await api.get(path);
      last = String(res.headers['cache-status']);
      return last === wanted && res;
    },
    { timeoutMs, message: () => `${path}: Cache-Status ${wanted} (still ${last})` },
  );
}

beforeAll(async () => {
  config = testConfig(yaml());
  expect(await seedUsers(config, silentLogger, 50)).toBe(50);
  stores = await createStores(config.redis, silentLogger);
  lookup = await createUserLookup({ config, stores, logger: silentLogger, metrics });
  portico = await startPortico({ config, logger: silentLogger, stores, metrics, builtins: [lookup.builtin] });
  api = supertest(portico.proxyUrl);
});

afterAll(async () => {
  await portico.shutdown();
  await lookup.close();
  await clearKeys(stores.cacheClient as Redis, prefix);
  await stores.close();
  await dropSchema(schema);
});

describe('GET /users/:id', () => {
  it('answers a miss from the database, then from the cache, with the same body and ETag', async () => {
    const miss = await api.get('/users/7').expect(200);
    expect(miss.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(miss.headers['cache-status']).toBe('portico; fwd=miss; stored');
    expect(miss.body).toEqual({
      id: 7,
      name: 'User 7',
      email: 'user7@example.com',
      createdAt: '2024-01-01T07:00:00.000Z',
    });
    const hit = await untilCacheStatus('/users/7', 'portico; hit');
    expect(hit.status).toBe(200);
    expect(hit.text).toBe(miss.text);
    expect(hit.headers.etag).toBe(miss.headers.etag);
    expect(await (stores.cacheClient as Redis).get(`${prefix}7`)).toBe(miss.text);
    expect(metrics.events).toEqual(expect.arrayContaining(['miss', 'hit']));
  });

  it('answers If-None-Match with 304 and no body', async () => {
    const first = await api.get('/users/8').expect(200);
    const etag = first.headers.etag as string;
    const again = await api.get('/users/8').set('if-none-match', etag).expect(304);
    expect(again.text).toBe('');
    expect(again.headers.etag).toBe(etag);
    await api.get('/users/8').set('if-none-match', '"other"').expect(200);
  });

  it('answers HEAD with the headers only', async () => {
    const res = await api.head('/users/9').expect(200);
    expect(res.headers['content-length']).toBe(
      String(
        Buffer.byteLength(
          JSON.stringify({ id: 9, name: 'User 9', email: 'user9@example.com', createdAt: '2024-01-01T09:00:00.000Z' }),
        ),
      ),
    );
    expect(res.text).toBeUndefined();
  });

  it('answers 400 problem+json for an id that is not a positive integer', async () => {
    const res = await api.get('/users/abc').expect(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.text)).toMatchObject({ code: 'PORTICO_INVALID_USER_ID', status: 400, route: 'userLookup' });
  });

  it('answers 404 for an absent user and remembers the absence (negative caching) until invalidated', async () => {
    const absent = await api.get('/users/900001').expect(404);
    expect(JSON.parse(absent.text)).toMatchObject({ code: 'PORTICO_USER_NOT_FOUND', status: 404 });
    expect(absent.headers['cache-status']).toBe('portico; fwd=miss; stored');
    await sql(`INSERT INTO "${schema}".users (id, name, email) VALUES (900001, 'Late', 'late@example.com')`);
    const remembered = await untilCacheStatus('/users/900001', 'portico; hit');
    expect(remembered.status).toBe(404);
    await lookup.invalidate('900001');
    const found = await api.get('/users/900001').expect(200);
    expect(found.body).toMatchObject({ name: 'Late' });
  });

  it('serves the new row after invalidate(id), and after a PUBLISH on the invalidation channel', async () => {
    await untilCacheStatus('/users/10', 'portico; hit');
    await sql(`UPDATE "${schema}".users SET name = 'Renamed' WHERE id = 10`);
    expect((await api.get('/users/10')).body).toMatchObject({ name: 'User 10' }); // cached: the owner has not invalidated yet
    await lookup.invalidate('10');
    expect((await api.get('/users/10')).body).toMatchObject({ name: 'Renamed' });

    await untilCacheStatus('/users/11', 'portico; hit');
    await sql(`UPDATE "${schema}".users SET name = 'Published' WHERE id = 11`);
    const publisher = new Redis('redis://127.0.0.1:6379');
    try {
      // The subscription may not be live yet: publish again until one invalidation lands.
      await waitFor(
        async () => {
          await publisher.publish(channel, '11');
          return (await api.get('/users/11')).text.includes('"name":"Published"');
        },
        { message: 'the published invalidation to take effect' },
      );
    } finally {
      await publisher.quit();
    }
  });

  it('rejects invalidate() of a malformed id', async () => {
    await expect(lookup.invalidate('../1')).rejects.toMatchObject({ code: 'PORTICO_INVALID_USER_ID' });
  });

  it('leaves other paths and methods to the proxied routes (404 here: no route)', async () => {
    await api.post('/users/7').expect(404);
    await api.get('/users/7/orders').expect(404);
  });
});

describe('TTL expiry', () => {
  it('re-reads the database once an entry outlived its TTL', async () => {
    const short = testConfig(yaml({ ttl: '300ms' }));
    const own = await createUserLookup({ config: short, stores, logger: silentLogger, metrics: recordingMetrics() });
    try {
      await own.invalidate('12');
      expect((await own.service.lookup('12')).outcome).toBe('miss');
      await own.service.close(); // the background write landed
      expect((await own.service.lookup('12')).outcome).toBe('hit');
      await waitFor(async () => (await own.service.lookup('12')).outcome === 'miss', {
        message: 'user 12 to outlive its 300 ms TTL',
      });
    } finally {
      await own.close();
    }
  });
});
