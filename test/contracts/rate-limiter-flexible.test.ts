/**
 * rate-limiter-flexible on ioredis, as src/middleware/rate-limit/ uses it: the synchronous write the corked socket
 * depends on, and the surface BurstyRateLimiter needs from the limiters it combines. Real Redis at 127.0.0.1:6379.
 */
import { Redis } from 'ioredis';
import { BurstyRateLimiter, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { assumption, recordingReads } from './support';

const PREFIX = `portico-contracts:${process.pid}:${Date.now()}`;
let client: Redis;

beforeAll(async () => {
  client = new Redis({ host: '127.0.0.1', port: 6379, lazyConnect: true, maxRetriesPerRequest: 0 });
  await client.connect();
});

afterAll(async () => {
  const keys = await client.keys(`${PREFIX}*`);
  if (keys.length > 0) await client.del(...keys);
  await client.quit();
});

assumption(
  "RateLimiterRedis.consume() on a ready ioredis client writes its command to the client's socket (`client.stream`) before returning",
  "src/middleware/rate-limit/redis-limiter.ts groupFor(): corks `client.stream` around a turn's consumes so they leave in one write",
  async () => {
    const limiter = new RateLimiterRedis({ storeClient: client, keyPrefix: PREFIX, points: 5, duration: 60 });
    await limiter.consume('warm'); // the script is loaded: what follows is the steady state
    const stream = client.stream;
    stream.cork();
    const calls = [limiter.consume('a'), limiter.consume('b')];
    // Both commands were handed to the corked socket within the calls above.
    const buffered = stream.writableLength;
    const corked = stream.writableCorked;
    stream.uncork();
    expect(buffered).toBeGreaterThan(0);
    expect(corked).toBe(1);
    const results = await Promise.all(calls);
    expect(results.map((res) => res.consumedPoints)).toEqual([1, 1]);
  },
);

assumption(
  'BurstyRateLimiter reads only `consume` and `points` of the limiters it combines',
  'src/middleware/rate-limit/limiter.ts fromFlexible(): passes coalescing wrappers (src/middleware/rate-limit/coalesce.ts) that have only those two',
  async () => {
    const denied = new RateLimiterRes(0, 1000, 3, false);
    const main = recordingReads({
      points: 2,
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- the library's "denied" is a RateLimiterRes rejection
      consume: () => Promise.reject(denied),
    });
    const burst = recordingReads({
      points: 1,
      consume: () => Promise.resolve(new RateLimiterRes(0, 500, 1, true)),
    });
    const bursty = new BurstyRateLimiter(
      main.proxy as unknown as RateLimiterAbstract,
      burst.proxy as unknown as RateLimiterAbstract,
    );
    const allowed = await bursty.consume('key');
    expect(allowed).toBeInstanceOf(RateLimiterRes);
    const allowedReads = new Set<PropertyKey>(['consume', 'points', 'then']);
    expect([...main.reads].filter((key) => !allowedReads.has(key))).toEqual([]);
    expect([...burst.reads].filter((key) => !allowedReads.has(key))).toEqual([]);
  },
);
