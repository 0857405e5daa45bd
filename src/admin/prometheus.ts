/**
 * Metrics in Prometheus text format (prom-client), one registry per Portico instance so tests and several
 * instances in one process do not share counters. Labels are bounded: route and policy names come from the config,
 * methods outside the standard set collapse to OTHER, statuses to their class. The two per-request metrics are
 * kept by request-metrics.ts (no per-request label hashing).
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type {
  CacheEvent,
  Metrics,
  MirrorOutcome,
  PoolStatsSource,
  RateLimitOutcome,
  TaskEvent,
  TelemetryDropsSource,
  UpstreamErrorKind,
} from '../telemetry/metrics.js';
import { registerRequestMetrics } from './request-metrics.js';

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface PrometheusMetrics extends Metrics {
  readonly registry: Registry;
}

export function createPrometheusMetrics(options: { defaultMetrics?: boolean } = {}): PrometheusMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'portico_' });
  const requests = registerRequestMetrics(registry, LATENCY_BUCKETS);
  const upstreamErrors = new Counter({
    name: 'portico_upstream_errors_total',
    help: 'Failed upstream exchanges by kind (refused, reset, timeout)',
    labelNames: ['route', 'kind'],
    registers: [registry],
  });
  const rateLimit = new Counter({
    name: 'portico_rate_limit_decisions_total',
    help: 'Rate-limit decisions by policy and outcome',
    labelNames: ['policy', 'outcome'],
    registers: [registry],
  });
  const cache = new Counter({
    name: 'portico_user_cache_events_total',
    help: 'User cache hits, misses and errors',
    labelNames: ['event'],
    registers: [registry],
  });
  const db = new Histogram({
    name: 'portico_db_query_duration_seconds',
    help: 'User lookup database query time',
    labelNames: ['outcome'],
    buckets: LATENCY_BUCKETS,
    registers: [registry],
  });
  const reloads = new Counter({
    name: 'portico_config_reloads_total',
    help: 'Config reloads by result',
    labelNames: ['result'],
    registers: [registry],
  });
  const configInfo = new Gauge({
    name: 'portico_config_info',
    help: 'The loaded config (value 1), labelled with its hash',
    labelNames: ['hash'],
    registers: [registry],
  });
  const mirrors = new Counter({
    name: 'portico_mirror_copies_total',
    help: 'Mirrored request copies by route and outcome',
    labelNames: ['route', 'outcome'],
    registers: [registry],
  });
  const tasks = new Counter({
    name: 'portico_async_tasks_total',
    help: 'Async route tasks by route and event: accepted, duplicate, refused; attempts succeeded, retried, failed',
    labelNames: ['route', 'event'],
    registers: [registry],
  });
  /** A gauge read on scrape: the sum over every source watched (one per pool or telemetry set-up in the process). */
  const summed = <T>(
    sources: ReadonlyArray<() => T>,
    name: string,
    help: string,
    pick: (figures: T) => number,
  ): Gauge =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(sources.reduce((sum, source) => sum + pick(source()), 0));
      },
    });
  const sources: PoolStatsSource[] = [];
  const poolGauge = (name: string, help: string, pick: (s: ReturnType<PoolStatsSource>) => number) =>
    summed(sources, name, help, pick);
  poolGauge('portico_pool_workers', 'Live worker pool workers, busy or idle', (s) => s.workers);
  poolGauge('portico_pool_queue_depth', 'Tasks waiting in the worker pool queue', (s) => s.queued);
  poolGauge('portico_pool_tasks_running', 'Worker pool tasks running now', (s) => s.running);
  // The pool keeps its own counts (it has no Metrics); the counter is set from them on each scrape.
  const outcomes: ReadonlyArray<[string, (s: ReturnType<PoolStatsSource>) => number]> = [
    ['completed', (s) => s.completed],
    ['failed', (s) => s.failed - s.timedOut],
    ['timed_out', (s) => s.timedOut],
    ['rejected', (s) => s.rejected],
    ['dropped', (s) => s.dropped],
  ];
  new Counter({
    name: 'portico_pool_tasks_total',
    help: 'Worker pool tasks by outcome: completed, failed, timed_out, rejected (queue full or shutting down), dropped at shutdown',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [outcome, pick] of outcomes)
        this.inc(
          { outcome },
          sources.reduce((sum, source) => sum + pick(source()), 0),
        );
    },
  });
  const poolLatency = new Histogram({
    name: 'portico_pool_task_duration_seconds',
    help: 'Worker pool task time from submit to settle, queue wait included (completed and failed tasks)',
    buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30],
    registers: [registry],
  });
  const telemetrySources: TelemetryDropsSource[] = [];
  const dropGauge = (name: string, help: string, pick: (d: ReturnType<TelemetryDropsSource>) => number) =>
    summed(telemetrySources, name, help, pick);
  dropGauge(
    'portico_trace_spans_dropped',
    'Spans lost since start: dropped at a full export queue or in a failed export (collector slow or down)',
    (d) => d.spans,
  );
  dropGauge(
    'portico_log_lines_dropped',
    'Log lines dropped since start because the log destination fell behind',
    (d) => d.logLines,
  );

  return {
    registry,
    contentType: registry.contentType,
    observeRequest: (route: string, method: string, status: number, seconds: number) =>
      requests.observe(route, method, status, seconds),
    upstreamError: (route: string, kind: UpstreamErrorKind) => upstreamErrors.inc({ route, kind }),
    rateLimitDecision: (policy: string, outcome: RateLimitOutcome) => rateLimit.inc({ policy, outcome }),
    cache: (event: CacheEvent) => cache.inc({ event }),
    dbQuery: (seconds: number, ok: boolean) => db.observe({ outcome: ok ? 'ok' : 'error' }, seconds),
    configReload(ok: boolean, hash?: string) {
      reloads.inc({ result: ok ? 'success' : 'failure' });
      if (ok && hash !== undefined) {
        configInfo.reset();
        configInfo.set({ hash }, 1);
      }
    },
    mirror: (route: string, outcome: MirrorOutcome) => mirrors.inc({ route, outcome }),
    task: (route: string, event: TaskEvent) => tasks.inc({ route, event }),
    watchPool: (source: PoolStatsSource) => void sources.push(source),
    poolTaskSettled: (seconds: number) => poolLatency.observe(seconds),
    watchTelemetry: (source: TelemetryDropsSource) => void telemetrySources.push(source),
    render: () => registry.metrics(),
  };
}
