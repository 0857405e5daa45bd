/**
 * The admin listener: health, readiness, metrics, the effective config, cache invalidation. A separate port,
 * loopback by default (a non-loopback bind requires `server.adminToken`, checked on every call but the two probes,
 * which answer up / ready and nothing more without it). Nothing here is
 * reachable through the proxy port: the two servers share no router.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger, LevelWithSilent } from 'pino';
import { pinoHttp } from 'pino-http';
import type { Config } from '../config/schema.js';
import { isPorticoError, sendError, sendProblem, type ProblemFields } from '../errors.js';
import type { Metrics } from '../telemetry/metrics.js';
import { redactConfig } from './redact.js';
import { pathOf } from '../proxy/path.js';
import { normalizeAddress } from '../proxy/client-ip.js';
import type { TaskService } from '../tasks/index.js';

export interface ReadinessCheck {
  readonly name: string;
  /** `ok` false makes /readyz 503; `detail` is shown either way to a caller with the token (e.g. "degraded: local fallback"). */
  readonly check: () => { ok: boolean; detail?: string };
}

export interface AdminOptions {
  readonly config: () => Config;
  readonly configHash: () => string;
  readonly draining: () => boolean;
  readonly metrics: Metrics;
  readonly readiness: () => readonly ReadinessCheck[];
  /** Invalidates one cached user; undefined when the user lookup is off. */
  readonly invalidateUser?: (id: string) => Promise<void>;
  /** Async routes' dead letters: list, retry, delete. */
  readonly tasks?: Pick<TaskService, 'deadLetters' | 'retryDead' | 'deleteDead'>;
  /** Receives one line per admin call (see `accessLog`); none when absent. */
  readonly logger?: Logger;
}

/** Paths that machines call every few seconds: logged at debug, so they do not drown the calls a person made. */
const ROUTINE = new Set(['/healthz', '/readyz', '/metrics']);

function adminLevel(req: IncomingMessage, res: ServerResponse, err?: Error): LevelWithSilent {
  if (err !== undefined || res.statusCode >= 500) return 'error';
  if (res.statusCode >= 400) return 'warn';
  return ROUTINE.has(pathOf(req.url)) ? 'debug' : 'info';
}

/** When the call arrived (`performance.now()`), for `durationMs` at the proxy's precision (pino-http counts whole ms). */
const STARTED = Symbol('portico.adminStarted');

interface AdminResponse extends ServerResponse {
  [STARTED]?: number;
}

const COMPLETED = 'admin request completed';
const FAILED = 'admin request failed';

/** The access line's fields: the proxy access log's names (src/middleware/logging.ts); `reqId` is bound by pino-http. */
function adminFields(req: IncomingMessage, res: ServerResponse): Record<string, unknown> {
  return {
    method: req.method,
    path: pathOf(req.url),
    route: 'admin',
    status: res.headersSent ? res.statusCode : undefined, // a client gone before the head got none
    durationMs: Math.round((performance.now() - ((res as AdminResponse)[STARTED] ?? 0)) * 1000) / 1000,
    clientIp: normalizeAddress(req.socket.remoteAddress ?? ''),
  };
}

/** The request id: a UUID, as on the proxy port, answered in `x-request-id` so a caller can quote it. */
function adminRequestId(_req: IncomingMessage, res: ServerResponse): string {
  const id = randomUUID();
  res.setHeader('x-request-id', id);
  return id;
}

/**
 * The admin port's access log, written by pino-http: who read the config, invalidated a cached user or was refused
 * (401 at warn). Admin traffic is a few calls a minute, so pino-http's per-request work (a child logger or two, its
 * listeners) costs nothing that matters here, unlike on the proxy port (src/middleware/logging.ts builds one flat
 * object there). The line uses the proxy access log's field names, `component: admin` told apart: reqId, method,
 * path, route (`admin`), status, durationMs, clientIp, and `err` (with its cause chain) when a call failed. Never
 * headers (the bearer token) or the query string.
 *
 * pino-http's own shape (`req`, `res`, `responseTime`) is replaced: the success and error objects return the whole
 * line, the request id is bound under the proxy's name (`reqId`, quietReqLogger: no `req` on request-scoped lines),
 * and quietResLogger keeps the request object off the access line. The child logger keeps the process logger's
 * level format, redaction and `err` serializer (errWithCause).
 */
function accessLog(logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const httpLogger = pinoHttp({
    logger: logger.child({ component: 'admin' }),
    genReqId: adminRequestId,
    customAttributeKeys: { reqId: 'reqId' },
    quietReqLogger: true,
    quietResLogger: true,
    // pino-http still binds the request to a child logger it never writes through here; the raw request is
    // serialized to method and path at that point, never its headers.
    wrapSerializers: false,
    serializers: { req: (req: IncomingMessage) => ({ method: req.method, path: pathOf(req.url) }) },
    customLogLevel: adminLevel,
    customSuccessObject: adminFields,
    // pino-http takes any 5xx for an error and makes one up ("failed with status code 503"): only a call that threw
    // (`res.err`, set below) carries an `err` and the failure message; a draining /readyz 503 is not a failure.
    customErrorObject: (req, res) => ({ ...adminFields(req, res), err: res.err }),
    customSuccessMessage: () => COMPLETED,
    customErrorMessage: (_req, res) => (res.err === undefined ? COMPLETED : FAILED),
  });
  return (req, res) => {
    (res as AdminResponse)[STARTED] = performance.now();
    httpLogger(req, res);
  };
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/**
 * `Authorization: Bearer <token>`: the scheme is case-insensitive and may be followed by more than one space (RFC
 * 9110 section 11.1 and 11.4); the token is compared in constant time.
 */
function authorized(req: IncomingMessage, token: string | undefined): boolean {
  if (token === undefined) return true;
  const header = req.headers.authorization ?? '';
  const space = header.indexOf(' ');
  if (space === -1 || header.slice(0, space).toLowerCase() !== 'bearer') return false;
  const expected = Buffer.from(token);
  const given = Buffer.from(header.slice(space).trimStart());
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function readiness(options: AdminOptions): {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string }>;
} {
  const checks: Record<string, { ok: boolean; detail?: string }> = {};
  let ready = !options.draining();
  checks.draining = { ok: ready, ...(ready ? {} : { detail: 'shutting down' }) };
  for (const probe of options.readiness()) {
    const result = probe.check();
    checks[probe.name] = result;
    if (!result.ok) ready = false;
  }
  return { ready, checks };
}

function decodedId(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined; // URIError: `%ZZ`, a lone `%`, invalid UTF-8
  }
}

/** A problem answer names the call's id (header and body), as on the proxy port; none when nothing logs the call. */
function problemFields(req: IncomingMessage): ProblemFields {
  return { requestId: typeof req.id === 'string' ? req.id : undefined };
}

async function route(req: IncomingMessage, res: ServerResponse, options: AdminOptions): Promise<void> {
  const path = pathOf(req.url);
  // HEAD is GET without the body (RFC 9110 section 9.3.2); Node drops the body of a HEAD response itself.
  const method = req.method === 'HEAD' ? 'GET' : (req.method ?? 'GET');
  const allowed = authorized(req, options.config().server.adminToken);
  // The probes answer without the token: a kubelet or load balancer probe cannot read a Secret, so requiring it
  // would put the token in plain text into every manifest. They tell only up / ready; the checks behind readiness
  // (store state, fallbacks) are shown to a caller with the token.
  if (method === 'GET' && path === '/healthz') return sendJson(res, 200, { status: 'ok' });
  if (method === 'GET' && path === '/readyz') {
    const state = readiness(options);
    const status = state.ready ? 'ready' : 'unready';
    return sendJson(res, state.ready ? 200 : 503, allowed ? { status, checks: state.checks } : { status });
  }
  if (!allowed) {
    sendProblem(res, 'PORTICO_UNAUTHORIZED', problemFields(req), { headers: { 'www-authenticate': 'Bearer' } });
    return;
  }
  if (method === 'GET' && path === '/config')
    return sendJson(res, 200, { hash: options.configHash(), config: redactConfig(options.config()) });
  if (method === 'GET' && path === '/metrics') {
    const text = await options.metrics.render();
    res.writeHead(200, { 'content-type': options.metrics.contentType });
    res.end(text);
    return;
  }
  const user = /^\/cache\/users\/([^/]+)$/.exec(path);
  if (method === 'DELETE' && user && options.invalidateUser) {
    const id = decodedId(user[1] as string);
    if (id === undefined) {
      sendProblem(res, 'PORTICO_INVALID_USER_ID', problemFields(req), {
        detail: 'malformed percent-encoding in the user id',
      });
      return;
    }
    await options.invalidateUser(id);
    res.writeHead(204).end();
    return;
  }
  if (options.tasks !== undefined && path.startsWith('/tasks/dead'))
    return deadLetters(method, path, res, options.tasks);
  sendProblem(res, 'PORTICO_ROUTE_NOT_FOUND', problemFields(req));
}

/** Listed at most per call. */
const DEAD_LETTER_PAGE = 1000;

/**
 * `GET /tasks/dead` lists dead letters (newest first per route); `POST /tasks/dead/retry` requeues all of them,
 * `POST /tasks/dead/<id>/retry` one; `DELETE /tasks/dead/<id>` removes one. A requeued task starts with its attempts
 * reset.
 */
async function deadLetters(
  method: string,
  path: string,
  res: ServerResponse,
  tasks: NonNullable<AdminOptions['tasks']>,
): Promise<void> {
  if (method === 'GET' && path === '/tasks/dead')
    return sendJson(res, 200, { deadLetters: await tasks.deadLetters(DEAD_LETTER_PAGE) });
  if (method === 'POST' && path === '/tasks/dead/retry')
    return sendJson(res, 200, { retried: await tasks.retryDead() });
  const one = /^\/tasks\/dead\/([^/]+)(\/retry)?$/.exec(path);
  const id = one ? decodedId(one[1] as string) : undefined;
  if (id !== undefined && method === 'POST' && one?.[2] !== undefined) {
    if ((await tasks.retryDead(id)) > 0) return sendJson(res, 200, { retried: 1 });
  } else if (id !== undefined && method === 'DELETE' && one?.[2] === undefined) {
    if (await tasks.deleteDead(id)) {
      res.writeHead(204).end();
      return;
    }
  } else {
    sendProblem(res, 'PORTICO_ROUTE_NOT_FOUND', {});
    return;
  }
  sendProblem(res, 'PORTICO_TASK_NOT_FOUND', {}, { detail: 'no dead letter with this task id' });
}

export function createAdminServer(options: AdminOptions): http.Server {
  const log = options.logger === undefined ? undefined : accessLog(options.logger);
  return http.createServer(
    { headersTimeout: 10_000, requestTimeout: 30_000, connectionsCheckingInterval: 1000 },
    (req, res) => {
      log?.(req, res);
      route(req, res, options).catch((err: unknown) => {
        // pino-http logs `res.err` (with its cause chain) on the access line instead of a bare "status code 500".
        if (!isPorticoError(err) || err.status >= 500)
          res.err = err instanceof Error ? err : new Error(String(err), { cause: err });
        sendError(res, err, problemFields(req));
      });
    },
  );
}
