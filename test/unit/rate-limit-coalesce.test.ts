/**
 * Same-key coalescing (src/middleware/rate-limit/coalesce.ts) over rate-limiter-flexible's in-process limiter, with a
 * counter of the calls that reach it. The Redis backend's contract, coalesced, is in the integration tests.
 */
import { context, createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { coalescing, type Consumer } from '../../src/middleware/rate-limit/coalesce.js';
import { flushGroup } from '../../src/turn.js';

interface Counted extends Consumer {
  readonly calls: Array<{ key: string; points: number; store: unknown }>;
}

/** The store call carries the first caller's trace context: a value in it names the request. */
const REQUEST = createContextKey('test request');
const inRequest = <T>(name: string, fn: () => T): T => context.with(ROOT_CONTEXT.setValue(REQUEST, name), fn);
const contextManager = new AsyncLocalStorageContextManager();
beforeAll(() => context.setGlobalContextManager(contextManager.enable()));
afterAll(() => {
  contextManager.disable();
  context.disable();
});

function counted(inner: Consumer): Counted {
  const calls: Counted['calls'] = [];
  return {
    calls,
    points: inner.points,
    consume: (key: string | number, points = 1) => {
      calls.push({ key: String(key), points, store: context.active().getValue(REQUEST) });
      return inner.consume(key, points);
    },
  } as Counted;
}

const settle = (promises: Array<Promise<RateLimiterRes>>) =>
  Promise.all(
    promises.map((p) =>
      p.then(
        (res) => ({ allowed: true, res }),
        (res: unknown) => ({ allowed: false, res }),
      ),
    ),
  );

test('same-key consumes of one turn make one call; each caller gets the answer it would have had alone', async () => {
  const inner = counted(new RateLimiterMemory({ points: 5, duration: 60 }));
  const limiter = coalescing(inner);
  const results = await settle(Array.from({ length: 8 }, () => limiter.consume('k')));
  expect(inner.calls).toEqual([{ key: 'k', points: 8, store: undefined }]);
  expect(results.map((r) => r.allowed)).toEqual([true, true, true, true, true, false, false, false]);
  const res = results.map((r) => r.res as RateLimiterRes);
  expect(res.map((r) => r.consumedPoints)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  expect(res.map((r) => r.remainingPoints)).toEqual([4, 3, 2, 1, 0, 0, 0, 0]);
  for (const r of res) expect(r).toBeInstanceOf(RateLimiterRes);
  expect(res.map((r) => r.isFirstInDuration)).toEqual([true, false, false, false, false, false, false, false]);
});

test('a batch continues the count of the calls before it', async () => {
  const limiter = coalescing(new RateLimiterMemory({ points: 4, duration: 60 }));
  expect((await limiter.consume('k')).consumedPoints).toBe(1);
  const results = await settle([
    limiter.consume('k'),
    limiter.consume('k'),
    limiter.consume('k'),
    limiter.consume('k'),
  ]);
  expect(results.map((r) => [r.allowed, (r.res as RateLimiterRes).consumedPoints])).toEqual([
    [true, 2],
    [true, 3],
    [true, 4],
    [false, 5],
  ]);
});

test('keys get a call each, consumes of later turns a call of their own', async () => {
  const inner = counted(new RateLimiterMemory({ points: 10, duration: 60 }));
  const limiter = coalescing(inner);
  await Promise.all([limiter.consume('a'), limiter.consume('b'), limiter.consume('a')]);
  await limiter.consume('a');
  expect(inner.calls.map(({ key, points }) => [key, points])).toEqual([
    ['a', 2],
    ['b', 1],
    ['a', 1],
  ]);
});

test('a store failure rejects every caller of the batch with the error', async () => {
  const error = new Error('Redis connection is not ready');
  const limiter = coalescing({ points: 5, consume: () => Promise.reject(error) } as unknown as Consumer);
  const results = await settle([limiter.consume('k'), limiter.consume('k'), limiter.consume('other')]);
  expect(results).toEqual([
    { allowed: false, res: error },
    { allowed: false, res: error },
    { allowed: false, res: error },
  ]);
});

test('a store call that throws instead of rejecting fails its callers, and the other keys of the turn still go out', async () => {
  const error = new Error('bad key');
  const inner = counted(new RateLimiterMemory({ points: 10, duration: 60 }));
  const limiter = coalescing({
    points: 10,
    consume: (key: string | number, points?: number) => {
      if (key === 'bad') throw error;
      return inner.consume(key, points);
    },
  } as Consumer);
  const results = await settle([limiter.consume('bad'), limiter.consume('bad'), limiter.consume('good')]);
  expect(results.map((r) => r.allowed)).toEqual([false, false, true]);
  expect(results[0]?.res).toBe(error);
  expect(inner.calls.map((c) => c.key)).toEqual(['good']);
});

test("each key's call runs in the trace context of its first caller", async () => {
  const inner = counted(new RateLimiterMemory({ points: 10, duration: 60 }));
  const limiter = coalescing(inner);
  await Promise.all([
    inRequest('request-1', () => limiter.consume('a')),
    inRequest('request-2', () => limiter.consume('b')),
    inRequest('request-3', () => limiter.consume('a')),
  ]);
  expect(inner.calls).toEqual([
    { key: 'a', points: 2, store: 'request-1' },
    { key: 'b', points: 1, store: 'request-2' },
  ]);
});

test('limiters sharing a flush group flush in one step, inside one hold', async () => {
  const events: string[] = [];
  const group = flushGroup(() => {
    events.push('hold');
    return () => events.push('release');
  });
  const recording = (name: string): Consumer =>
    ({
      points: 10,
      consume: (key: string | number, points = 1) => {
        events.push(`${name}:${String(key)}x${points}`);
        return Promise.resolve(new RateLimiterRes(10 - points, 1000, points, true));
      },
    }) as unknown as Consumer;
  const first = coalescing(recording('first'), group);
  const second = coalescing(recording('second'), group);
  await Promise.all([first.consume('a'), second.consume('a'), first.consume('a'), second.consume('b')]);
  expect(events).toEqual(['hold', 'first:ax2', 'second:ax1', 'second:bx1', 'release']);
  await first.consume('a');
  expect(events.slice(5)).toEqual(['hold', 'first:ax1', 'release']);
});
