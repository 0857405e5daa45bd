/**
 * One contract, both backends (memory and Redis): the same assertions run against each limiter.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { redisSchema } from '../../src/stores/config.js';
import { clientOptions } from '../../src/stores/redis.js';
import { coalescing, type Consumer } from '../../src/middleware/rate-limit/coalesce.js';
import { KEY_PREFIX, fromFlexible, type Limiter, type LimiterSpec } from '../../src/middleware/rate-limit/limiter.js';
import { memoryLimiter } from '../../src/middleware/rate-limit/memory-limiter.js';
import { redisLimiter } from '../../src/middleware/rate-limit/redis-limiter.js';
import { waitFor } from '../helpers/wait.js';

const run = randomUUID().slice(0, 8);
let client: Redis;

beforeAll(async () => {
  client = new Redis(
    'redis://127.0.0.1:6379',
    clientOptions(redisSchema.parse({ url: 'redis://127.0.0.1:6379' }), 'limit'),
  );
  await new Promise((resolve) => client.once('ready', resolve));
});

afterAll(async () => {
  const keys = await client.keys(`${KEY_PREFIX}*{lt-${run}*`);
  if (keys.length > 0) await client.del(...keys);
  await client.quit();
});

const spec = (fields: Partial<LimiterSpec>): LimiterSpec => ({
  limit: 5,
  windowMs: 60_000,
  burst: 0,
  burstWindowMs: 600_000,
  ...fields,
});

const backends: Array<[string, (s: LimiterSpec) => Limiter]> = [
  ['memory', (s) => memoryLimiter(s)],
  ['redis', (s) => redisLimiter(client, s)],
];

describe.each(backends)('limiter contract: %s', (name, make) => {
  const key = (label: string): string => `{lt-${run}-${name}:${label}}`;

  test('admits exactly `limit` of concurrent consumes, then denies with remaining 0', async () => {
    const limiter = make(spec({ limit: 20 }));
    const decisions = await Promise.all(Array.from({ length: 60 }, () => limiter.consume(key('exact'))));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(20);
    for (const denied of decisions.filter((d) => !d.allowed)) {
      expect(denied.remaining).toBe(0);
      expect(denied.resetMs).toBeGreaterThan(0);
      expect(denied.resetMs).toBeLessThanOrEqual(60_000);
    }
    expect(
      decisions
        .filter((d) => d.allowed)
        .map((d) => d.remaining)
        .sort((a, b) => a - b),
    ).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  test('keys count independently', async () => {
    const limiter = make(spec({ limit: 1 }));
    expect((await limiter.consume(key('a'))).allowed).toBe(true);
    expect((await limiter.consume(key('a'))).allowed).toBe(false);
    expect((await limiter.consume(key('b'))).allowed).toBe(true);
  });

  test('burst units are spent only once the main window is exhausted', async () => {
    const limiter = make(spec({ limit: 2, burst: 2 }));
    const results = [];
    for (let i = 0; i < 6; i++) results.push((await limiter.consume(key('burst'))).allowed);
    expect(results).toEqual([true, true, true, true, false, false]);
  });

  test('the window expires with the key and admits again', async () => {
    const limiter = make(spec({ limit: 1, windowMs: 1000 }));
    expect((await limiter.consume(key('expiry'))).allowed).toBe(true);
    const denied = await limiter.consume(key('expiry'));
    expect(denied.allowed).toBe(false);
    expect(denied.resetMs).toBeLessThanOrEqual(1000);
    // The key expires ~1 s after the first consume.
    await waitFor(async () => (await limiter.consume(key('expiry'))).allowed, {
      intervalMs: 100,
      message: 'the 1 s window to expire and admit again',
    });
  });
});

test('redis keys are namespaced, hash-tagged and expire with the window', async () => {
  const limiter = redisLimiter(client, spec({ limit: 3, windowMs: 60_000 }));
  await limiter.consume(`{lt-${run}-ttl:1.2.3.4}`);
  const full = `${KEY_PREFIX}:{lt-${run}-ttl:1.2.3.4}`;
  expect(await client.get(full)).toBe('1');
  const ttl = await client.pttl(full);
  expect(ttl).toBeGreaterThan(50_000);
  expect(ttl).toBeLessThanOrEqual(60_000);
});

test('a store failure rejects with an Error, never a denial', async () => {
  const dead = new Redis('redis://127.0.0.1:1', {
    ...clientOptions(redisSchema.parse({ url: 'redis://127.0.0.1:1' }), 'limit'),
    lazyConnect: true,
  });
  const limiter = redisLimiter(dead, spec({}));
  await expect(limiter.consume('{x:y}')).rejects.toBeInstanceOf(Error);
  dead.disconnect();
});

describe('coalescing on Redis', () => {
  test('concurrent consumes of one key cost one store call and still admit exactly `limit`', async () => {
    const store = new RateLimiterRedis({ storeClient: client, keyPrefix: KEY_PREFIX, points: 10, duration: 60 });
    let calls = 0;
    const limiter = fromFlexible(
      coalescing({
        points: store.points,
        consume: (key: string | number, points?: number) => {
          calls++;
          return store.consume(key, points);
        },
      } as Consumer),
      undefined,
    );
    const key = `{lt-${run}-coalesce:1.2.3.4}`;
    const decisions = await Promise.all(Array.from({ length: 25 }, () => limiter.consume(key)));
    expect(calls).toBe(1);
    expect(decisions.filter((d) => d.allowed).map((d) => d.remaining)).toEqual([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]);
    expect(decisions.slice(10).every((d) => !d.allowed && d.remaining === 0)).toBe(true);
    expect(await client.get(`${KEY_PREFIX}:${key}`)).toBe('25'); // denials count, as they do one at a time
  });

  test('a concurrent batch past the main window spends burst units exactly', async () => {
    const limiter = redisLimiter(client, spec({ limit: 2, burst: 2 }));
    const decisions = await Promise.all(
      Array.from({ length: 7 }, () => limiter.consume(`{lt-${run}-coalesce-burst:1.2.3.4}`)),
    );
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, false, false, false]);
  });
});

test("one turn's commands for several keys and policies leave in one write to Redis", async () => {
  const own = new Redis(
    'redis://127.0.0.1:6379',
    clientOptions(redisSchema.parse({ url: 'redis://127.0.0.1:6379' }), 'limit'),
  );
  await new Promise((resolve) => own.once('ready', resolve));
  const perClient = redisLimiter(own, spec({ limit: 10 }));
  const perRoute = redisLimiter(own, spec({ limit: 20 }));
  await perRoute.consume(`{lt-${run}-cork:warm}`); // the script is loaded (EVALSHA may first answer NOSCRIPT)
  const socket = own.stream as unknown as { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void };
  const writes: number[] = [];
  const write = socket._write.bind(socket);
  const writev = socket._writev.bind(socket);
  socket._write = (...args) => {
    writes.push(1);
    write(...args);
  };
  socket._writev = (chunks, ...rest) => {
    writes.push((chunks as unknown[]).length);
    writev(chunks, ...rest);
  };
  try {
    const decisions = await Promise.all([
      ...['a', 'b', 'c'].map((client) => perClient.consume(`{lt-${run}-cork:${client}}`)),
      perRoute.consume(`{lt-${run}-cork:route}`),
    ]);
    expect(decisions.every((d) => d.allowed)).toBe(true);
    expect(writes).toEqual([4]);
  } finally {
    own.disconnect();
  }
});
