/**
 * The long-lived parts a plan runs on: stores, the worker pool and the user lookup. Built once at start (reloads
 * reuse them) and closed in reverse order of their dependencies at shutdown.
 */
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import type { Metrics } from './telemetry/metrics.js';
import type { BuiltinRoute } from './middleware/kind.js';
import { createWorkerPool, type WorkerPool } from './pool/pool.js';
import { createStores, type Stores } from './stores/stores.js';
import { createUserLookup, type UserLookup } from './users/index.js';
import { pendingLookupRoute } from './users/http.js';
import { TaskService } from './tasks/index.js';

export interface Services {
  readonly stores: Stores;
  readonly pool: WorkerPool;
  readonly users: UserLookup | undefined;
  /** Async routes' stores and delivery loops (idle until a route sets `async`). */
  readonly tasks: TaskService;
  /** Built-in routes for a plan of `config` (the user lookup with that config's middleware entries). */
  builtins(config: Config): readonly BuiltinRoute[];
  /** Drains async deliveries and the pool within `drainMs`, then closes the user lookup and (unless injected) the stores. */
  close(drainMs: number): Promise<void>;
}

export interface ServiceOptions {
  readonly config: Config;
  readonly logger: Logger;
  readonly metrics: Metrics;
  /** Injected stores are the caller's to close. */
  readonly stores?: Stores | undefined;
  /** Replace the user lookup (tests of other parts skip the database this way). */
  readonly builtins?: readonly BuiltinRoute[] | undefined;
}

export async function startServices(options: ServiceOptions): Promise<Services> {
  const { config, logger, metrics } = options;
  const stores = options.stores ?? (await createStores(config.redis, logger));
  const pool = createWorkerPool(config.workerPool, {
    logger,
    onSettle: (_outcome, seconds) => metrics.poolTaskSettled(seconds),
  });
  metrics.watchPool(() => {
    const s = pool.stats();
    return {
      workers: s.workers,
      queued: s.queued,
      running: s.busy,
      completed: s.completed,
      failed: s.failed,
      timedOut: s.timedOut,
      rejected: s.rejected,
      dropped: s.dropped,
    };
  });
  const tasks = new TaskService({
    config,
    logger,
    pool,
    concurrency: config.workerPool.max,
    onEvent: (route, event) => metrics.task(route, event),
  });
  await tasks.ready(config.redis.connectTimeout);
  let users: UserLookup | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const wanted = options.builtins === undefined && config.userLookup.enabled;
  // A database that is down at start is retried inside the lookup (users/connecting.ts), which serves cached users
  // meanwhile. Anything else that fails the set-up must not keep the proxy from serving either: the lookup answers
  // 503 and set-up is retried in the background until it succeeds.
  const setUp = async (): Promise<void> => {
    try {
      const created = await createUserLookup({ config, stores, logger, metrics, runner: pool });
      if (closed) await created.close();
      else users = created;
    } catch (err) {
      logger.error({ err }, 'user lookup unavailable; retrying in 5s');
      // Cannot reject: setUp catches every failure here, logs it and schedules the next attempt.
      if (!closed) retryTimer = setTimeout(() => void setUp(), 5000).unref();
    }
  };
  if (wanted) await setUp();
  return {
    stores,
    pool,
    tasks,
    get users() {
      return users;
    },
    builtins(current) {
      const own = tasks.builtins(current);
      if (options.builtins !== undefined) return [...options.builtins, ...own];
      if (!wanted) return own;
      return [pendingLookupRoute(current.userLookup, () => users?.service), ...own];
    },
    async close(drainMs) {
      closed = true;
      if (retryTimer !== undefined) clearTimeout(retryTimer);
      const deadline = performance.now() + drainMs;
      await tasks.close(drainMs); // delivers (in process) or hands back (Redis) first: it runs on the pool
      await pool.shutdown(Math.max(0, deadline - performance.now())); // logs and counts what it had to drop
      await users?.close();
      if (options.stores === undefined) await stores.close();
    },
  };
}
