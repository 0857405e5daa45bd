/**
 * One call of a user's Express middleware: `next()` continues Portico's chain; an answer ends it (the upstream never
 * sees the request); `next(err)`, a throw or a rejected promise becomes problem+json (the error's own 4xx/5xx
 * `status`/`statusCode`, else 500; PORTICO_MIDDLEWARE_FAILED); neither within the route's timeout becomes 504
 * (PORTICO_MIDDLEWARE_TIMEOUT) and a late `next` is ignored. One timer and one `close` listener per call: only
 * routes that opted in pay them.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context as otelContext, trace, SpanStatusCode, type Context, type Span } from '@opentelemetry/api';
import type { NextFunction, Request, Response } from 'express';
import { sendProblem } from '../../errors.js';
import { requestTrace } from '../../tracing/request-trace.js';
import type { Next } from '../kind.js';
import type { LoadedMiddleware } from './loader.js';
import { TRACER_NAME, TRACER_VERSION } from '../../tracing/scope.js';

const tracer = trace.getTracer(TRACER_NAME, TRACER_VERSION);

export interface CallSite {
  readonly loaded: LoadedMiddleware;
  readonly route: string;
  readonly timeoutMs: number;
}

/** `err.status` / `err.statusCode` when it is an HTTP error status (as http-errors sets), else 500. */
export function errorStatus(err: unknown): number {
  if (typeof err === 'object' && err !== null) {
    const { status, statusCode } = err as { status?: unknown; statusCode?: unknown };
    const value = typeof status === 'number' ? status : statusCode;
    if (typeof value === 'number' && Number.isInteger(value) && value >= 400 && value <= 599) return value;
  }
  return 500;
}

/** http-errors marks client errors whose message is meant for the client with `expose: true`; nothing else is. */
function exposedMessage(err: unknown, status: number): string | undefined {
  if (status >= 500 || typeof err !== 'object' || err === null) return undefined;
  const { expose, message } = err as { expose?: unknown; message?: unknown };
  return expose === true && typeof message === 'string' ? message : undefined;
}

/** The request span's context when the request is traced and recording, else undefined. */
function tracedContext(req: IncomingMessage): Context | undefined {
  const record = requestTrace(req);
  return record === undefined || record.traceparent === null ? undefined : record.context;
}

class Call {
  private settled = false;
  private readonly timer: NodeJS.Timeout;
  private readonly span: Span | undefined;
  /** The request span's context: the span's parent, and where the rest of the chain runs. */
  private readonly parent: Context | undefined;
  /** Answered (or the client left) without `next`: the chain ends here. */
  private readonly onClose = (): void => {
    if (this.finish()) this.span?.end();
  };

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly next: Next,
    private readonly site: CallSite,
  ) {
    this.parent = tracedContext(req);
    this.span =
      this.parent === undefined
        ? undefined
        : tracer.startSpan(
            `express ${site.loaded.module}`,
            { attributes: { 'portico.route': site.route, 'portico.middleware.module': site.loaded.module } },
            this.parent,
          );
    this.timer = setTimeout(() => this.timeout(), site.timeoutMs);
    this.timer.unref();
    res.once('close', this.onClose);
  }

  run(): void {
    const done: NextFunction = (err?: unknown) => this.done(err);
    const invoke = (): void => {
      try {
        const result = this.site.loaded.middleware(this.req as Request, this.res as Response, done);
        if (result instanceof Promise || (typeof result === 'object' && result !== null && 'then' in result)) {
          (result as PromiseLike<unknown>).then(undefined, (err: unknown) =>
            this.done(err ?? new Error('middleware rejected with a nullish value')),
          );
        }
      } catch (thrown) {
        this.done(thrown ?? new Error('middleware threw a nullish value'));
      }
    };
    if (this.span === undefined || this.parent === undefined) invoke();
    else otelContext.with(trace.setSpan(this.parent, this.span), invoke);
  }

  private finish(): boolean {
    if (this.settled) return false;
    this.settled = true;
    clearTimeout(this.timer);
    this.res.off('close', this.onClose);
    return true;
  }

  private done(err: unknown): void {
    if (!this.finish()) return;
    if (err !== undefined && err !== null && err !== 'route' && err !== 'router') {
      this.fail(err);
      return;
    }
    this.span?.end();
    // A middleware that answered and still called next: the answer stands, nothing is forwarded.
    if (this.res.headersSent || this.res.writableEnded) return;
    // The rest of the chain is not the middleware's work: it runs under the request span, not this one.
    if (this.parent === undefined) this.next();
    else otelContext.with(this.parent, this.next);
  }

  private fail(err: unknown): void {
    const status = errorStatus(err);
    const { route, loaded } = this.site;
    const ctx = this.req.portico;
    const fields = { err, route, module: loaded.module, status };
    if (status >= 500) ctx?.log.error(fields, 'express middleware failed');
    else ctx?.log.warn(fields, 'express middleware refused the request');
    this.span?.setStatus({ code: SpanStatusCode.ERROR, message: `status ${status}` });
    this.span?.end();
    const detail = exposedMessage(err, status);
    sendProblem(
      this.res,
      'PORTICO_MIDDLEWARE_FAILED',
      { requestId: ctx?.id, route },
      detail === undefined ? { status } : { status, detail },
    );
  }

  private timeout(): void {
    if (!this.finish()) return;
    const { route, loaded, timeoutMs } = this.site;
    const ctx = this.req.portico;
    ctx?.log.error({ route, module: loaded.module, timeoutMs }, 'express middleware neither answered nor called next');
    this.span?.setStatus({ code: SpanStatusCode.ERROR, message: 'timeout' });
    this.span?.end();
    sendProblem(this.res, 'PORTICO_MIDDLEWARE_TIMEOUT', { requestId: ctx?.id, route });
  }
}

/** Runs one middleware for one request; `next` is Portico's chain continuation. */
export function callMiddleware(req: IncomingMessage, res: ServerResponse, next: Next, site: CallSite): void {
  new Call(req, res, next, site).run();
}
