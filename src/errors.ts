/**
 * The error catalogue: every error Portico raises is declared here once, with a stable code, the HTTP status it
 * maps to where it reaches a client, and a problem type. Layers wrap errors (`cause`) and add context fields; the
 * edge logs the chain once and answers RFC 9457 problem+json without stack or internals.
 */
import { STATUS_CODES, type ServerResponse } from 'node:http';

export interface ErrorSpec {
  readonly status: number;
  readonly title: string;
  /** Where the error reaches a client, the problem `type` URI suffix; stable, documented in the README. */
  readonly type: string;
}

/** Stable codes. A test checks that each is documented in the README. */
export const ERRORS = {
  PORTICO_CONFIG_INVALID: { status: 500, title: 'Invalid configuration', type: 'config-invalid' },
  PORTICO_ROUTE_NOT_FOUND: { status: 404, title: 'No route matches the request', type: 'route-not-found' },
  PORTICO_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed on this route', type: 'method-not-allowed' },
  PORTICO_BAD_REQUEST: { status: 400, title: 'Bad request', type: 'bad-request' },
  PORTICO_HTTP_VERSION_NOT_SUPPORTED: {
    status: 505,
    title: 'HTTP version not supported',
    type: 'http-version-not-supported',
  },
  PORTICO_PAYLOAD_TOO_LARGE: { status: 413, title: 'Request body too large', type: 'payload-too-large' },
  PORTICO_REQUEST_TIMEOUT: { status: 408, title: 'Request body not received in time', type: 'request-timeout' },
  PORTICO_UPSTREAM_UNREACHABLE: { status: 502, title: 'Upstream unreachable', type: 'upstream-unreachable' },
  PORTICO_UPSTREAM_RESET: { status: 502, title: 'Upstream closed the connection', type: 'upstream-reset' },
  PORTICO_UPSTREAM_TIMEOUT: { status: 504, title: 'Upstream did not answer in time', type: 'upstream-timeout' },
  PORTICO_UPSTREAM_BUSY: { status: 503, title: 'No upstream connection free in time', type: 'upstream-busy' },
  PORTICO_UPSTREAM_OVERLOADED: {
    status: 503,
    title: 'Every upstream of the route is at its circuit-breaker bound',
    type: 'upstream-overloaded',
  },
  PORTICO_RATE_LIMITED: { status: 429, title: 'Too many requests', type: 'rate-limited' },
  PORTICO_CLIENT_CONCURRENCY: {
    status: 429,
    title: 'Too many requests in flight from this client',
    type: 'client-concurrency',
  },
  PORTICO_RATE_LIMIT_KEY_MISSING: {
    status: 400,
    title: 'Rate-limit key missing from request',
    type: 'rate-limit-key-missing',
  },
  PORTICO_STORE_UNAVAILABLE: { status: 503, title: 'A backing store is unavailable', type: 'store-unavailable' },
  PORTICO_DATABASE_UNAVAILABLE: { status: 503, title: 'The database is unavailable', type: 'database-unavailable' },
  PORTICO_USER_NOT_FOUND: { status: 404, title: 'User not found', type: 'user-not-found' },
  PORTICO_INVALID_USER_ID: { status: 400, title: 'Invalid user id', type: 'invalid-user-id' },
  PORTICO_QUEUE_FULL: { status: 503, title: 'Worker pool queue is full', type: 'queue-full' },
  PORTICO_TASK_TIMEOUT: { status: 504, title: 'Background task timed out', type: 'task-timeout' },
  PORTICO_TASK_NOT_FOUND: { status: 404, title: 'No such task', type: 'task-not-found' },
  PORTICO_SHUTTING_DOWN: { status: 503, title: 'Portico is shutting down', type: 'shutting-down' },
  PORTICO_UNAUTHORIZED: { status: 401, title: 'Missing or wrong admin token', type: 'unauthorized' },
  PORTICO_MIDDLEWARE_FAILED: {
    status: 500,
    title: 'A middleware refused or failed the request',
    type: 'middleware-failed',
  },
  PORTICO_MIDDLEWARE_TIMEOUT: {
    status: 504,
    title: 'A middleware neither answered nor continued in time',
    type: 'middleware-timeout',
  },
  PORTICO_INTERNAL: { status: 500, title: 'Internal error', type: 'internal' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** Base URI of problem types; `type` is this plus the spec's suffix. */
export const PROBLEM_BASE = 'https://portico.dev/problems/';

export type ErrorContext = Readonly<Record<string, string | number | boolean | undefined>>;

/** The one base class: a stable code, context fields, an optional cause. */
export class PorticoError extends Error {
  readonly code: ErrorCode;
  readonly context: ErrorContext;
  /** Extra headers the edge sets on the problem response (e.g. Retry-After). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; context?: ErrorContext; headers?: Record<string, string> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PorticoError';
    this.code = code;
    this.context = options.context ?? {};
    this.headers = options.headers ?? {};
  }

  get status(): number {
    return ERRORS[this.code].status;
  }
}

export function isPorticoError(err: unknown): err is PorticoError {
  return err instanceof PorticoError;
}

/** Wraps any thrown value; a PorticoError keeps its code and gains context. */
export function wrapError(err: unknown, code: ErrorCode, message: string, context: ErrorContext = {}): PorticoError {
  if (err instanceof PorticoError) {
    return new PorticoError(err.code, `${message}: ${err.message}`, {
      cause: err,
      context: { ...err.context, ...context },
      headers: { ...err.headers },
    });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new PorticoError(code, `${message}: ${detail}`, { cause: err, context });
}

export interface ProblemFields {
  readonly requestId?: string | undefined;
  readonly route?: string | undefined;
  /** Extra members, e.g. the rate-limit policy name. */
  readonly extra?: Readonly<Record<string, string | number>>;
}

/** RFC 9457 body. `detail` is the error's title-level message, never the internal message or stack. */
export function problemBody(code: ErrorCode, fields: ProblemFields, detail?: string, status?: number): string {
  const spec = ERRORS[code];
  const body: Record<string, string | number> = {
    type: PROBLEM_BASE + spec.type,
    title: spec.title,
    status: status ?? spec.status,
    code,
  };
  if (detail !== undefined) body.detail = detail;
  if (fields.route !== undefined) body.route = fields.route;
  if (fields.requestId !== undefined) body.requestId = fields.requestId;
  if (fields.extra) Object.assign(body, fields.extra);
  return JSON.stringify(body);
}

/**
 * Writes a problem+json response. If headers are already on the wire the response cannot be repaired: the socket
 * is destroyed so the client sees a truncated response rather than a complete-looking wrong one.
 */
export function sendProblem(
  res: ServerResponse,
  code: ErrorCode,
  fields: ProblemFields,
  options: {
    detail?: string;
    headers?: Readonly<Record<string, string>>;
    /** Overrides the code's status (a middleware's own 4xx/5xx); the code stays the stable part. */
    status?: number;
  } = {},
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = problemBody(code, fields, options.detail, options.status);
  const headers: Record<string, string | number> = {
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  };
  if (fields.requestId !== undefined) headers['x-request-id'] = fields.requestId;
  if (options.headers) Object.assign(headers, options.headers);
  // Drop headers an earlier middleware may have set for a success response (e.g. content-encoding, etag).
  for (const name of res.getHeaderNames()) {
    if (
      !name.startsWith('ratelimit') &&
      !name.startsWith('x-ratelimit') &&
      name !== 'retry-after' &&
      name !== 'connection' &&
      name !== 'x-portico-attempts'
    ) {
      res.removeHeader(name);
    }
  }
  // The standard reason phrase, never one an upstream response set before it failed (`502 OK`).
  const status = options.status ?? ERRORS[code].status;
  res.writeHead(status, STATUS_CODES[status], headers);
  res.end(body);
}

/** Renders any error at the edge: PorticoErrors by their code, everything else as a bare 500. */
export function sendError(res: ServerResponse, err: unknown, fields: ProblemFields): void {
  if (err instanceof PorticoError) {
    sendProblem(res, err.code, fields, { headers: err.headers });
    return;
  }
  sendProblem(res, 'PORTICO_INTERNAL', fields);
}
