/**
 * The per-request context, carried on the request object the way Go code passes `ctx`: request id, route, client
 * ip and the start time are set once at the edge; the abort signal is created only when something asks for it
 * (most proxied requests never do, and an AbortController per request is measurable on the hot path).
 *
 * It is also the one place for per-request state: the edge, the forwarder, the middleware kinds and tracing keep
 * what they need about a request in the fields of `Context` below, reached through `req.portico` (or `contextOf`,
 * which throws when a handler runs outside the edge). Code that holds only the response reaches it as
 * `res.req.portico`. State kept elsewhere is state of another object (an upstream socket, ClientRequest or
 * response, an agent), and says so where it is kept.
 */
import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { RouteForwarding } from './proxy/forward.js';
import { traceFields, type RequestTrace } from './tracing/request-trace.js';
import type { LoggingEntry } from './middleware/logging.js';
import type { RequestLimits } from './middleware/rate-limit/enforce.js';
import type { BodyCapture } from './middleware/express/body.js';
import type { Plan } from './plan/build.js';
import type { RequestMeter } from './telemetry/metrics.js';

export interface RequestContext {
  readonly id: string;
  /** Route name; `-` before matching and for unmatched requests. */
  route: string;
  readonly clientIp: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /** The upstream origin chosen for this request, once chosen. */
  upstream?: string;
  /** Request-scoped logger carrying the request id; the logging middleware sets the logger it derives from. */
  log: Logger;
  /** Aborted when the client goes away before the response completes. */
  readonly signal: AbortSignal;

  // Edge (src/server.ts, src/proxy/client-cap.ts, src/plan/build.ts).
  /** The client said `Connection: close`: the response closes the connection. */
  closeWanted: boolean;
  /** The client this request counts against (`server.maxRequestsPerClient`) until its response closes. */
  capClient: string | undefined;
  /** No route or built-in took it at the edge: the plan it started with answers it (404/405) through Express. */
  fallbackPlan: Plan | undefined;
  /** The safe path the edge computed, for `fallbackPlan`. */
  fallbackPath: string | undefined;
  /** A WebSocket upgrade's raw socket and first bytes, from the edge to the route's upgrade terminal. */
  upgradeSocket: Socket | undefined;
  upgradeHead: Buffer | undefined;

  // Forward (src/proxy/forward.ts).
  /** The route's forwarding details, set when the forwarder picks an upstream. */
  forwarding: RouteForwarding | undefined;
  /** The current upstream request, once it has a socket. */
  proxyReq: ClientRequest | undefined;
  /** performance.now() when the forward began (0: not forwarded). */
  forwardedAt: number;
  /** Seconds from the forward to the upstream response head, once it arrived. */
  upstreamSeconds: number | undefined;
  /** The request was replayed once on a fresh socket (stale keep-alive socket). */
  retried: boolean;
  /** The timer bounding the wait for a pooled upstream socket, while the upstream request waits in the queue. */
  queueTimer: NodeJS.Timeout | undefined;

  // `logging` kind (src/middleware/logging.ts).
  loggingEntry: LoggingEntry | undefined;
  /** Request body bytes counted as they pass (chunked bodies only). */
  bytesIn: number | undefined;
  /** Response body bytes counted as they pass (responses without Content-Length only). */
  bytesOut: number | undefined;
  /** The client socket's `bytesWritten` when the upstream body started to flow into the response. */
  socketOut: number | undefined;

  // Metrics (src/main.ts): the route's meter, from routing to the end of the response (in-flight count).
  meter: RequestMeter | undefined;

  // `rateLimit` kind (src/middleware/rate-limit/enforce.ts).
  rateLimits: RequestLimits | undefined;

  // `tracing` kind (src/tracing/).
  trace: RequestTrace | undefined;

  // `express` kind (src/middleware/express/body.ts).
  bodyCapture: BodyCapture | undefined;
}

declare module 'node:http' {
  interface IncomingMessage {
    portico?: RequestContext;
  }
}

/**
 * One class, so every context shares one hidden class. (An object literal with a per-request getter closure gets a
 * map of its own each time, since accessors live in the map: that put a map per request into old space and cost a
 * third of the proxy's throughput in garbage collection.)
 */
class Context implements RequestContext {
  route = '-';
  upstream: string | undefined = undefined;
  readonly startedAt = performance.now();
  private controller: AbortController | undefined = undefined;
  // Every field is initialised here, in one order, so that no context changes shape after construction (a field
  // added later would give that context a map of its own).
  closeWanted = false;
  capClient: string | undefined = undefined;
  fallbackPlan: Plan | undefined = undefined;
  fallbackPath: string | undefined = undefined;
  upgradeSocket: Socket | undefined = undefined;
  upgradeHead: Buffer | undefined = undefined;
  forwarding: RouteForwarding | undefined = undefined;
  proxyReq: ClientRequest | undefined = undefined;
  forwardedAt = 0;
  upstreamSeconds: number | undefined = undefined;
  retried = false;
  queueTimer: NodeJS.Timeout | undefined = undefined;
  loggingEntry: LoggingEntry | undefined = undefined;
  bytesIn: number | undefined = undefined;
  bytesOut: number | undefined = undefined;
  socketOut: number | undefined = undefined;
  meter: RequestMeter | undefined = undefined;
  rateLimits: RequestLimits | undefined = undefined;
  private traced: RequestTrace | undefined = undefined;
  bodyCapture: BodyCapture | undefined = undefined;

  private child: Logger | undefined = undefined;

  constructor(
    readonly id: string,
    readonly clientIp: string,
    private logger: Logger,
    private readonly res: ServerResponse,
  ) {}

  /**
   * The request's logger, carrying its id and, once the request is traced, its trace ids (so every line about the
   * request, an upstream failure or a store error, can be joined to its spans); made on first use (most requests log
   * one line or none).
   */
  get log(): Logger {
    this.child ??= this.logger.child(
      this.traced === undefined ? { reqId: this.id } : { reqId: this.id, ...traceFields(this.traced) },
    );
    return this.child;
  }

  get trace(): RequestTrace | undefined {
    return this.traced;
  }

  set trace(record: RequestTrace | undefined) {
    this.traced = record;
    this.child = undefined; // lines from here on carry the trace ids
  }

  set log(logger: Logger) {
    this.logger = logger;
    this.child = undefined;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const created = new AbortController();
      this.controller = created;
      const res = this.res;
      if (res.writableFinished || res.destroyed) created.abort();
      else
        res.once('close', () => {
          if (!res.writableFinished) created.abort(new Error('client closed the connection'));
        });
    }
    return this.controller.signal;
  }
}

/** Builds the context for one request. `res` tells when the client went away. */
export function createContext(
  req: IncomingMessage,
  res: ServerResponse,
  fields: { id: string; clientIp: string; log: Logger },
): RequestContext {
  const ctx = new Context(fields.id, fields.clientIp, fields.log, res);
  req.portico = ctx;
  return ctx;
}

/** The context set at the edge; every handler behind the edge can rely on it. */
export function contextOf(req: IncomingMessage): RequestContext {
  const ctx = req.portico;
  if (ctx === undefined) throw new Error('request context missing: handler used outside the Portico edge');
  return ctx;
}
