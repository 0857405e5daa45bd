/**
 * The metrics interface the rest of Portico reports to: the middleware, the proxy, the user lookup and the admin
 * server all import it from here. The Prometheus implementation lives in src/admin/prometheus.ts; tests and
 * embedders may pass `noopMetrics`. Label values are bounded: route and policy names, never raw paths.
 */
export type UpstreamErrorKind = 'refused' | 'reset' | 'timeout';
export type RateLimitOutcome =
  'allowed' | 'limited' | 'shadow_limited' | 'store_error_allow' | 'store_error_deny' | 'store_error_local';
export type MirrorOutcome =
  'sampled' | 'answered' | 'failed' | 'dropped_too_large' | 'dropped_incomplete' | 'dropped_queue_full';
/** Async routes: accepts (accepted, duplicate, refused) and attempt outcomes (succeeded, retried, failed). */
export type TaskEvent = 'accepted' | 'duplicate' | 'refused' | 'succeeded' | 'retried' | 'failed';
export type CacheEvent = 'hit' | 'miss' | 'error' | 'stale_skip';

/** Gauges read on scrape from a component that keeps its own counts (the worker pool). */
export interface PoolStatsSource {
  (): {
    workers: number;
    queued: number;
    running: number;
    completed: number;
    failed: number;
    timedOut: number;
    rejected: number;
    dropped: number;
  };
}

/** The health of every resilient route's upstreams (src/upstream/), read on scrape. */
export interface UpstreamHealthSource {
  (): ReadonlyArray<{ route: string; upstream: string; healthy: boolean }>;
}

/** Events of upstream resilience (src/upstream/): counted per route, ejections per upstream too. */
export interface UpstreamMetrics {
  ejected(route: string, upstream: string): void;
  retried(route: string, reason: string): void;
  rejected(route: string): void;
  /** Exposes upstream health on each scrape (ignored by the no-op implementation). */
  watch(source: UpstreamHealthSource): void;
}

/** What the process's own telemetry had to drop so that requests were never slowed (read on scrape). */
export interface TelemetryDropsSource {
  (): { spans: number; logLines: number };
}

export type WebSocketOutcome = 'accepted' | 'refused' | 'failed';

/**
 * One route's per-request figures, got once per route name (`Metrics.meter`) and kept in the request's context from
 * routing to the end of its response, so the per-request calls below do no lookup by name.
 */
export interface RequestMeter {
  readonly route: string;
  /** Requests routed here whose response has not ended. */
  inFlight: number;
  /** Body bytes, added per request at its end. */
  bytesIn: number;
  bytesOut: number;
}

export interface Metrics {
  /** The meter of a route (or `-`), made once per name. */
  meter(route: string): RequestMeter;
  /**
   * The end of one exchange. `completed` false: the client went away before the response was complete (counted as
   * aborted, not by status). `traceId`: a sampled request's trace id, kept as an exemplar.
   */
  observeRequest(
    meter: RequestMeter,
    method: string,
    status: number,
    seconds: number,
    completed: boolean,
    traceId: string | undefined,
  ): void;
  /** Time from the forward to the upstream response head. */
  observeUpstream(meter: RequestMeter, seconds: number, traceId: string | undefined): void;
  /** A WebSocket upgrade's outcome; an accepted one is open until `websocketClosed`. */
  websocketUpgrade(route: string, outcome: WebSocketOutcome): void;
  websocketClosed(route: string, seconds: number): void;
  upstreamError(route: string, kind: UpstreamErrorKind): void;
  rateLimitDecision(policy: string, outcome: RateLimitOutcome): void;
  cache(event: CacheEvent): void;
  dbQuery(seconds: number, ok: boolean): void;
  configReload(ok: boolean, hash?: string): void;
  mirror(route: string, outcome: MirrorOutcome): void;
  task(route: string, event: TaskEvent): void;
  /** Exposes the worker pool's figures on each scrape (ignored by the no-op implementation). */
  watchPool(source: PoolStatsSource): void;
  /** One pool task settled (completed or failed), `seconds` from submit to settle, queue wait included. */
  poolTaskSettled(seconds: number): void;
  /** Exposes the span and log-line drops on each scrape (ignored by the no-op implementation). */
  watchTelemetry(source: TelemetryDropsSource): void;
  readonly upstreams: UpstreamMetrics;
  /** Prometheus text exposition; empty for the no-op implementation. */
  render(): Promise<string>;
  readonly contentType: string;
}

const NOOP_METER: RequestMeter = { route: '-', inFlight: 0, bytesIn: 0, bytesOut: 0 };

export const noopMetrics: Metrics = {
  meter: () => NOOP_METER,
  observeRequest() {},
  observeUpstream() {},
  websocketUpgrade() {},
  websocketClosed() {},
  upstreamError() {},
  rateLimitDecision() {},
  cache() {},
  dbQuery() {},
  configReload() {},
  mirror() {},
  task() {},
  watchPool() {},
  poolTaskSettled() {},
  watchTelemetry() {},
  upstreams: { ejected() {}, retried() {}, rejected() {}, watch() {} },
  render: async () => '',
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
};
