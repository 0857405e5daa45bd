/**
 * The long-lived parts a plan runs on: stores, the worker pool and the user lookup. Built once at start (reloads
 * reuse them) and closed in reverse order of their dependencies at shutdown.
 */
import type { Logger } from 'pino';
import type { Config } from './config/schema.js';
import type { Metrics } from './admin/metrics.js';
import type { PrometheusMetrics } from './admin/prometheus.js';
import type { BuiltinRoute } from './plan/build.js';
import { createWorkerPool, type WorkerPool } from './pool/pool.js';
import { createStores, type Stores } from './stores/stores.js';
import { createUserLookup, type UserLookup } from './users/index.js';

export interface Services {
  readonly stores: Stores;
  readonly pool: WorkerPool;
  readonly users: UserLookup | undefined;
  /** Built-in routes for a plan of `config` (the user lookup with that config's middleware entries). */
  builtins(config: Config): readonly BuiltinRoute[];
  /** Drains the pool within `drainMs`, then closes the user lookup and (unless injected) the stores. */
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

function isPrometheus(metrics: Metrics): metrics is PrometheusMetrics {
  return typeof (metrics as Partial<PrometheusMetrics>).watchPool === 'function';
}

export async function startServices(options: ServiceOptions): Promise<Services> {
  const { config, logger, metrics } = options;
  const stores = options.stores ?? (await createStores(config.redis, logger));
  const pool = createWorkerPool(config.workerPool, { logger });
  if (isPrometheus(metrics)) {
    metrics.watchPool(() => {
      const s = pool.stats();
      return { queued: s.queued, running: s.busy, completed: s.completed, failed: s.failed, rejected: s.rejected, dropped: s.dropped };
    });
  }
  let users: UserLookup | undefined;
  try {
    if (options.builtins === undefined && config.userLookup.enabled) {
      users = await createUserLookup({ config, stores, logger, metrics, runner: pool });
    }
  } catch (err) {
    await pool.shutdown(0);
    if (options.stores === undefined) await stores.close();
    throw err;
  }
  return {
    stores,
    pool,
    users,
    builtins(current) {
      if (options.builtins !== undefined) return options.builtins;
      return users === undefined ? [] : [{ ...users.builtin, middleware: current.userLookup.middleware }];
    },
    async close(drainMs) {
      const report = await pool.shutdown(drainMs);
      if (report.dropped > 0) logger.warn({ dropped: report.dropped }, 'background tasks dropped at shutdown');
      await users?.close();
      if (options.stores === undefined) await stores.close();
    },
  };
}
