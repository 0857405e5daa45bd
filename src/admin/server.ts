/**
 * The admin listener: health, readiness, metrics, the effective config, cache invalidation. A separate port,
 * loopback by default (a non-loopback bind requires `server.adminToken`, checked on every call but the two probes,
 * which answer up / ready and nothing more without it). Nothing here is
 * reachable through the proxy port: the two servers share no router.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger, LevelWithSilent } from 'pino';
import type { Config } from '../config/schema.js';
import { isPorticoError, sendError, sendProblem } from '../errors.js';
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

/** The error a failed admin call ended with, for its access line (kept on that response only). */
const FAILURE = Symbol('portico.adminFailure');

interface AdminResponse extends ServerResponse {
  [FAILURE]?: Error;
  [STARTED]?: number;
}

const STARTED = Symbol('portico.adminStarted');

/**
 * The admin port's access log: who read the config, invalidated a cached user or was refused (401 at warn). The
 * line uses the proxy access log's field names (src/middleware/logging.ts), `component: admin` told apart: reqId,
 * method, path, route (`admin`), status, durationMs, clientIp, and `err` (with its cause chain) for a 500. Never
 * headers (the bearer token) or the query string.
 */
function accessLog(logger: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const log = logger.child({ component: 'admin' });
  function onClose(this: AdminResponse): void {
    const req = this.req;
    const err = this[FAILURE];
    const level = adminLevel(req, this, err);
    if (!log.isLevelEnabled(level)) return;
    log[level](
      {
        reqId: this.getHeader('x-request-id'),
        method: req.method,
        path: pathOf(req.url),
        route: 'admin',
        status: this.headersSent ? this.statusCode : undefined,
        durationMs: Math.round((performance.now() - (this[STARTED] ?? 0)) * 1000) / 1000,
        clientIp: normalizeAddress(req.socket.remoteAddress ?? ''),
        err,
      },
      err === undefined ? 'admin request completed' : 'admin request failed',
    );
  }
  return (req, res) => {
    (res as AdminResponse)[STARTED] = performance.now();
    res.setHeader('x-request-id', randomUUID());
    res.on('close', onClose);
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
    sendProblem(res, 'PORTICO_UNAUTHORIZED', {}, { headers: { 'www-authenticate': 'Bearer' } });
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
      sendProblem(res, 'PORTICO_INVALID_USER_ID', {}, { detail: 'malformed percent-encoding in the user id' });
      return;
    }
    await options.invalidateUser(id);
    res.writeHead(204).end();
    return;
  }
  if (options.tasks !== undefined && path.startsWith('/tasks/dead'))
    return deadLetters(method, path, res, options.tasks);
  sendProblem(res, 'PORTICO_ROUTE_NOT_FOUND', {});
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
        // The access line carries the error (with its cause chain) instead of a bare "status code 500".
        if (!isPorticoError(err) || err.status >= 500)
          (res as AdminResponse)[FAILURE] = err instanceof Error ? err : new Error(String(err), { cause: err });
        sendError(res, err, {});
      });
    },
  );
}
