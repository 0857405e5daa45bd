import { captureLogs, type CapturedLogs } from '../helpers/logs.js';
import { deferred, held, pool } from '../helpers/pool.js';

const capturedLogger = (): CapturedLogs<Record<string, unknown>> => captureLogs();

describe('worker pool: shutdown', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('refuses new submits once shutdown began', async () => {
    const p = pool();
    const stopping = p.shutdown(1000);
    await expect(p.submit(async () => 1)).rejects.toMatchObject({ code: 'PORTICO_SHUTTING_DOWN' });
    await expect(stopping).resolves.toEqual({ finished: 0, dropped: 0 });
    expect(p.stats()).toMatchObject({ rejected: 1, workers: 0 });
  });

  it('finishes queued and running work within the drain timeout and drops nothing', async () => {
    const p = pool({ min: 0, max: 1, queue: 3 });
    const first = held<string>();
    const results = [p.submit(first.task), p.submit(async () => 'b'), p.submit(async () => 'c')];
    const stopping = p.shutdown(5000);
    first.gate.resolve('a');
    await expect(Promise.all(results)).resolves.toEqual(['a', 'b', 'c']);
    await expect(stopping).resolves.toEqual({ finished: 3, dropped: 0 });
    expect(p.stats()).toMatchObject({ workers: 0, dropped: 0, completed: 3 });
    expect(jest.getTimerCount()).toBe(0);
  });

  it('aborts what is left at the drain timeout, rejects it, counts and logs the dropped tasks', async () => {
    const { logger, lines } = capturedLogger();
    const p = pool({ min: 0, max: 2, queue: 5, logger });
    const [a, b, d] = [held(), held(), held()];
    const quick = deferred();
    const never = jest.fn(async () => 'never');
    const results = [a, b].map((h) => p.submit(h.task).catch((err: unknown) => err));
    const finishesInTime = p.submit(() => quick.promise);
    const startsLate = p.submit(d.task).catch((err: unknown) => err);
    const neverStarted = p.submit(never).catch((err: unknown) => err);
    const stopping = p.shutdown(1000);
    // During the drain: a finishes, so the queued quick task starts and finishes too, then d starts and hangs.
    a.gate.resolve();
    await results[0];
    quick.resolve();
    await finishesInTime;
    expect(d.signals).toHaveLength(1);
    await jest.advanceTimersByTimeAsync(1000);
    await expect(stopping).resolves.toEqual({ finished: 2, dropped: 3 });
    expect(b.signals[0]?.aborted).toBe(true);
    expect(d.signals[0]?.aborted).toBe(true);
    expect(never).not.toHaveBeenCalled();
    for (const dropped of [results[1], startsLate, neverStarted]) {
      await expect(dropped).resolves.toMatchObject({ code: 'PORTICO_SHUTTING_DOWN' });
    }
    expect(p.stats()).toMatchObject({ dropped: 3, completed: 2, workers: 0, busy: 0, queued: 0 });
    expect(lines.at(-1)).toMatchObject({
      level: 40,
      dropped: 3,
      finished: 2,
      msg: expect.stringContaining('drain timeout') as unknown,
    });
  });

  it('is idempotent: a second call returns the same report', async () => {
    const p = pool();
    const a = p.shutdown(10);
    expect(p.shutdown(10)).toBe(a);
    await expect(a).resolves.toEqual({ finished: 0, dropped: 0 });
  });
});
