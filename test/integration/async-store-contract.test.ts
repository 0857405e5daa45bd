/**
 * The task store contract, run against both backends (the in-process store and Redis Streams on the shared Redis,
 * under a key prefix of this run's own): what the delivery loop and the accept rely on, whichever store is behind.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { MemoryTaskStore } from '../../src/tasks/store-memory.js';
import { RedisTaskStore } from '../../src/tasks/store-redis.js';
import type { Claim, TaskRecord, TaskStore } from '../../src/tasks/types.js';
import { deleteKeys } from '../helpers/tasks.js';
import { waitFor } from '../helpers/wait.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

function task(clientKey = ''): TaskRecord {
  const id = randomUUID();
  return {
    id,
    method: 'POST',
    path: '/x?y=1',
    headers: { 'content-type': 'application/octet-stream', 'x-multi': ['a', 'b'] },
    body: Buffer.from([0, 1, 2, 255]),
    requestId: `req-${id}`,
    traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    key: clientKey === '' ? id : clientKey,
    clientKey,
    createdAt: Date.now(),
  };
}

/** Takes until a claim comes (a Redis take may return empty while retries are promoted). */
async function takeOne(store: TaskStore): Promise<Claim> {
  const [claim] = await waitFor(async () => {
    const claims = await store.take(1, 50);
    return claims.length > 0 ? claims : undefined;
  });
  return claim as Claim;
}

interface Backend {
  readonly name: string;
  make(): TaskStore;
  cleanup(): Promise<void>;
}

const prefix = `test:async-contract:${randomBytes(6).toString('hex')}:`;
const clients: Redis[] = [];
const backends: Backend[] = [
  {
    name: 'in process',
    make: () => new MemoryTaskStore({ route: 'r', queue: 100, retention: 60_000 }),
    cleanup: async () => {},
  },
  {
    name: 'redis streams',
    make: () => {
      const client = new Redis(REDIS_URL);
      const reader = new Redis(REDIS_URL);
      clients.push(client, reader);
      return new RedisTaskStore({
        route: `r-${randomBytes(4).toString('hex')}`,
        keyPrefix: prefix,
        retention: 60_000,
        claimIdle: 60_000,
        promoteEvery: 10,
        client,
        reader,
      });
    },
    cleanup: async () => {
      for (const client of clients.splice(0)) client.disconnect();
      await deleteKeys(REDIS_URL, prefix);
    },
  },
];

describe.each(backends)('task store contract: $name', (backend) => {
  let store: TaskStore;
  beforeEach(() => {
    store = backend.make();
  });
  afterEach(async () => {
    await store.close();
    await backend.cleanup();
  });

  it('stores the request whole, hands it out once, and records success', async () => {
    const stored = task();
    expect(await store.accept(stored)).toEqual({ id: stored.id, duplicate: false });
    expect(await store.status(stored.id)).toMatchObject({ id: stored.id, status: 'queued', attempts: 0 });
    const claim = await takeOne(store);
    expect(claim.attempt).toBe(1);
    expect(claim.task).toEqual(stored);
    expect(await store.status(stored.id)).toMatchObject({ status: 'running', attempts: 1 });
    expect(await store.take(5, 20)).toEqual([]); // no second copy while it runs
    await store.finish(claim, { kind: 'succeeded', status: 201 });
    expect(await store.status(stored.id)).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      lastStatus: 201,
      lastError: null,
    });
  });

  it('hands a retried task out again after its delay, counting the attempt', async () => {
    const stored = task();
    await store.accept(stored);
    const first = await takeOne(store);
    const finishedAt = Date.now();
    await store.finish(first, { kind: 'retry', delayMs: 100, status: 503, error: 'upstream answered 503' });
    expect(await store.status(stored.id)).toMatchObject({ status: 'queued', lastStatus: 503 });
    const second = await takeOne(store);
    expect(Date.now() - finishedAt).toBeGreaterThanOrEqual(95);
    expect(second.attempt).toBe(2);
    expect(second.task.id).toBe(stored.id);
  });

  it('keeps a failed task as a dead letter that can be retried or deleted', async () => {
    const [a, b] = [task(), task()];
    await store.accept(a);
    await store.accept(b);
    for (let i = 0; i < 2; i++) {
      const claim = await takeOne(store);
      await store.finish(claim, { kind: 'failed', status: 400, error: 'upstream answered 400' });
    }
    const dead = await store.deadLetters(10);
    expect(dead.map((d) => d.id).sort()).toEqual([a.id, b.id].sort());
    expect(dead[0]).toMatchObject({ status: 'failed', method: 'POST', path: '/x?y=1', lastStatus: 400 });
    expect(await store.retryDead(a.id)).toBe(true);
    expect(await store.retryDead(a.id)).toBe(false); // no longer a dead letter
    const again = await takeOne(store);
    expect(again).toMatchObject({ attempt: 1, task: { id: a.id } });
    expect(await store.deleteDead(b.id)).toBe(true);
    expect(await store.deleteDead(b.id)).toBe(false);
    expect(await store.status(b.id)).toBeUndefined();
    expect((await store.deadLetters(10)).map((d) => d.id)).toEqual([]);
  });

  it('returns the first task for a client key already seen', async () => {
    const first = task('key-1');
    const second = task('key-1');
    await store.accept(first);
    expect(await store.accept(second)).toEqual({ id: first.id, duplicate: true });
    expect(await store.status(second.id)).toBeUndefined();
  });

  it('waits for work up to the given time and returns nothing when none comes', async () => {
    const started = performance.now();
    await store.take(1, 1); // the first Redis take also creates the consumer group
    expect(await store.take(3, 100)).toEqual([]);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});
