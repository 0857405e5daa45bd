/**
 * The per-request context, carried on the request object the way Go code passes `ctx`: request id, route, client
 * ip and the start time are set once at the edge; the abort signal is created only when something asks for it
 * (most proxied requests never do, and an AbortController per request is measurable on the hot path).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';

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

  private child: Logger | undefined = undefined;

  constructor(
    readonly id: string,
    readonly clientIp: string,
    private logger: Logger,
    private readonly res: ServerResponse,
  ) {}

  /** The request's logger, carrying its id; made on first use (most requests log one line or none). */
  get log(): Logger {
    this.child ??= this.logger.child({ reqId: this.id });
    return this.child;
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
