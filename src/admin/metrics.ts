/**
 * The metrics interface the rest of Portico reports to. The Prometheus implementation lives in `prometheus.ts`;
 * tests and embedders may pass `noopMetrics`. Label values are bounded: route and policy names, never raw paths.
 */
export type UpstreamErrorKind = 'refused' | 'reset' | 'timeout';
export type RateLimitOutcome =
  'allowed' | 'limited' | 'shadow_limited' | 'store_error_allow' | 'store_error_deny' | 'store_error_local';
export type MirrorOutcome =
  'sampled' | 'answered' | 'failed' | 'dropped_too_large' | 'dropped_incomplete' | 'dropped_queue_full';
export type CacheEvent = 'hit' | 'miss' | 'error' | 'stale_skip';

export interface Metrics {
  observeRequest(route: string, method: string, status: number, seconds: number): void;
  upstreamError(route: string, kind: UpstreamErrorKind): void;
  rateLimitDecision(policy: string, outcome: RateLimitOutcome): void;
  cache(event: CacheEvent): void;
  dbQuery(seconds: number, ok: boolean): void;
  configReload(ok: boolean, hash?: string): void;
  mirror(route: string, outcome: MirrorOutcome): void;
  /** Prometheus text exposition; empty for the no-op implementation. */
  render(): Promise<string>;
  readonly contentType: string;
}

export const noopMetrics: Metrics = {
  observeRequest() {},
  upstreamError() {},
  rateLimitDecision() {},
  cache() {},
  dbQuery() {},
  configReload() {},
  mirror() {},
  render: async () => '',
  contentType: 'text/plain; version=0.0.4; charset=utf-8',
};
