/**
 * Cache-aside user lookup with single-flight. Concurrent lookups of one id share one flight: one cache read and,
 * on a miss, one database query. A miss answers as soon as the database does; the cache write is handed to the
 * background runner with its own deadline, and the flight keeps answering joiners until that write settled, so a
 * burst of misses costs one query. The write carries the version read at the start and is dropped if an
 * invalidation came in between (no stale write-back). A cache failure never fails a lookup: it is counted, logged
 * once per interval, and the lookup goes to the database (without a write-back, as the version is unknown).
 */
import type { Logger } from 'pino';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_SYSTEM_NAME,
} from '@opentelemetry/semantic-conventions';
import type { Metrics } from '../telemetry/metrics.js';
import { wrapError } from '../errors.js';
import { ttlWithJitter, type CacheRead, type UserCache } from './cache.js';
import type { UserRepository } from './repository.js';
import type { BackgroundRunner } from './runner.js';
import { throttledWarn } from './throttled-log.js';
import { traced } from './tracing.js';
import { entryOf, type Lookup } from './user.js';

/** hit: from the cache; miss: from the database; bypass: caching is off; error: the cache failed, database used. */
export type CacheOutcome = 'hit' | 'miss' | 'bypass' | 'error';

export interface LookupResult {
  readonly value: Lookup;
  readonly outcome: CacheOutcome;
  /** A cache write was started for this value. */
  readonly stored: boolean;
  /** This lookup joined another one's database query instead of making its own. */
  readonly collapsed: boolean;
}

export interface UserService {
  /** Rejects only with PORTICO_DATABASE_UNAVAILABLE (database down, or slower than its statement timeout). */
  lookup(id: string): Promise<LookupResult>;
  /** Drops the cached entry and discards in-flight fills of `id`. Rejects with PORTICO_STORE_UNAVAILABLE. */
  invalidate(id: string): Promise<void>;
  /** Waits for pending cache writes (each bounded by fillTimeout). */
  close(): Promise<void>;
}

export interface UserServiceOptions {
  readonly ttl: number;
  readonly negativeTtl: number;
  readonly jitter: number;
  readonly fillTimeout: number;
  readonly errorLogInterval: number;
}

export interface UserServiceDeps {
  readonly repository: UserRepository;
  /** The table the repository reads (`schema.table`), for `db.collection.name` on the query span. */
  readonly table?: string;
  /** undefined: caching is off, every lookup queries the database. */
  readonly cache: UserCache | undefined;
  readonly runner: BackgroundRunner;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly options: UserServiceOptions;
  /** Told about every cache outcome, so store health reflects a Redis that is connected but failing. */
  readonly cacheHealth?: { success(): void; failure(err: unknown): void };
  readonly random?: () => number;
}

interface Shared {
  readonly leader: LookupResult;
  readonly follower: LookupResult;
}

interface Settled {
  readonly shared: Shared;
  /** Settles when the background cache write has; undefined when there is none. */
  readonly fill?: Promise<void>;
}

function share(value: Lookup, outcome: CacheOutcome, stored: boolean): Shared {
  const leader = { value, outcome, stored, collapsed: false };
  return { leader, follower: outcome === 'hit' ? leader : { ...leader, collapsed: true } };
}

export function createUserService(deps: UserServiceDeps): UserService {
  const { repository, cache, runner, metrics, options } = deps;
  const random = deps.random ?? Math.random;
  // Span attributes, made once: database semantic conventions; never the user's id or fields.
  const queryAttributes = {
    [ATTR_DB_SYSTEM_NAME]: 'postgresql',
    [ATTR_DB_OPERATION_NAME]: 'SELECT',
    [ATTR_DB_COLLECTION_NAME]: deps.table,
  };
  const cacheSystem = cache?.kind === 'redis' ? { [ATTR_DB_SYSTEM_NAME]: 'redis' } : {};
  const cacheGetAttributes = { ...cacheSystem, [ATTR_DB_OPERATION_NAME]: 'GET' };
  const cacheSetAttributes = { ...cacheSystem, [ATTR_DB_OPERATION_NAME]: 'SET' };
  const flights = new Map<string, Promise<Shared>>();
  const fills = new Set<Promise<void>>();
  const warnCache = throttledWarn(
    deps.logger,
    'user cache failed; answering from the database',
    options.errorLogInterval,
  );
  const warnDb = throttledWarn(deps.logger, 'user database unavailable', options.errorLogInterval);
  const cacheFailed = (err: unknown, op: string): void => {
    metrics.cache('error');
    deps.cacheHealth?.failure(err);
    warnCache(err, { op, cache: cache?.kind });
  };

  const query = async (id: string): Promise<Lookup> => {
    const started = performance.now();
    try {
      const user = await traced('db.query', queryAttributes, () => repository.findById(id));
      metrics.dbQuery((performance.now() - started) / 1000, true);
      return user === undefined ? null : entryOf(user);
    } catch (err) {
      metrics.dbQuery((performance.now() - started) / 1000, false);
      warnDb(err, { userId: id });
      throw wrapError(err, 'PORTICO_DATABASE_UNAVAILABLE', 'user lookup failed', { userId: id });
    }
  };

  const fill = (id: string, value: Lookup, version: string, active: UserCache): Promise<void> => {
    const ttl = ttlWithJitter(value === null ? options.negativeTtl : options.ttl, options.jitter, random);
    const task = async (signal: AbortSignal): Promise<void> => {
      if (signal.aborted) return;
      const written = await traced('cache.set', cacheSetAttributes, () => active.set(id, value, ttl, version));
      deps.cacheHealth?.success();
      if (!written) metrics.cache('stale_skip');
    };
    const done = runner.submit(task, { timeout: options.fillTimeout }).catch((err: unknown) => cacheFailed(err, 'set'));
    fills.add(done);
    // Cannot reject: `done` ends in the catch above, and cacheFailed only counts and logs.
    void done.finally(() => fills.delete(done));
    return done;
  };

  const run = async (id: string): Promise<Settled> => {
    if (cache === undefined) return { shared: share(await query(id), 'bypass', false) };
    let read: CacheRead | undefined;
    try {
      read = await traced('cache.get', cacheGetAttributes, () => cache.get(id));
      deps.cacheHealth?.success();
    } catch (err) {
      cacheFailed(err, 'get');
    }
    if (read?.value !== undefined) {
      metrics.cache('hit');
      return { shared: share(read.value, 'hit', false) };
    }
    if (read === undefined) return { shared: share(await query(id), 'error', false) };
    metrics.cache('miss');
    const value = await query(id);
    if (value === null && options.negativeTtl === 0) return { shared: share(value, 'miss', false) };
    return { shared: share(value, 'miss', true), fill: fill(id, value, read.version, cache) };
  };

  const release = (id: string, flight: Promise<Shared>): void => {
    if (flights.get(id) === flight) flights.delete(id);
  };

  /** Holds the flight until its write settled, bounded by fillTimeout in case a runner never settles it. */
  const holdUntil = (id: string, flight: Promise<Shared>, written: Promise<void>): void => {
    const timer = setTimeout(() => release(id, flight), options.fillTimeout);
    timer.unref();
    // Cannot reject: `written` is fill()'s promise, which ends in its own catch.
    void written.finally(() => {
      clearTimeout(timer);
      release(id, flight);
    });
  };

  const start = (id: string): Promise<Shared> => {
    const flight: Promise<Shared> = run(id).then(
      (settled) => {
        if (settled.fill === undefined) release(id, flight);
        else holdUntil(id, flight, settled.fill);
        return settled.shared;
      },
      (err: unknown) => {
        release(id, flight);
        throw err;
      },
    );
    flights.set(id, flight);
    return flight;
  };

  return {
    async lookup(id) {
      const joined = flights.get(id);
      if (joined !== undefined) return (await joined).follower;
      return (await start(id)).leader;
    },
    async invalidate(id) {
      flights.delete(id);
      if (cache === undefined) return;
      try {
        await cache.invalidate(id);
      } catch (err) {
        metrics.cache('error');
        throw wrapError(err, 'PORTICO_STORE_UNAVAILABLE', 'user cache invalidation failed', {
          userId: id,
          cache: cache.kind,
        });
      }
    },
    async close() {
      while (fills.size > 0) await Promise.all([...fills]);
    },
  };
}
