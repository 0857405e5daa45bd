/** The cache-aside service against the in-process LRU and a scripted repository: no I/O. */
import { PorticoError } from '../../src/errors.js';
import type { UserCache } from '../../src/users/cache.js';
import { memoryCache } from '../../src/users/memory-cache.js';
import type { UserRepository } from '../../src/users/repository.js';
import { deferredRunner, type BackgroundRunner } from '../../src/users/runner.js';
import { createUserService, type UserService, type UserServiceOptions } from '../../src/users/service.js';
import type { User } from '../../src/users/user.js';
import type { TaskRunner } from '../../src/pool/types.js';
import { capturedLogger, Gate, recordingMetrics } from '../integration/users-fixtures.js';

/** The `name` of a user answered as JSON text (undefined for no answer). */
const nameIn = (json: string | undefined): unknown =>
  json === undefined ? undefined : (JSON.parse(json) as { name?: unknown }).name;

const OPTIONS: UserServiceOptions = {
  ttl: 60_000,
  negativeTtl: 60_000,
  jitter: 0.1,
  fillTimeout: 1000,
  errorLogInterval: 60_000,
};

/** A repository over a Map that counts queries; its gate can hold each answer after the read (a slow fill). */
class ScriptedRepository implements UserRepository {
  readonly users = new Map<string, User>();
  readonly gate = new Gate();
  queries = 0;
  down = false;

  put(id: number, name: string): void {
    this.users.set(String(id), {
      id,
      name,
      email: `${name.toLowerCase()}@example.com`,
      createdAt: '2024-01-01T00:00:00.000Z',
    });
  }

  async findById(id: string): Promise<User | undefined> {
    this.queries += 1;
    if (this.down) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
    const found = this.users.get(id);
    await this.gate.pass();
    return found;
  }
}

function build(
  overrides: { cache?: UserCache | undefined; runner?: BackgroundRunner; options?: Partial<UserServiceOptions> } = {},
) {
  const repository = new ScriptedRepository();
  repository.put(1, 'Ada');
  const metrics = recordingMetrics();
  const { logger, lines } = capturedLogger();
  const runner = overrides.runner ?? deferredRunner(1000);
  const cache = 'cache' in overrides ? overrides.cache : memoryCache({ maxEntries: 100 });
  const service: UserService = createUserService({
    repository,
    cache,
    runner,
    metrics,
    logger,
    options: { ...OPTIONS, ...overrides.options },
  });
  return { repository, metrics, lines, service, cache };
}

describe('user service: cache-aside', () => {
  it('answers a miss from the database, then the same id from the cache without a query', async () => {
    const { service, repository, metrics } = build();
    const first = await service.lookup('1');
    expect(first).toMatchObject({ outcome: 'miss', stored: true, collapsed: false });
    expect(JSON.parse(first.value?.json ?? '')).toEqual({
      id: 1,
      name: 'Ada',
      email: 'ada@example.com',
      createdAt: '2024-01-01T00:00:00.000Z',
    });
    await service.close(); // the write is in the background; wait for it
    const second = await service.lookup('1');
    expect(second.outcome).toBe('hit');
    expect(second.value).toEqual(first.value);
    expect(repository.queries).toBe(1);
    expect(metrics.events).toEqual(['miss', 'hit']);
  });

  it('caches an absent user for negativeTtl, and not at all when negativeTtl is 0', async () => {
    const cached = build();
    expect((await cached.service.lookup('404')).value).toBeNull();
    await cached.service.close();
    expect(await cached.service.lookup('404')).toMatchObject({ value: null, outcome: 'hit' });
    expect(cached.repository.queries).toBe(1);

    const uncached = build({ options: { negativeTtl: 0 } });
    expect(await uncached.service.lookup('404')).toMatchObject({ value: null, outcome: 'miss', stored: false });
    await uncached.service.close();
    expect(await uncached.service.lookup('404')).toMatchObject({ value: null, outcome: 'miss' });
    expect(uncached.repository.queries).toBe(2);
  });

  it('queries every time with caching off (bypass)', async () => {
    const { service, repository } = build({ cache: undefined });
    expect((await service.lookup('1')).outcome).toBe('bypass');
    expect((await service.lookup('1')).outcome).toBe('bypass');
    expect(repository.queries).toBe(2);
  });

  it('collapses 1000 concurrent misses for one id into one query', async () => {
    const { service, repository } = build();
    void repository.gate.hold();
    const lookups = Array.from({ length: 1000 }, () => service.lookup('1'));
    repository.gate.release();
    const results = await Promise.all(lookups);
    expect(repository.queries).toBe(1);
    expect(results.filter((result) => result.collapsed)).toHaveLength(999);
    expect(new Set(results.map((result) => result.value?.json)).size).toBe(1);
  });

  it('keeps answering joiners from the flight until the background write settled', async () => {
    const tasks: Array<() => Promise<void>> = [];
    const manual: BackgroundRunner = {
      submit: (task) =>
        new Promise<void>((resolve, reject) =>
          tasks.push(() => task(new AbortController().signal).then(resolve, reject)),
        ),
    };
    const { service, repository } = build({ runner: manual });
    await service.lookup('1');
    expect(tasks).toHaveLength(1);
    expect(await service.lookup('1')).toMatchObject({ outcome: 'miss', collapsed: true });
    expect(repository.queries).toBe(1);
    await tasks[0]?.();
    await service.close();
    expect((await service.lookup('1')).outcome).toBe('hit');
    expect(repository.queries).toBe(1);
  });
});

describe('user service: no stale write-back', () => {
  it('drops a slow fill that an invalidation overtook', async () => {
    const { service, repository, metrics } = build();
    const read = repository.gate.hold();
    const slow = service.lookup('1'); // reads "Ada", answers late
    await read;
    repository.put(1, 'Grace'); // the owner commits ...
    await service.invalidate('1'); // ... then invalidates, while the fill is still in flight
    repository.gate.release();
    expect(nameIn((await slow).value?.json)).toBe('Ada');
    await service.close();
    expect(metrics.events).toContain('stale_skip');
    const after = await service.lookup('1');
    expect(after.outcome).toBe('miss');
    expect(nameIn(after.value?.json)).toBe('Grace');
  });

  it('starts a new flight after an invalidation instead of joining the old one', async () => {
    const { service, repository } = build();
    const read = repository.gate.hold();
    const old = service.lookup('1');
    await read;
    await service.invalidate('1');
    repository.put(1, 'Grace');
    repository.gate.release();
    const fresh = await service.lookup('1');
    await old;
    expect(nameIn(fresh.value?.json)).toBe('Grace');
    expect(repository.queries).toBe(2);
  });
});

describe('user service: failures', () => {
  const brokenCache: UserCache = {
    kind: 'redis',
    get: () => Promise.reject(new Error('Connection is closed.')),
    set: () => Promise.reject(new Error('Connection is closed.')),
    invalidate: () => Promise.reject(new Error('Connection is closed.')),
  };

  it('answers from the database when the cache fails, counting every failure and logging once per interval', async () => {
    const { service, repository, metrics, lines } = build({ cache: brokenCache });
    for (let i = 0; i < 5; i += 1) {
      const result = await service.lookup('1');
      expect(result).toMatchObject({ outcome: 'error', stored: false });
      expect(nameIn(result.value?.json)).toBe('Ada');
    }
    expect(repository.queries).toBe(5);
    expect(metrics.events.filter((event) => event === 'error')).toHaveLength(5);
    const warnings = lines.filter((line) => line.msg === 'user cache failed; answering from the database');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 40, op: 'get', suppressed: 0 });
  });

  it('counts a failed background write without failing the lookup', async () => {
    const failingWrites: UserCache = {
      ...memoryCache({ maxEntries: 10 }),
      set: () => Promise.reject(new Error('Command timed out')),
    };
    const { service, metrics } = build({ cache: failingWrites });
    expect((await service.lookup('1')).outcome).toBe('miss');
    await service.close();
    expect(metrics.events).toEqual(['miss', 'error']);
  });

  it('rejects with PORTICO_DATABASE_UNAVAILABLE when the database is down, while cached users still answer', async () => {
    const { service, repository } = build();
    await service.lookup('1');
    await service.close();
    repository.down = true;
    expect((await service.lookup('1')).outcome).toBe('hit');
    const failure = service.lookup('2');
    await expect(failure).rejects.toBeInstanceOf(PorticoError);
    await expect(failure).rejects.toMatchObject({ code: 'PORTICO_DATABASE_UNAVAILABLE', context: { userId: '2' } });
  });

  it('reports a failed invalidation as PORTICO_STORE_UNAVAILABLE (the caller must know it did not happen)', async () => {
    const { service } = build({ cache: brokenCache });
    await expect(service.invalidate('1')).rejects.toMatchObject({ code: 'PORTICO_STORE_UNAVAILABLE' });
  });
});

describe('background runner', () => {
  it('is satisfied by the worker pool contract', () => {
    const adapt = (pool: TaskRunner): BackgroundRunner => pool; // a compile-time check, kept honest at run time:
    const seen: unknown[] = [];
    const runner = adapt({
      submit: async (task, options) => {
        seen.push(options);
        return task(new AbortController().signal);
      },
    });
    return runner.submit(async () => undefined, { timeout: 5 }).then(() => expect(seen).toEqual([{ timeout: 5 }]));
  });

  it('deferred runner gives a task its own deadline and rejects past it', async () => {
    const runner = deferredRunner(1000);
    let aborted = false;
    const task = (signal: AbortSignal) =>
      new Promise<void>((resolve) =>
        signal.addEventListener('abort', () => {
          aborted = true;
          resolve();
        }),
      );
    await expect(runner.submit(async (signal) => task(signal), { timeout: 20 })).rejects.toThrow();
    expect(aborted).toBe(true);
    await runner.idle();
  });
});
