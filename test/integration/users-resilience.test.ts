/**
 * The user lookup under concurrency and failure, through Portico's proxy port: 1000 concurrent misses make one
 * query, a slow fill never writes back over an invalidation, a Redis killed mid-traffic costs nothing but cache
 * hits, a database that goes away answers 503 + Retry-After while cached users still answer, and the embedded
 * defaults serve with no database and no Redis configured.
 */
import http from 'node:http';
import supertest from 'supertest';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/config/schema.js';
import { startPortico, type Portico } from '../../src/main.js';
import { createStores, memoryStores, type Stores } from '../../src/stores/stores.js';
import { openDatabase, type Database } from '../../src/users/database.js';
import { userLookupRoute } from '../../src/users/http.js';
import { createUserLookup, type UserLookup } from '../../src/users/index.js';
import { redisCache } from '../../src/users/redis-cache.js';
import { SqlUserRepository, type UserRepository } from '../../src/users/repository.js';
import { deferredRunner } from '../../src/users/runner.js';
import { createUserService, type UserService } from '../../src/users/service.js';
import { userSql } from '../../src/users/sql.js';
import type { User } from '../../src/users/user.js';
import { START_TIMEOUT_MS, waitFor } from '../helpers/wait.js';
import { silentLogger, testConfig } from '../helpers/portico.js';
import {
  capturedLogger,
  clearKeys,
  dropSchema,
  Gate,
  PG_URL,
  recordingMetrics,
  sql,
  startRedisServer,
  startTcpProxy,
  uniqueName,
  type RedisServer,
} from './users-fixtures.js';

const schema = uniqueName('users_res');
const prefix = `portico:${uniqueName('t')}:user:`;

/** Scheduling slack (ms) for a bound on a busy machine; well below what a missing bound would cost. */
const SLACK_MS = 3000;

function yaml(databaseUrl: string, redisUrl: string): string {
  return [
    ...(redisUrl === '' ? [] : ['redis:', `  url: ${redisUrl}`, '  commandTimeout: 200ms']),
    'database:',
    `  url: ${databaseUrl}`,
    '  connectTimeout: 500ms',
    '  statementTimeout: 500ms',
    'userLookup:',
    `  schema: ${schema}`,
    '  retryAfter: 7s',
    `  cache: { keyPrefix: "${prefix}", jitter: 0 }`,
  ].join('\n');
}

/** The user lookup on in-process stores, behind a Portico of its own (the caller shuts both down). */
async function startLookup(config: Config): Promise<{ lookup: UserLookup; portico: Portico }> {
  const lookup = await createUserLookup({
    config,
    stores: memoryStores(),
    logger: silentLogger,
    metrics: recordingMetrics(),
  });
  const portico = await startPortico({ config, logger: silentLogger, builtins: [lookup.builtin] });
  return { lookup, portico };
}

/** Repository wrapper: counts queries; its gate can hold each answer (after the read). */
class GatedRepository implements UserRepository {
  readonly gate = new Gate();
  queries = 0;

  constructor(private readonly inner: UserRepository) {}

  async findById(id: string): Promise<User | undefined> {
    this.queries += 1;
    const user = await this.inner.findById(id);
    await this.gate.pass();
    return user;
  }
}

let db: Database;
beforeAll(async () => {
  db = await openDatabase(testConfig(yaml(PG_URL, '')).database);
  const repository = new SqlUserRepository(db, userSql(testConfig(yaml(PG_URL, '')).userLookup));
  await repository.migrate();
  await repository.seed(50);
});
afterAll(async () => {
  await db.close();
  await dropSchema(schema);
});

describe('with real PostgreSQL and Redis, composed by hand to count and delay queries', () => {
  let stores: Stores;
  let repository: GatedRepository;
  let service: UserService;
  let portico: Portico;
  let lookups = 0;

  beforeAll(async () => {
    const loaded = testConfig(yaml(PG_URL, 'redis://127.0.0.1:6379'));
    // One test client sends 1000 lookups at once: above the default per-client cap on requests in flight.
    const config = { ...loaded, server: { ...loaded.server, maxRequestsPerClient: 0 } };
    stores = await createStores(config.redis, silentLogger);
    repository = new GatedRepository(new SqlUserRepository(db, userSql(config.userLookup)));
    service = createUserService({
      repository,
      cache: redisCache(stores.cacheClient as Redis, { keyPrefix: prefix, versionTtl: 60_000 }),
      runner: deferredRunner(config.userLookup.cache.fillTimeout),
      metrics: recordingMetrics(),
      logger: silentLogger,
      options: config.userLookup.cache,
    });
    const counted: UserService = { ...service, lookup: (id) => ((lookups += 1), service.lookup(id)) };
    portico = await startPortico({
      config,
      logger: silentLogger,
      stores,
      builtins: [userLookupRoute(config.userLookup, counted)],
    });
  });
  afterAll(async () => {
    await portico.shutdown();
    await service.close();
    await clearKeys(stores.cacheClient as Redis, prefix);
    await stores.close();
  });

  it('collapses 1000 concurrent misses for one id into one database query', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1000 });
    const read = repository.gate.hold();
    const before = repository.queries;
    lookups = 0;
    const responses = Array.from(
      { length: 1000 },
      () =>
        new Promise<{ status: number; cacheStatus: string; body: string }>((resolve, reject) => {
          http
            .get(`${portico.proxyUrl}/users/21`, { agent }, (res) => {
              let body = '';
              res.on('data', (chunk: Buffer) => (body += chunk.toString()));
              res.on('end', () =>
                resolve({ status: res.statusCode ?? 0, cacheStatus: String(res.headers['cache-status']), body }),
              );
            })
            .on('error', reject);
        }),
    );
    await read;
    await waitFor(() => lookups === 1000, { timeoutMs: 50_000, message: '1000 lookups to be waiting' });
    repository.gate.release();
    const results = await Promise.all(responses);
    agent.destroy();
    expect(repository.queries - before).toBe(1);
    expect(results.every((r) => r.status === 200 && r.body === results[0]?.body)).toBe(true);
    expect(results.filter((r) => r.cacheStatus === 'portico; fwd=miss; stored')).toHaveLength(1);
    expect(results.filter((r) => r.cacheStatus === 'portico; fwd=miss; stored; collapsed')).toHaveLength(999);
  }, 60_000); // 1000 requests on one connection pool: seconds on a busy machine

  it('never writes a slow fill back over an invalidation that raced it', async () => {
    const read = repository.gate.hold();
    const slow = supertest(portico.proxyUrl).get('/users/22'); // reads "User 22", answers late
    const answered = slow.then((res) => res);
    await read;
    await sql(`UPDATE "${schema}".users SET name = 'Fresh' WHERE id = 22`);
    await service.invalidate('22'); // after the commit, while the fill is in flight
    repository.gate.release();
    expect((await answered).body).toMatchObject({ name: 'User 22' });
    await service.close(); // the background write has been tried (and refused)
    const next = await supertest(portico.proxyUrl).get('/users/22').expect(200);
    expect(next.body).toMatchObject({ name: 'Fresh' });
    expect(next.headers['cache-status']).toBe('portico; fwd=miss; stored');
  });
});

describe('Redis killed mid-traffic', () => {
  let redis: RedisServer;
  let stores: Stores;
  let lookup: UserLookup;
  let portico: Portico;
  const metrics = recordingMetrics();
  const { logger, lines } = capturedLogger();

  beforeAll(async () => {
    redis = await startRedisServer();
    const config = testConfig(yaml(PG_URL, redis.url));
    stores = await createStores(config.redis, silentLogger);
    lookup = await createUserLookup({ config, stores, logger, metrics });
    portico = await startPortico({ config, logger: silentLogger, stores, builtins: [lookup.builtin] });
  }, START_TIMEOUT_MS); // starts a redis-server of its own
  afterAll(async () => {
    await portico.shutdown();
    await lookup.close();
    await stores.close();
    await redis.kill();
  });

  it('keeps answering from the database, counts each failure, logs once, and uses the cache again when Redis is back', async () => {
    const api = supertest(portico.proxyUrl);
    for (let id = 30; id < 35; id += 1) await api.get(`/users/${id}`).expect(200);
    await lookup.service.close();
    expect((await api.get('/users/30')).headers['cache-status']).toBe('portico; hit');

    await redis.kill();
    const statuses: string[] = [];
    for (let round = 0; round < 4; round += 1) {
      for (let id = 30; id < 35; id += 1) {
        const res = await api.get(`/users/${id}`).expect(200);
        expect(res.body).toMatchObject({ id: id });
        statuses.push(String(res.headers['cache-status']));
      }
    }
    expect(statuses.every((status) => status === 'portico; fwd=miss; detail=cache-error')).toBe(true);
    expect(metrics.events.filter((event) => event === 'error').length).toBeGreaterThanOrEqual(20);
    expect(lines.filter((line) => line.msg === 'user cache failed; answering from the database')).toHaveLength(1);
    expect(stores.health().healthy).toBe(false);

    await redis.restart();
    await waitFor(() => (stores.cacheClient as Redis).status === 'ready', { message: 'cache client to reconnect' });
    let status = '';
    await waitFor(
      async () => {
        status = String((await api.get('/users/31')).headers['cache-status']);
        return status === 'portico; hit';
      },
      { message: () => `a cache hit for user 31 (still ${status})` },
    );
  });
});

describe('database gone', () => {
  it('answers 503 + Retry-After for users not cached, while cached users still answer', async () => {
    const proxy = await startTcpProxy(5432);
    const config = testConfig(yaml(`postgres://postgres@127.0.0.1:${proxy.port}/test`, ''));
    const { lookup, portico } = await startLookup(config);
    try {
      const api = supertest(portico.proxyUrl);
      await api.get('/users/40').expect(200);
      await lookup.service.close();

      await proxy.cut();
      const cached = await api.get('/users/40').expect(200);
      expect(cached.headers['cache-status']).toBe('portico; hit');
      const started = Date.now();
      const down = await api.get('/users/41').expect(503);
      // Refused at once; a wait for the 500 ms connectTimeout or a retry loop would take longer than the slack.
      expect(Date.now() - started).toBeLessThan(SLACK_MS);
      expect(down.headers['retry-after']).toBe('7');
      expect(down.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(down.text)).toMatchObject({ code: 'PORTICO_DATABASE_UNAVAILABLE', status: 503 });
      expect(down.text).not.toMatch(/ECONNREFUSED|127\.0\.0\.1/); // no internals in the answer
    } finally {
      await portico.shutdown();
      await lookup.close();
    }
  });

  it('answers 503 when a query outlasts the statement timeout (a table locked by someone else)', async () => {
    const config = testConfig(yaml(PG_URL, ''));
    const { lookup, portico } = await startLookup(config);
    let unlock: (() => void) | undefined;
    let locked: (() => void) | undefined;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.transaction(async (tx) => {
      await tx.query(`LOCK TABLE "${schema}".users IN ACCESS EXCLUSIVE MODE`);
      locked?.();
      await new Promise<void>((resolve) => (unlock = resolve));
    });
    try {
      await lockTaken;
      const started = Date.now();
      const slow = await supertest(portico.proxyUrl).get('/users/42').expect(503);
      expect(Date.now() - started).toBeGreaterThanOrEqual(450);
      expect(Date.now() - started).toBeLessThan(500 + SLACK_MS); // the lock is held until `finally`
      expect(slow.headers['retry-after']).toBe('7');
    } finally {
      unlock?.();
      await holder;
      await portico.shutdown();
      await lookup.close();
    }
  });
});

describe('embedded defaults (no database url, no Redis)', () => {
  it(
    'migrates and seeds the embedded database, serves from the in-process cache, behind its own middleware',
    async () => {
      const config = testConfig(
        'rateLimits:\n  lookups: { limit: 3, window: 1m }\nuserLookup:\n  middleware:\n    - rateLimit: lookups\n',
      );
      const { lookup, portico } = await startLookup(config);
      try {
        const api = supertest(portico.proxyUrl);
        const miss = await api.get('/users/1').expect(200);
        expect(miss.body).toEqual({
          id: 1,
          name: 'User 1',
          email: 'user1@example.com',
          createdAt: '2024-01-01T01:00:00.000Z',
        });
        expect(miss.headers['cache-status']).toBe('portico; fwd=miss; stored');
        await lookup.service.close();
        expect((await api.get('/users/1')).headers['cache-status']).toBe('portico; hit');
        await api.get('/users/101').expect(404);
        const limited = await api.get('/users/1').expect(429); // userLookup.middleware runs before the handler
        expect(JSON.parse(limited.text)).toMatchObject({ code: 'PORTICO_RATE_LIMITED' });
      } finally {
        await portico.shutdown();
        await lookup.close();
      }
    },
    START_TIMEOUT_MS,
  ); // opens the embedded database
});
