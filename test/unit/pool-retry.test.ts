import { TaskTimeoutError } from '../../src/pool/errors.js';
import { held, pool } from '../helpers/pool.js';

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

describe('worker pool: the submitter signal', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('aborts a running task with the submitter reason', async () => {
    const p = pool();
    const h = held();
    const controller = new AbortController();
    const result = p.submit(h.task, { signal: controller.signal }).catch((err: unknown) => err);
    controller.abort(new Error('caller gone'));
    expect(h.signals[0]?.aborted).toBe(true);
    await expect(result).resolves.toMatchObject({ message: 'caller gone' });
    expect(h.signals).toHaveLength(1);
    expect(p.stats()).toMatchObject({ failed: 1, busy: 0 });
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

  it('rejects at once when the signal is already aborted', async () => {
    const p = pool();
    const task = jest.fn(async () => undefined);
    await expect(p.submit(task, { signal: AbortSignal.abort(new Error('already')) })).rejects.toThrow('already');
    expect(task).not.toHaveBeenCalled();
  });
});
