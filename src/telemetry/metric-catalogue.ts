/**
 * Every metric Portico exposes, declared once: name, type, help and label names. src/admin/prometheus.ts registers
 * from these entries (so a metric cannot exist without one), the README's metric table is generated from them
 * (src/telemetry/metric-reference.ts, `npm run docs`), and a test checks the two agree with what a scrape shows and
 * with the names the Grafana dashboard in deploy/ queries.
 *
 * Conventions (Prometheus naming, checked by `promtool check metrics` in test/integration/metrics-lint.test.ts):
 * Portico's own metrics start `portico_`, monotonic values are counters ending `_total`, units are base units in
 * the name (`_seconds`, `_bytes`). The standard process and Node.js metrics keep their own names (`process_*`,
 * `nodejs_*`: prom-client's default collectors, unprefixed) so stock dashboards read them as they are. Label values
 * are bounded: route and policy names from the config, methods outside the standard set collapse to OTHER,
 * statuses to their class.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDefinition {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labelNames: readonly string[];
}

/** Upper bounds of the latency histograms, in seconds. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Upper bounds of the pool task histogram, in seconds: background tasks run from sub-millisecond to their timeout. */
export const POOL_TASK_BUCKETS: readonly number[] = [0.001, 0.005, 0.025, 0.1, 0.25, 1, 2.5, 10, 30];
/** Upper bounds of the WebSocket lifetime histogram, in seconds (a second to a day). */
export const LIFETIME_BUCKETS: readonly number[] = [1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600];

const define = <T extends Record<string, Omit<MetricDefinition, 'labelNames'> & { labelNames?: readonly string[] }>>(
  entries: T,
): { readonly [K in keyof T]: MetricDefinition } => {
  const out: Record<string, MetricDefinition> = {};
  for (const [key, entry] of Object.entries(entries)) out[key] = { labelNames: [], ...entry };
  return out as { readonly [K in keyof T]: MetricDefinition };
};

const ROUTE_LABELS = ['route', 'method', 'status'];

export const METRICS = define({
  requests: {
    name: 'portico_requests_total',
    type: 'counter',
    help: 'Requests answered, by route, method and status class (route "-": refused before routing, or unmatched)',
    labelNames: ROUTE_LABELS,
  },
  requestDuration: {
    name: 'portico_request_duration_seconds',
    type: 'histogram',
    help: 'Time from arrival to the last response byte; exemplars carry the trace id when tracing is on',
    labelNames: ROUTE_LABELS,
  },
  requestsAborted: {
    name: 'portico_requests_aborted_total',
    type: 'counter',
    help: 'Requests the client abandoned before the response was complete, by route',
    labelNames: ['route'],
  },
  inFlight: {
    name: 'portico_requests_in_flight',
    type: 'gauge',
    help: 'Requests matched to a route whose response has not ended yet, by route',
    labelNames: ['route'],
  },
  upstreamDuration: {
    name: 'portico_upstream_response_duration_seconds',
    type: 'histogram',
    help: 'Time from the forward to the upstream response head, by route (the upstream share of the request time)',
    labelNames: ['route'],
  },
  requestBytes: {
    name: 'portico_request_body_bytes_total',
    type: 'counter',
    help: 'Request body bytes received, by route (Content-Length, or counted where the route logs)',
    labelNames: ['route'],
  },
  responseBytes: {
    name: 'portico_response_body_bytes_total',
    type: 'counter',
    help: 'Response body bytes sent, by route (Content-Length, or counted where the route logs)',
    labelNames: ['route'],
  },
  websocketUpgrades: {
    name: 'portico_websocket_upgrades_total',
    type: 'counter',
    help: 'WebSocket upgrade attempts by route and outcome (accepted, refused by the upstream, failed)',
    labelNames: ['route', 'outcome'],
  },
  websocketConnections: {
    name: 'portico_websocket_connections',
    type: 'gauge',
    help: 'WebSocket connections open now, by route',
    labelNames: ['route'],
  },
  websocketDuration: {
    name: 'portico_websocket_connection_duration_seconds',
    type: 'histogram',
    help: 'Lifetime of closed WebSocket connections, from the 101 to the close, by route',
    labelNames: ['route'],
  },
  upstreamErrors: {
    name: 'portico_upstream_errors_total',
    type: 'counter',
    help: 'Failed upstream exchanges by kind (refused, reset, timeout)',
    labelNames: ['route', 'kind'],
  },
  rateLimitDecisions: {
    name: 'portico_rate_limit_decisions_total',
    type: 'counter',
    help: 'Rate-limit decisions by policy and outcome',
    labelNames: ['policy', 'outcome'],
  },
  userCacheEvents: {
    name: 'portico_user_cache_events_total',
    type: 'counter',
    help: 'User cache hits, misses and errors',
    labelNames: ['event'],
  },
  dbQueryDuration: {
    name: 'portico_db_query_duration_seconds',
    type: 'histogram',
    help: 'User lookup database query time',
    labelNames: ['outcome'],
  },
  configReloads: {
    name: 'portico_config_reloads_total',
    type: 'counter',
    help: 'Config reloads by result',
    labelNames: ['result'],
  },
  configInfo: {
    name: 'portico_config_info',
    type: 'gauge',
    help: 'The loaded config (value 1), labelled with its hash',
    labelNames: ['hash'],
  },
  mirrorCopies: {
    name: 'portico_mirror_copies_total',
    type: 'counter',
    help: 'Mirrored request copies by route and outcome',
    labelNames: ['route', 'outcome'],
  },
  poolWorkers: { name: 'portico_pool_workers', type: 'gauge', help: 'Live worker pool workers, busy or idle' },
  poolQueueDepth: { name: 'portico_pool_queue_depth', type: 'gauge', help: 'Tasks waiting in the worker pool queue' },
  poolRunning: { name: 'portico_pool_tasks_running', type: 'gauge', help: 'Worker pool tasks running now' },
  poolTasks: {
    name: 'portico_pool_tasks_total',
    type: 'counter',
    help: 'Worker pool tasks by outcome: completed, failed, timed_out, rejected (queue full or shutting down), dropped at shutdown',
    labelNames: ['outcome'],
  },
  poolTaskDuration: {
    name: 'portico_pool_task_duration_seconds',
    type: 'histogram',
    help: 'Worker pool task time from submit to settle, queue wait included (completed and failed tasks)',
  },
  asyncTasks: {
    name: 'portico_async_tasks_total',
    type: 'counter',
    help: 'Async route tasks by route and event: accepted, duplicate, refused; attempts succeeded, retried, failed',
    labelNames: ['route', 'event'],
  },
  upstreamHealthy: {
    name: 'portico_upstream_healthy',
    type: 'gauge',
    help: 'Whether an upstream of a route with resilience options is in the balance (1) or out: failed health checks or ejected (0)',
    labelNames: ['route', 'upstream'],
  },
  upstreamEjections: {
    name: 'portico_upstream_ejections_total',
    type: 'counter',
    help: 'Upstreams ejected by outlier detection, by route and upstream',
    labelNames: ['route', 'upstream'],
  },
  upstreamRetries: {
    name: 'portico_upstream_retries_total',
    type: 'counter',
    help: 'Requests retried on another upstream, by route and the condition that caused it',
    labelNames: ['route', 'reason'],
  },
  upstreamRejections: {
    name: 'portico_upstream_circuit_breaker_rejections_total',
    type: 'counter',
    help: 'Requests answered 503 at once because every upstream of the route was at its circuit-breaker bound',
    labelNames: ['route'],
  },
  spansDropped: {
    name: 'portico_trace_spans_dropped_total',
    type: 'counter',
    help: 'Spans lost since start: dropped at a full export queue or in a failed export (collector slow or down)',
  },
  logLinesDropped: {
    name: 'portico_log_lines_dropped_total',
    type: 'counter',
    help: 'Log lines dropped since start because the log destination fell behind',
  },
});

/** The standard families prom-client's default collectors add (process_*, nodejs_*), named as stock dashboards expect. */
export const STANDARD_PREFIXES: readonly string[] = ['process_', 'nodejs_'];
