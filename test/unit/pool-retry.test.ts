import { TaskTimeoutError } from '../../src/pool/errors.js';
import { backoffDelay } from '../../src/pool/attempt.js';
import { flush, held, pool } from '../helpers/pool.js';

describe('worker pool: timeouts', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('aborts the task signal at the deadline and rejects with PORTICO_TASK_TIMEOUT', async () => {
    const p = pool();
    const h = held();
    const result = p.submit(h.task, { timeout: 500 });
    const outcome = result.catch((err: unknown) => err);
    jest.advanceTimersByTime(499);
    expect(h.signals[0]?.aborted).toBe(false);
    jest.advanceTimersByTime(1);
    expect(h.signals[0]?.aborted).toBe(true);
    expect(h.signals[0]?.reason).toBeInstanceOf(TaskTimeoutError);
    await expect(outcome).resolves.toMatchObject({ code: 'PORTICO_TASK_TIMEOUT', status: 504 });
    expect(p.stats()).toMatchObject({ failed: 1, timedOut: 1, busy: 0 });
  });

  it('frees the worker at the deadline even when the task ignores its signal', async () => {
    const p = pool({ min: 0, max: 1, queue: 1 });
    const stubborn = held(); // never resolved
    const first = p.submit(stubborn.task, { timeout: 100 }).catch(() => 'timed out');
    const second = p.submit(async () => 'ran');
    jest.advanceTimersByTime(100);
    await expect(first).resolves.toBe('timed out');
    await expect(second).resolves.toBe('ran');
  });

  it('uses the configured taskTimeout when the submitter gives none', async () => {
    const p = pool({ taskTimeout: 50 });
    const h = held();
    const outcome = p.submit(h.task).catch((err: unknown) => err);
    jest.advanceTimersByTime(50);
    await expect(outcome).resolves.toBeInstanceOf(TaskTimeoutError);
  });

  it('a task that throws synchronously fails like a rejected one', async () => {
    const p = pool();
    const boom = (): Promise<void> => {
      throw new Error('sync boom');
    };
    await expect(p.submit(boom)).rejects.toThrow('sync boom');
    expect(p.stats()).toMatchObject({ failed: 1, busy: 0 });
  });
});

describe('worker pool: retries', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('retries a failing task with exponential backoff until it succeeds', async () => {
    const p = pool({ backoff: 100, random: () => 0.5 });
    let calls = 0;
    const flaky = async (): Promise<string> => {
      calls++;
      if (calls < 3) throw new Error(`failure ${calls}`);
      return 'ok';
    };
    const result = p.submit(flaky, { retries: 3 });
    await flush();
    expect(calls).toBe(1);
    expect(p.stats().retrying).toBe(1);
    // Retry 0: step 100ms, equal jitter at 0.5 → 75ms.
    jest.advanceTimersByTime(74);
    expect(calls).toBe(1);
    jest.advanceTimersByTime(1);
    expect(calls).toBe(2);
    await flush();
    // Retry 1: step 200ms → 150ms.
    jest.advanceTimersByTime(149);
    expect(calls).toBe(2);
    jest.advanceTimersByTime(1);
    await expect(result).resolves.toBe('ok');
    expect(p.stats()).toMatchObject({ completed: 1, failed: 0, retried: 2, retrying: 0 });
  });

  it('rejects with the last error once retries are spent', async () => {
    const p = pool({ backoff: 10, random: () => 0 });
    let calls = 0;
    const result = p
      .submit(
        async () => {
          calls++;
          throw new Error(`failure ${calls}`);
        },
        { retries: 2 },
      )
      .catch((err: unknown) => err);
    await jest.advanceTimersByTimeAsync(100);
    await expect(result).resolves.toMatchObject({ message: 'failure 3' });
    expect(p.stats()).toMatchObject({ failed: 1, retried: 2 });
  });

  it('retries a timed-out attempt with a fresh signal', async () => {
    const p = pool({ backoff: 10, random: () => 0 });
    const signals: AbortSignal[] = [];
    const result = p.submit(
      (signal) => {
        signals.push(signal);
        return signals.length === 1 ? new Promise<string>(() => undefined) : Promise.resolve('second');
      },
      { timeout: 100, retries: 1 },
    );
    await jest.advanceTimersByTimeAsync(100 + 5);
    await expect(result).resolves.toBe('second');
    expect(signals).toHaveLength(2);
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[1]?.aborted).toBe(false);
  });

  it('backoff grows exponentially, is capped, and jitters within the upper half of each step', () => {
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, 100, 10_000, () => 0))).toEqual([50, 100, 200, 400]);
    expect([0, 1, 2, 3].map((n) => backoffDelay(n, 100, 10_000, () => 0.999999))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(20, 100, 1000, () => 0)).toBe(500);
  });
});

describe('worker pool: the submitter signal', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('aborts a running task with the submitter reason and does not retry it', async () => {
    const p = pool();
    const h = held();
    const controller = new AbortController();
    const result = p.submit(h.task, { signal: controller.signal, retries: 5 }).catch((err: unknown) => err);
    controller.abort(new Error('caller gone'));
    expect(h.signals[0]?.aborted).toBe(true);
    await expect(result).resolves.toMatchObject({ message: 'caller gone' });
    expect(h.signals).toHaveLength(1);
    expect(p.stats()).toMatchObject({ retried: 0, failed: 1, busy: 0 });
  });

  it('removes a queued task so it never runs', async () => {
    const p = pool({ min: 0, max: 1, queue: 5 });
    const blocker = held();
    const first = p.submit(blocker.task);
    const controller = new AbortController();
    const never = jest.fn(async () => undefined);
    const queued = p.submit(never, { signal: controller.signal }).catch((err: unknown) => err);
    expect(p.stats().queued).toBe(1);
    controller.abort(new Error('not needed'));
    await expect(queued).resolves.toMatchObject({ message: 'not needed' });
    expect(p.stats().queued).toBe(0);
    blocker.gate.resolve();
    await first;
    expect(never).not.toHaveBeenCalled();
  });

  it('cancels a task waiting out its backoff', async () => {
    const p = pool({ backoff: 1000 });
    const controller = new AbortController();
    const task = jest.fn(async () => {
      throw new Error('fails');
    });
    const result = p.submit(task, { retries: 3, signal: controller.signal }).catch((err: unknown) => err);
    await flush();
    expect(p.stats().retrying).toBe(1);
    controller.abort(new Error('stop'));
    await expect(result).resolves.toMatchObject({ message: 'stop' });
    jest.advanceTimersByTime(10_000);
    expect(task).toHaveBeenCalledTimes(1);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const p = pool();
    const task = jest.fn(async () => undefined);
    await expect(p.submit(task, { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    expect(task).not.toHaveBeenCalled();
  });
});
