/**
 * The user lookup, composed: database (PostgreSQL or embedded) → migrations → cache (Redis or LRU) → service →
 * HTTP route. The composition root calls `createUserLookup` once at start, hands `builtin` to the plan builder and
 * `invalidate` to the admin server, and calls `close` in its shutdown sequence after the proxy drained.
 */
import type { Logger } from 'pino';
import type { Metrics } from '../telemetry/metrics.js';
import type { Config } from '../config/schema.js';
import type { BuiltinRoute } from '../middleware/kind.js';
import type { Stores } from '../stores/stores.js';
import type { UserCache } from './cache.js';
import { connectingRepository } from './connecting.js';
import { openDatabase, type Database } from './database.js';
import { userLookupRoute } from './http.js';
import { subscribeInvalidations, type Subscription } from './invalidation.js';
import { memoryCache } from './memory-cache.js';
import { redisCache } from './redis-cache.js';
import { SqlUserRepository } from './repository.js';
import { deferredRunner, type BackgroundRunner } from './runner.js';
import { createUserService, type UserService } from './service.js';
import { userSql } from './sql.js';
import { requireUserId } from './user.js';

/** Sample users loaded into an empty embedded database at start, and by `seedUsers`. */
export const SAMPLE_USERS = 100;

export interface UserLookupDeps {
  readonly config: Config;
  readonly stores: Stores;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Runs cache writes; the worker pool when there is one, a deferred runner otherwise. */
  readonly runner?: BackgroundRunner;
}

export interface UserLookup {
  readonly builtin: BuiltinRoute;
  readonly service: UserService;
  /** For DELETE /cache/users/:id. Rejects with PORTICO_INVALID_USER_ID or PORTICO_STORE_UNAVAILABLE. */
  invalidate(id: string): Promise<void>;
  /** Stops the invalidation subscription, waits for pending cache writes, closes the database. */
  close(): Promise<void>;
}

function chooseCache(config: Config, stores: Stores): UserCache | undefined {
  const { cache } = config.userLookup;
  if (!cache.enabled) return undefined;
  if (stores.cacheClient === undefined) return memoryCache({ maxEntries: cache.maxEntries });
  // A version must outlive every fill that could have read it; a fill is bounded by these timeouts.
  const fillBound = cache.fillTimeout + config.database.statementTimeout + config.database.connectTimeout;
  return redisCache(stores.cacheClient, { keyPrefix: cache.keyPrefix, versionTtl: 10 * fillBound });
}

/** Opens the database and brings the table up to date (migrations, start-up check, embedded sample data). */
async function prepareRepository(config: Config, logger: Logger): Promise<SqlUserRepository> {
  const db: Database = await openDatabase(config.database, (err) =>
    logger.warn({ err }, 'idle database connection failed'),
  );
  const repository = new SqlUserRepository(db, userSql(config.userLookup, db.kind));
  try {
    if (config.database.migrate) {
      const applied = await repository.migrate();
      if (applied.length > 0) logger.info({ applied, table: config.userLookup.table }, 'user migrations applied');
    }
    await repository.verify();
    if (db.kind === 'embedded' && (await repository.isEmpty())) {
      const inserted = await repository.seed(SAMPLE_USERS);
      logger.info({ inserted }, 'embedded database seeded with sample users');
    }
    return repository;
  } catch (err) {
    await db.close().catch(() => undefined);
    throw err;
  }
}

export async function createUserLookup(deps: UserLookupDeps): Promise<UserLookup> {
  const { config, stores, logger, metrics } = deps;
  const options = config.userLookup.cache;
  const repository = await connectingRepository(() => prepareRepository(config, logger), logger);
  const cache = chooseCache(config, stores);
  const service = createUserService({
    repository,
    table: userSql(config.userLookup).target,
    cache,
    runner: deps.runner ?? deferredRunner(options.fillTimeout),
    metrics,
    logger,
    options,
    cacheHealth: { success: () => stores.reportSuccess('cache'), failure: (err) => stores.reportFailure('cache', err) },
  });
  const client = stores.cacheClient;
  const subscription: Subscription | undefined =
    options.invalidationChannel !== '' && client !== undefined && cache !== undefined
      ? subscribeInvalidations(
          client,
          options.invalidationChannel,
          (id) => service.invalidate(id),
          logger,
          options.errorLogInterval,
        )
      : undefined;
  logger.info(
    {
      database: config.database.url === '' ? 'embedded' : 'postgres',
      connected: repository.ready !== undefined,
      cache: cache?.kind ?? 'off',
      path: config.userLookup.path,
    },
    'user lookup ready',
  );
  return {
    builtin: userLookupRoute(config.userLookup, service),
    service,
    invalidate: async (id) => service.invalidate(requireUserId(id)),
    async close() {
      subscription?.close();
      await service.close();
      await repository.close();
    },
  };
}

/**
 * `portico seed`: migrates (when enabled) and loads `count` sample users, keeping ids already present; returns how
 * many were added. Against an in-memory embedded database it is moot: that one is seeded at every start.
 */
export async function seedUsers(config: Config, logger: Logger, count: number = SAMPLE_USERS): Promise<number> {
  const repository = await prepareRepository(config, logger);
  try {
    return await repository.seed(count);
  } finally {
    await repository.db.close();
  }
}
