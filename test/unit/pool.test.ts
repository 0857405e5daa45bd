import { QueueFullError } from '../../src/pool/errors.js';
import type { WorkerPool } from '../../src/pool/pool.js';
import { deferred, flush, held, pool } from '../helpers/pool.js';

/** The contract the user lookup's cache fill depends on; this line fails to compile if the pool drifts from it. */
type CacheFillRunner = {
  submit(task: (signal: AbortSignal) => Promise<void>, opts?: { timeout?: number }): Promise<void>;
};

describe('worker pool: submit and scaling', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('runs a task, resolves its value and counts it', async () => {
    const p = pool();
    await expect(p.submit(async () => 42)).resolves.toBe(42);
    expect(p.stats()).toMatchObject({ completed: 1, failed: 0, busy: 0, queued: 0 });
    expect(p.stats().latency.count).toBe(1);
  });

  it('satisfies the cache-fill runner interface', async () => {
    const runner: CacheFillRunner = pool();
    const ran = jest.fn(async (signal: AbortSignal) => {
      expect(signal.aborted).toBe(false);
    });
    await runner.submit(ran, { timeout: 50 });
    expect(ran).toHaveBeenCalledTimes(1);
  });

  it('starts with min workers and grows on submit while queued work exceeds them, up to max', async () => {
    const p = pool({ min: 1, max: 3, queue: 2 });
    const starts: number[] = [];
    p.on('workerStart', (n) => starts.push(n));
    expect(p.stats().workers).toBe(1);
    const gates = [held(), held(), held(), held()];
    const results = gates.map((g) => p.submit(g.task));
    // Grown synchronously inside submit: no tick had to pass.
    expect(starts).toEqual([2, 3]);
    expect(p.stats()).toMatchObject({ workers: 3, busy: 3, queued: 1 });
    expect(gates.map((g) => g.signals.length)).toEqual([1, 1, 1, 0]);
    for (const g of gates) g.gate.resolve();
    await Promise.all(results);
    expect(gates[3]?.signals).toHaveLength(1);
    expect(p.stats()).toMatchObject({ workers: 3, busy: 0, queued: 0, completed: 4 });
  });

  it('runs queued tasks in submission order when a worker frees', async () => {
    const p = pool({ min: 0, max: 1, queue: 10 });
    const first = held();
    const order: number[] = [];
    const done = [p.submit(first.task), ...[1, 2, 3].map((n) => p.submit(async () => void order.push(n)))];
    expect(p.stats().queued).toBe(3);
    first.gate.resolve();
    await Promise.all(done);
    expect(order).toEqual([1, 2, 3]);
  });

  it('rejects at once with QueueFullError when every worker is busy and the queue is full', async () => {
    const p = pool({ min: 0, max: 1, queue: 1 });
    const a = held();
    const b = held();
    const running = [p.submit(a.task), p.submit(b.task)];
    const never = jest.fn(async () => undefined);
    const refused = p.submit(never);
    await expect(refused).rejects.toBeInstanceOf(QueueFullError);
    await expect(refused).rejects.toMatchObject({ code: 'PORTICO_QUEUE_FULL', status: 503 });
    expect(never).not.toHaveBeenCalled();
    expect(p.stats()).toMatchObject({ rejected: 1, queued: 1 });
    a.gate.resolve();
    b.gate.resolve();
    await Promise.all(running);
  });

  it('with queue 0, still accepts up to max running tasks', async () => {
    const p = pool({ min: 0, max: 2, queue: 0 });
    const gates = [held(), held()];
    const running = gates.map((g) => p.submit(g.task));
    await expect(p.submit(async () => 1)).rejects.toMatchObject({ code: 'PORTICO_QUEUE_FULL' });
    for (const g of gates) g.gate.resolve();
    await Promise.all(running);
  });
});

describe('worker pool: shrinking', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  async function grownTo3(p: WorkerPool): Promise<void> {
    const gates = [held(), held(), held()];
    const results = gates.map((g) => p.submit(g.task));
    for (const g of gates) g.gate.resolve();
    await Promise.all(results);
    expect(p.stats()).toMatchObject({ workers: 3, busy: 0 });
  }

  it('stops surplus workers after idleTimeout, back to min, and leaves no timer behind', async () => {
    const p = pool({ min: 1, max: 3, idleTimeout: 1000 });
    const stops: number[] = [];
    p.on('workerStop', (n) => stops.push(n));
    await grownTo3(p);
    jest.advanceTimersByTime(999);
    expect(p.stats().workers).toBe(3);
    jest.advanceTimersByTime(1);
    expect(stops).toEqual([2, 1]);
    expect(p.stats().workers).toBe(1);
    // The stopped workers' idle timers are gone and the min worker holds none: nothing is left scheduled.
    expect(jest.getTimerCount()).toBe(0);
  });

  it('a worker reused before its idle timeout outlives the untouched ones, then stops on its own timer', async () => {
    const p = pool({ min: 0, max: 3, idleTimeout: 1000 });
    await grownTo3(p);
    jest.advanceTimersByTime(600);
    await p.submit(async () => undefined); // takes the most recently idle worker and restarts its timer
    jest.advanceTimersByTime(400);
    expect(p.stats().workers).toBe(1);
    expect(jest.getTimerCount()).toBe(1);
    jest.advanceTimersByTime(600);
    expect(p.stats().workers).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it('min 0 shrinks to zero workers and grows again on the next submit', async () => {
    const p = pool({ min: 0, max: 2, idleTimeout: 10 });
    expect(p.stats().workers).toBe(0);
    await p.submit(async () => undefined);
    expect(p.stats().workers).toBe(1);
    jest.advanceTimersByTime(10);
    expect(p.stats().workers).toBe(0);
    await expect(p.submit(async () => 'again')).resolves.toBe('again');
  });

  it('latency covers queue wait', async () => {
    const p = pool({ min: 0, max: 1, queue: 1 });
    const first = deferred();
    const a = p.submit(() => first.promise);
    const b = p.submit(async () => undefined);
    jest.advanceTimersByTime(2000);
    first.resolve();
    await Promise.all([a, b]);
    await flush();
    const latency = p.stats().latency;
    expect(latency.count).toBe(2);
    expect(latency.maxSeconds).toBeGreaterThanOrEqual(2);
    expect(latency.buckets.at(-1)?.count).toBe(2);
  });
});
