/**
 * Metrics in Prometheus text format (prom-client), one registry per Portico instance so tests and several
 * instances in one process do not share counters. Every metric is declared in src/telemetry/metric-catalogue.ts and
 * registered here from that entry. The per-request metrics are kept by request-metrics.ts (no per-request label
 * hashing).
 *
 * With `exemplars` (tracing on) the registry speaks OpenMetrics: histogram buckets carry the trace id of a sampled
 * request as an exemplar. Prometheus reads either format; exemplars need OpenMetrics.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type RegistryContentType } from 'prom-client';
import type {
  CacheEvent,
  Metrics,
  MirrorOutcome,
  PoolStatsSource,
  RateLimitOutcome,
  TaskEvent,
  TelemetryDropsSource,
  UpstreamErrorKind,
  WebSocketOutcome,
} from '../telemetry/metrics.js';
import {
  LATENCY_BUCKETS,
  LIFETIME_BUCKETS,
  METRICS,
  POOL_TASK_BUCKETS,
  type MetricDefinition,
} from '../telemetry/metric-catalogue.js';
import { registerRequestMetrics, type RouteMeter } from './request-metrics.js';
import { registerUpstreamMetrics } from './upstream-metrics.js';
import { metricOptions as from } from './metric-options.js';

export interface PrometheusMetrics extends Metrics {
  readonly registry: Registry<RegistryContentType>;
}

export interface PrometheusOptions {
  /** prom-client's process_* and nodejs_* collectors (default on). */
  readonly defaultMetrics?: boolean;
  /** OpenMetrics exposition with trace-id exemplars on the request histograms (default off). */
  readonly exemplars?: boolean;
}

const MISNAMED_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

/** prom-client options for a catalogue entry. */

export function createPrometheusMetrics(options: PrometheusOptions = {}): PrometheusMetrics {
  const exemplars = options.exemplars === true;
  const registry = new Registry<RegistryContentType>();
  if (exemplars) registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  if (options.defaultMetrics !== false) {
    collectDefaultMetrics({ register: registry });
    // Gauges named `_total` break the naming rule promtool checks; each is the sum of the labelled gauge of the same
    // name without the suffix (`nodejs_active_handles{type}`), which stays.
    for (const name of MISNAMED_DEFAULTS) registry.removeSingleMetric(name);
  }
  const requests = registerRequestMetrics(registry, { bounds: LATENCY_BUCKETS, exemplars });
  const upstreamErrors = new Counter(from(METRICS.upstreamErrors, registry));
  const rateLimit = new Counter(from(METRICS.rateLimitDecisions, registry));
  const cache = new Counter(from(METRICS.userCacheEvents, registry));
  const db = new Histogram({ ...from(METRICS.dbQueryDuration, registry), buckets: [...LATENCY_BUCKETS] });
  const reloads = new Counter(from(METRICS.configReloads, registry));
  const configInfo = new Gauge(from(METRICS.configInfo, registry));
  const mirrors = new Counter(from(METRICS.mirrorCopies, registry));
  const upgrades = new Counter(from(METRICS.websocketUpgrades, registry));
  const websockets = new Gauge(from(METRICS.websocketConnections, registry));
  const lifetimes = new Histogram({ ...from(METRICS.websocketDuration, registry), buckets: [...LIFETIME_BUCKETS] });
  /** Read on scrape: the sum over every source watched (one per pool or telemetry set-up in the process). */
  const summed = <T>(
    sources: ReadonlyArray<() => T>,
    definition: MetricDefinition,
    pick: (figures: T) => number,
  ): void => {
    const total = (): number => sources.reduce((sum, source) => sum + pick(source()), 0);
    if (definition.type === 'counter')
      new Counter({
        ...from(definition, registry),
        collect() {
          this.reset();
          this.inc(total());
        },
      });
    else
      new Gauge({
        ...from(definition, registry),
        collect() {
          this.set(total());
        },
      });
  };
  const sources: PoolStatsSource[] = [];
  summed(sources, METRICS.poolWorkers, (s) => s.workers);
  summed(sources, METRICS.poolQueueDepth, (s) => s.queued);
  summed(sources, METRICS.poolRunning, (s) => s.running);
  // The pool keeps its own counts (it has no Metrics); the counter is set from them on each scrape.
  const outcomes: ReadonlyArray<[string, (s: ReturnType<PoolStatsSource>) => number]> = [
    ['completed', (s) => s.completed],
    ['failed', (s) => s.failed - s.timedOut],
    ['timed_out', (s) => s.timedOut],
    ['rejected', (s) => s.rejected],
    ['dropped', (s) => s.dropped],
  ];
  new Counter({
    ...from(METRICS.poolTasks, registry),
    collect() {
      this.reset();
      for (const [outcome, pick] of outcomes)
        this.inc(
          { outcome },
          sources.reduce((sum, source) => sum + pick(source()), 0),
        );
    },
  });
  const poolLatency = new Histogram({ ...from(METRICS.poolTaskDuration, registry), buckets: [...POOL_TASK_BUCKETS] });
  const tasks = new Counter(from(METRICS.asyncTasks, registry));
  const telemetrySources: TelemetryDropsSource[] = [];
  summed(telemetrySources, METRICS.spansDropped, (d) => d.spans);
  summed(telemetrySources, METRICS.logLinesDropped, (d) => d.logLines);

  return {
    registry,
    contentType: registry.contentType,
    meter: (route: string) => requests.meter(route),
    // Parameter types from Metrics (the object is returned as PrometheusMetrics): the meters are this registry's own.
    observeRequest: (meter, method, status, seconds, completed, traceId) =>
      requests.observe(meter as RouteMeter, method, status, seconds, completed, traceId),
    observeUpstream: (meter, seconds, traceId) => requests.observeUpstream(meter as RouteMeter, seconds, traceId),
    websocketUpgrade(route: string, outcome: WebSocketOutcome) {
      upgrades.inc({ route, outcome });
      if (outcome === 'accepted') websockets.inc({ route });
    },
    websocketClosed(route: string, seconds: number) {
      websockets.dec({ route });
      lifetimes.observe({ route }, seconds);
    },
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
    upstreams: registerUpstreamMetrics(registry),
    render: () => registry.metrics(),
  };
}
