/**
 * The forwarder of a route with resilience options: the I/O edge over the route's upstream set. Per request: one
 * choice (balance, health, ejection, circuit breaker), one Attempt in the request's context, one shared `close`
 * listener that gives its places back. The shared upstream proxies report each try through `attemptHooks`; a try
 * that fails in a retryable, safe way starts the next on another upstream, each its own upstream request (and so
 * its own client span when tracing is on).
 *
 * When a retry is safe: nothing of the response reached the client, and nothing of the request reached an upstream
 * that could act on it twice: a refused connection (nothing was sent), a body still held back (the body waits in a
 * gate until the upstream connection is up), or an idempotent method without a body.
 */
import { PassThrough, Readable } from 'node:stream';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { PorticoError, sendProblem } from '../errors.js';
import { forwardInTurn, forwarding } from '../proxy/forward-scope.js';
import type { AttemptHooks, Forwarder, RouteForwarding } from '../proxy/forward.js';
import { retryingUpstreamCall } from '../tracing/upstream-spans.js';
import { Attempt } from './attempt.js';
import { hasNoBody, isIdempotent } from './retry-budget.js';
import { FULL, type Member, type UpstreamSet } from './set.js';

const CONNECT_FAILURES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
]);

/** The retry condition a failed try meets (`connect-failure`, `reset`, `timeout`). */
export function failureReason(err: unknown): string {
  if (err instanceof PorticoError) return err.code === 'PORTICO_UPSTREAM_RESET' ? 'reset' : 'timeout';
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  if (CONNECT_FAILURES.has(code)) return 'connect-failure';
  if (code === 'ETIMEDOUT') return 'timeout';
  return 'reset';
}

/** Whether the request may go to another upstream after a try that failed for `reason`. */
export function safeToRetry(attempt: Attempt, reason: string): boolean {
  if (attempt.gated) return !attempt.bodySent; // nothing of the body (nor the head, written with it) went out
  if (reason === 'connect-failure') return attempt.bodyless; // nothing reached the upstream
  return attempt.replayable;
}

function attemptOf(req: IncomingMessage): Attempt | undefined {
  return req.portico?.attempt;
}

/** Sends the request's current try; shared, so deferring it to the end of the turn makes no closure. */
function sendAttempt(req: IncomingMessage, res: ServerResponse): void {
  const attempt = attemptOf(req);
  if (attempt === undefined) return;
  const proxy = attempt.member.proxy;
  const ctx = req.portico;
  const timer = ctx?.queueTimer;
  if (attempt.options === undefined) proxy.web(req, res);
  else proxy.send(req, res, attempt.options);
  // The proxy sets a queue timer exactly when the agent had to queue the request (src/proxy/forward.ts).
  if (ctx !== undefined && ctx.queueTimer !== undefined && ctx.queueTimer !== timer) attempt.queued();
}

/** `close` on the client response: the request is over, whatever happened; its places are given back. */
function finishRequest(this: ServerResponse): void {
  const attempt = this.req.portico?.attempt;
  if (attempt === undefined) return;
  attempt.release();
  const budget = attempt.set.budget;
  if (budget === undefined) return;
  budget.active--;
  if (attempt.retrying) budget.retrying--;
}

/** The next member for a retry after `reason`, or undefined when the request must not or cannot be retried. */
function nextTry(attempt: Attempt, reason: string, res: ServerResponse): Member | undefined {
  const set = attempt.set;
  const retry = set.policy.retry;
  const budget = set.budget;
  if (retry === undefined || budget === undefined || !set.retryOn.has(reason)) return undefined;
  if (attempt.tries >= retry.attempts || res.headersSent || !safeToRetry(attempt, reason)) return undefined;
  if (!attempt.retrying && !budget.allows()) return undefined;
  const tried = (attempt.tried ??= []);
  if (!tried.includes(attempt.member)) tried.push(attempt.member);
  const next = set.choose(tried);
  return next === FULL ? undefined : next;
}

/** Starts the next try on `next`, synchronously (tracing sees it as this request's upstream call). */
function retry(attempt: Attempt, next: Member, req: IncomingMessage, res: ServerResponse, reason: string): void {
  const set = attempt.set;
  attempt.tries++;
  if (!attempt.retrying && set.budget !== undefined) {
    attempt.retrying = true;
    set.budget.retrying++;
  }
  set.retried(reason);
  res.setHeader('x-portico-attempts', String(attempt.tries));
  attempt.begin(next);
  const ctx = req.portico;
  if (ctx !== undefined) ctx.upstream = next.origin;
  const gate = attempt.gated ? new PassThrough() : undefined;
  attempt.gate = gate;
  // A body already read to its end (none, or nothing left) is replayed as an empty stream, like the stale retry.
  attempt.options = next.proxy.attemptOptions(gate ?? Readable.from([]), false);
  forwarding(req, res, sendAttempt);
}

interface Pipeable {
  pipe: (destination: NodeJS.WritableStream) => NodeJS.WritableStream;
}

function dropPipe(destination: NodeJS.WritableStream): NodeJS.WritableStream {
  return destination;
}

/** After the engine copied a dropped answer's head onto the client response: the head is put back, the retry goes. */
function retryAfterDrop(
  attempt: Attempt,
  next: Member,
  req: IncomingMessage,
  res: ServerResponse,
  reason: string,
  headers: OutgoingHttpHeaders,
  statusMessage: string,
): void {
  if (res.destroyed || res.headersSent) return; // the client went away meanwhile: its `close` released everything
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  for (const [name, value] of Object.entries(headers)) if (value !== undefined) res.setHeader(name, value);
  res.statusCode = 200;
  res.statusMessage = statusMessage;
  retry(attempt, next, req, res, reason);
}

function openGate(req: IncomingMessage, attempt: Attempt, gate: PassThrough): void {
  if (attempt.gate !== gate || attempt.bodySent) return;
  attempt.bodySent = true;
  req.pipe(gate);
}

/** The shared hooks every resilient upstream proxy reports to; each finds its request's attempt in the context. */
export const attemptHooks: AttemptHooks = {
  connected(proxyReq: ClientRequest, req: IncomingMessage): void {
    const attempt = attemptOf(req);
    if (attempt === undefined) return;
    attempt.connected();
    const gate = attempt.gate;
    if (gate === undefined || attempt.bodySent) return;
    // The body leaves the gate once the connection is up: a refused connection leaves it unread, for the next try.
    const socket = proxyReq.socket;
    if (socket !== null && socket.connecting) socket.once('connect', () => openGate(req, attempt, gate));
    else openGate(req, attempt, gate);
  },

  responded(proxyRes: IncomingMessage, req: IncomingMessage, res: ServerResponse): void {
    const attempt = attemptOf(req);
    if (attempt === undefined) return;
    const status = proxyRes.statusCode ?? 0;
    attempt.set.record(attempt.member, status < 500);
    if (status < 500) return;
    const reason = String(status);
    const next = nextTry(attempt, reason, res);
    if (next === undefined) return;
    // The answer is dropped: drained (its socket goes back to the pool), never piped to the client. The engine
    // copies its status and headers onto the client response right after this event and then pipes the body
    // (test/contracts/httpxy.test.ts); the pipe is made a no-op here, and the copied head undone before the retry.
    (proxyRes as Pipeable).pipe = dropPipe;
    proxyRes.resume();
    const proxyReq = req.portico?.proxyReq;
    if (proxyReq !== undefined) retryingUpstreamCall(proxyReq, reason);
    attempt.release();
    process.nextTick(retryAfterDrop, attempt, next, req, res, reason, res.getHeaders(), res.statusMessage);
  },

  failed(err: Error, req: IncomingMessage, res: ServerResponse, stale: boolean, target: URL): boolean {
    const attempt = attemptOf(req);
    if (attempt === undefined) return false;
    // A late error of a try the request already left (its dropped answer's socket failed while draining): the
    // current try answers the client.
    if (attempt.member.url.href !== target.href) return true;
    const ctx = req.portico;
    if (stale && ctx !== undefined) {
      // The stale keep-alive replay (src/proxy/forward.ts `shouldRetry`): the same upstream on a fresh socket, not
      // a failure of that upstream.
      ctx.retried = true;
      attempt.options = attempt.member.proxy.attemptOptions(Readable.from([]), true);
      forwarding(req, res, sendAttempt);
      return true;
    }
    attempt.set.record(attempt.member, false);
    attempt.release();
    const reason = failureReason(err);
    const next = nextTry(attempt, reason, res);
    if (next === undefined) return false;
    ctx?.log.warn({ err, route: ctx.route, upstream: attempt.member.origin, reason }, 'upstream try failed; retrying');
    retry(attempt, next, req, res, reason);
    return true;
  },
};

export interface ResilientForwardOptions extends RouteForwarding {
  readonly set: UpstreamSet;
}

function overloaded(req: IncomingMessage, res: ServerResponse, set: UpstreamSet): void {
  set.rejected();
  sendProblem(
    res,
    'PORTICO_UPSTREAM_OVERLOADED',
    { requestId: req.portico?.id, route: set.route },
    { headers: { 'retry-after': '1' } },
  );
}

export function createResilientForwarder(options: ResilientForwardOptions): Forwarder {
  const { set } = options;
  const route: RouteForwarding = { route: options.route, timeoutMs: options.timeoutMs };
  const retries = set.policy.retry !== undefined;
  /** Starts the request's first try; undefined when it was answered here (every upstream at its bound). */
  const start = (req: IncomingMessage, res: ServerResponse, gateable: boolean): Attempt | undefined => {
    const chosen = set.choose();
    const ctx = req.portico;
    if (chosen === FULL || chosen === undefined || ctx === undefined) {
      overloaded(req, res, set);
      return undefined;
    }
    const bodyless = hasNoBody(req.headers);
    // httpxy reports no socket for a request with `Expect` (it never emits proxyReq then): no gate for those.
    const gated = retries && gateable && !bodyless && req.headers.expect === undefined;
    const attempt = new Attempt(set, chosen, bodyless && isIdempotent(req.method), bodyless, gated);
    attempt.begin(chosen);
    ctx.forwarding = route;
    ctx.upstream = chosen.origin;
    ctx.forwardedAt = performance.now(); // the upstream share of the request time, retries included
    ctx.attempt = attempt;
    if (set.budget !== undefined) set.budget.active++;
    res.on('close', finishRequest);
    if (gated) {
      attempt.gate = new PassThrough();
      attempt.options = chosen.proxy.attemptOptions(attempt.gate, false);
    }
    return attempt;
  };
  return {
    forward: (req, res) => {
      if (start(req, res, true) !== undefined) forwardInTurn(req, res, sendAttempt);
    },
    // A body a middleware already read is forwarded from its copy and never replayed: one try.
    forwardBody: (req, res, body) => {
      const attempt = start(req, res, false);
      if (attempt === undefined) return;
      attempt.options = attempt.member.proxy.attemptOptions(body, false);
      forwardInTurn(req, res, sendAttempt);
    },
    upgrade: (req, res, socket, head) => {
      const chosen = set.choose();
      if (chosen === FULL || chosen === undefined) {
        overloaded(req, res, set);
        return;
      }
      const ctx = req.portico;
      if (ctx !== undefined) {
        ctx.forwarding = route;
        ctx.upstream = chosen.origin;
      }
      chosen.proxy.upgrade(route, req, res, socket, head);
    },
  };
}
