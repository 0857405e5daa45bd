/**
 * The retry budget of one route (Envoy's `retry_budget`, Finagle's RetryBudget): retries in flight may be at most
 * `ratio` of the requests in flight, and `minRetries` always. Retries then cannot multiply an outage: when every
 * upstream fails, at most a fifth more requests reach them (at 20%), not `attempts` times as many.
 */
export class RetryBudget {
  /** Requests in flight on the route (through its resilient forwarder). */
  active = 0;
  /** Requests in flight that are on a retry. */
  retrying = 0;

  constructor(
    readonly ratio: number,
    readonly minRetries: number,
  ) {}

  /** Whether one more request may start a retry now. */
  allows(): boolean {
    return this.retrying < Math.max(this.minRetries, this.ratio * this.active);
  }
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE']);

/** RFC 9110 section 9.2.2. */
export function isIdempotent(method: string | undefined): boolean {
  return IDEMPOTENT.has(method ?? '');
}

/** A request that announces no body: no Transfer-Encoding and no Content-Length other than 0. */
export function hasNoBody(headers: { 'content-length'?: string; 'transfer-encoding'?: string }): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}
