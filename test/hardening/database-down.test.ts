/**
 * A database that is down when Portico starts: cached users still answer (from Redis, which outlives a restart),
 * uncached ones get 503 with Retry-After, while the connection is retried in the background.
 */
import { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import { request } from '../helpers/http.js';
import { closedPort } from '../helpers/upstream.js';
import { portico, stopAll } from './support.js';

const prefix = `portico:hardening-${randomUUID()}:user:`;
const redis = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 1 });
const CACHED = JSON.stringify({
  id: 42,
  name: 'Cached',
  email: 'cached@example.com',
  createdAt: '2020-01-01T00:00:00.000Z',
});

beforeAll(async () => {
  await redis.connect();
  await redis.set(`${prefix}42`, CACHED, 'PX', 60_000);
});
afterEach(stopAll);
afterAll(async () => {
  await redis.del(`${prefix}42`, `${prefix}43`);
  redis.disconnect();
});

describe('a database down at start', () => {
  it('serves cached users and answers 503 only for users that are not cached', async () => {
    const closed = await closedPort();
    const yaml = [
      'redis:',
      '  url: redis://127.0.0.1:6379',
      'database:',
      `  url: postgres://postgres@127.0.0.1:${closed}/test`,
      '  connectTimeout: 300ms',
      'userLookup:',
      '  retryAfter: 7s',
      `  cache: { keyPrefix: "${prefix}" }`,
      '',
    ].join('\n');
    const p = await portico(yaml);
    const cached = await request(`${p.portico.proxyUrl}/users/42`);
    expect([cached.status, cached.body]).toEqual([200, CACHED]);
    expect(cached.headers['cache-status']).toBe('portico; hit');
    const uncached = await request(`${p.portico.proxyUrl}/users/43`);
    expect(uncached.status).toBe(503);
    expect(uncached.headers['retry-after']).toBe('7');
    expect(JSON.parse(uncached.body)).toMatchObject({ code: 'PORTICO_DATABASE_UNAVAILABLE' });
    // Nothing was written back for the user the database could not answer.
    expect(await redis.exists(`${prefix}43`)).toBe(0);
  });
});
