/**
 * `logging`: one JSON line per request when the exchange ends (response finished, or the client went away), at
 * error for 5xx, warn for 4xx, info otherwise. Options: `level`, the threshold for this entry's lines (default
 * `telemetry.logs.level`); at `debug` or below a line also carries the request and response headers (redacted).
 *
 * Built for the hot path instead of pino-http, whose default serializers copy every request and response header
 * into each line: per request this kind makes one child logger (the request-scoped `req.portico.log`) and one flat
 * object, registers shared listeners (no closure per request), and counts bytes only when no Content-Length says
 * how many there are. If a chain holds two `logging` entries (global and route), the last one sets the options and
 * the request still logs once.
 *
 * Fields: reqId, method, path (no query string: it may carry secrets), route, status (absent when the client left
 * before a status was sent), durationMs, bytesIn and bytesOut (body bytes; for an aborted response, those put on the
 * socket before it was cut), upstream, clientIp, userAgent; `trace_id`, `span_id`, `trace_flags` (OpenTelemetry log
 * data model names) when the request is traced, `span_id` only for a sampled one; `aborted` (`client_closed`, or
 * `client_closed_before_status`) when the client went away first. The admin port's access log (pino-http, off the hot
 * path: src/admin/server.ts) uses the same names.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { z } from 'zod';
import { logLevel } from '../telemetry/config.js';
import { flatLinesOf } from '../telemetry/logger.js';
import type { FlatLineWriter } from '../telemetry/flat-line.js';
import { pathOf } from '../proxy/path.js';
import { headerNamesSet } from './headers.js';
import { defineKind } from './kind.js';

export interface LoggingEntry {
  readonly log: Logger;
  /** Threshold is debug or trace: lines carry headers. */
  readonly headers: boolean;
  /** Headers whose values the config sets (`headers` entries): masked in those lines, whatever their names. */
  readonly masked: ReadonlySet<string>;
  /** Writes the line without pino's call (src/telemetry/flat-line.ts says why); absent when lines carry headers. */
  readonly flat?: FlatLineWriter;
}

/*
 * The entry and the byte counts live in the request's context (src/context.ts). The one slot kept elsewhere is on
 * the upstream body stream piped into the response: its `data` listener is a shared function given that stream
 * alone, and the slot names the response whose bytes it counts.
 */
const OWNER = Symbol('portico.owner');

interface PipedSource {
  [OWNER]?: ServerResponse;
}

const EMPTY_BODY_STATUS = new Set([204, 304]);

function countIn(this: IncomingMessage, chunk: Buffer): void {
  const ctx = this.portico;
  if (ctx !== undefined) ctx.bytesIn = (ctx.bytesIn ?? 0) + chunk.length;
}

/** Chunked request bodies are counted once something consumes them: a `data` listener before that would start the flow itself. */
function startCountingIn(this: IncomingMessage): void {
  this.off('resume', startCountingIn);
  this.on('data', countIn);
}

function countOut(this: Readable & PipedSource, chunk: Buffer): void {
  const ctx = this[OWNER]?.req.portico;
  if (ctx !== undefined) ctx.bytesOut = (ctx.bytesOut ?? 0) + chunk.length;
}

/** The upstream body is piped into the response; without Content-Length its chunks are counted as they pass. */
function onPipe(this: ServerResponse, source: Readable & PipedSource): void {
  const ctx = this.req.portico;
  if (ctx === undefined) return;
  ctx.socketOut = this.req.socket.bytesWritten;
  if (this.getHeader('content-length') !== undefined) return;
  ctx.bytesOut = 0;
  source[OWNER] = this;
  source.on('data', countOut);
}

function declaredLength(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const parsed = Number(value);
  return Number.isSafeInteger(parsed) && parsed >= 0 ? parsed : undefined;
}

/** Request body bytes: counted (chunked bodies on a logged route), else the declared Content-Length. */
export function bytesIn(req: IncomingMessage): number {
  return req.portico?.bytesIn ?? declaredLength(req.headers['content-length']) ?? 0;
}

/**
 * Body bytes an aborted response put on its socket: what the socket took since the body started to flow, less the
 * head. Reads Node's `_header` (the head as written; undocumented, kept by OutgoingMessage since Node 0.x; the
 * aborted-download test in test/hardening/responses.test.ts fails if it goes); without it, undefined. Exact for a connection with one response at a time (pipelined requests are not told apart).
 */
function sentBody(req: IncomingMessage, res: ServerResponse): number | undefined {
  const before = req.portico?.socketOut;
  const now = req.socket.bytesWritten as number | undefined;
  const head = (res as ServerResponse & { _header?: unknown })._header;
  if (before === undefined || now === undefined || typeof head !== 'string') return undefined;
  return Math.max(0, now - before - Buffer.byteLength(head, 'latin1'));
}

/** Response body bytes: counted (piped without Content-Length on a logged route), else declared; cut short, what was sent. */
export function bytesOut(req: IncomingMessage, res: ServerResponse, status: number, done: boolean): number {
  if (req.method === 'HEAD' || EMPTY_BODY_STATUS.has(status) || !res.headersSent) return 0;
  const counted = req.portico?.bytesOut ?? declaredLength(res.getHeader('content-length')) ?? 0;
  if (done) return counted;
  // Cut short: a declared length was never all sent, and counted chunks may still have been queued when it was cut.
  const sent = sentBody(req, res);
  return sent === undefined ? counted : Math.min(sent, counted);
}

function maskHeaders(headers: Readonly<Record<string, unknown>>, masked: ReadonlySet<string>): Record<string, unknown> {
  const copy = { ...headers };
  for (const name of masked) if (copy[name] !== undefined) copy[name] = '[Redacted]';
  return copy;
}

/** `close` on the response: the exchange is over. Writes the request's line. */
function logExchange(this: ServerResponse): void {
  const req = this.req;
  const ctx = req.portico;
  const entry = ctx?.loggingEntry;
  if (ctx === undefined || entry === undefined) return;
  const upgraded = req.headers.upgrade !== undefined && !this.headersSent;
  const status = upgraded ? 101 : this.statusCode;
  const completed = this.writableFinished || upgraded;
  // Cut short before the head went out: no status reached the client, so none is logged (not Node's default 200).
  const sent = completed || this.headersSent;
  const level = !sent ? 'warn' : status >= 500 ? 'error' : status >= 400 ? 'warn' : 'info';
  const log = entry.log;
  if (!log.isLevelEnabled(level)) return;
  const trace = ctx.trace;
  const spanContext = trace?.span.spanContext();
  const fields = {
    reqId: ctx.id,
    method: req.method,
    path: pathOf((req as IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url),
    route: ctx.route,
    status: sent ? status : undefined,
    durationMs: Math.round((performance.now() - ctx.startedAt) * 1000) / 1000,
    bytesIn: bytesIn(req),
    bytesOut: bytesOut(req, this, status, completed),
    upstream: ctx.upstream,
    clientIp: ctx.clientIp,
    userAgent: req.headers['user-agent'],
    trace_id: spanContext?.traceId,
    // only a span that is exported is named; an unsampled request says so with its flags
    span_id: trace?.traceparent === null ? undefined : spanContext?.spanId,
    trace_flags: spanContext === undefined ? undefined : (spanContext.traceFlags & 1) === 1 ? '01' : '00',
    aborted: completed ? undefined : sent ? 'client_closed' : 'client_closed_before_status',
    req: entry.headers ? { headers: maskHeaders(req.headers, entry.masked) } : undefined,
    res: entry.headers ? { headers: maskHeaders(this.getHeaders(), entry.masked) } : undefined,
  };
  const msg = completed ? 'request completed' : 'request aborted by the client';
  if (entry.flat?.write(level, fields, msg) !== true) log[level](fields, msg);
}

/** The entry for requests the edge refuses before any chain runs (bad request line, client cap): the process logger's level, no headers. */
export function edgeLogging(logger: Logger): LoggingEntry {
  return { log: logger, headers: false, masked: new Set(), flat: flatLinesOf(logger) };
}

/** Logs the request's line when its response closes, as the `logging` kind does (for requests that run no chain). */
export function logWhenClosed(req: IncomingMessage, res: ServerResponse, entry: LoggingEntry): void {
  const ctx = req.portico;
  if (ctx === undefined || ctx.loggingEntry !== undefined) return;
  ctx.loggingEntry = entry;
  res.on('close', logExchange);
}

const optionsSchema = z.strictObject({ level: logLevel.optional() }).optional();

export const loggingKind = defineKind({
  name: 'logging',
  options: optionsSchema,
  create(options, deps) {
    const level = options?.level ?? deps.config.telemetry.logs.level;
    const log = level === deps.logger.level ? deps.logger : deps.logger.child({}, { level });
    const headers = log.isLevelEnabled('debug');
    const entry: LoggingEntry = headers
      ? { log, headers, masked: headerNamesSet(deps.config) }
      : { log, headers, masked: new Set(), flat: flatLinesOf(deps.logger) };
    return (req, res, next) => {
      const ctx = req.portico;
      if (ctx === undefined) {
        next(); // never a request from the edge: it has no context to log from
        return;
      }
      const first = ctx.loggingEntry === undefined;
      ctx.loggingEntry = entry;
      ctx.log = log; // the request's child logger (with reqId) is made only if something logs
      if (first) {
        res.on('close', logExchange);
        res.on('pipe', onPipe);
        if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] !== undefined) {
          ctx.bytesIn = 0;
          if (req.readableFlowing === true) req.on('data', countIn);
          else req.on('resume', startCountingIn);
        }
      }
      next();
    };
  },
});
