/**
 * The trace of one proxied request, kept in the request's context (`req.portico.trace`) by the `tracing` kind: its server span, the W3C
 * `traceparent` naming that span, and what the upstream client span needs. The `logging` kind reads the ids from
 * here; the upstream-span subscriber finds the record of the request being forwarded (src/proxy/forward-scope.ts)
 * and checks it against the traceparent the upstream request carries.
 * A record is in flight from `trackRequest` until `finishRequest` ends its server span (once).
 */
import type { IncomingMessage } from 'node:http';
import { SpanStatusCode, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_HTTP_RESPONSE_STATUS_CODE } from '@opentelemetry/semantic-conventions';
import { currentForward } from '../proxy/forward-scope.js';
import { putAttribute, type PrimitiveAttributes } from './span-attributes.js';

/** Per-upstream attributes of a client span, computed once per route at plan build. */
export type UpstreamAttributes = ReadonlyMap<string, PrimitiveAttributes>;

export interface RequestTrace {
  readonly span: Span;
  /** The request's context with `span` active: the parent of the upstream client span. */
  readonly context: Context;
  /** `traceparent` of the server span, as set on the outgoing request headers; null when not recording. */
  readonly traceparent: string | null;
  readonly req: IncomingMessage;
  readonly upstreams: UpstreamAttributes;
  ended?: boolean;
  /** The forward to the upstream: under way, finished, or failed (a retry may follow). */
  upstreamCall?: 'open' | 'done' | 'failed';
}

/** Keeps the record in the request's context (src/context.ts); a request without one is not traced. */
export function setRequestTrace(req: IncomingMessage, trace: RequestTrace): void {
  const ctx = req.portico;
  if (ctx !== undefined) ctx.trace = trace;
}

export function requestTrace(req: IncomingMessage): RequestTrace | undefined {
  return req.portico?.trace;
}

const HEX = '0123456789abcdef';

/** Trace correlation fields of a log line, named as the OpenTelemetry log data model names them in JSON. */
export interface TraceFields {
  readonly trace_id: string;
  /** Only for a span that is exported: an unsampled request's line names none. */
  readonly span_id?: string;
  /** `01` sampled, `00` not. */
  readonly trace_flags: string;
}

export function traceFields(record: RequestTrace): TraceFields {
  const context = record.span.spanContext();
  const sampled = (context.traceFlags & 1) === 1;
  return record.traceparent === null
    ? { trace_id: context.traceId, trace_flags: sampled ? '01' : '00' }
    : { trace_id: context.traceId, span_id: context.spanId, trace_flags: sampled ? '01' : '00' };
}

/** W3C Trace Context `traceparent` (version 00) for a span context. */
export function formatTraceparent(context: SpanContext): string {
  const flags = context.traceFlags & 0xff;
  return `00-${context.traceId}-${context.spanId}-${HEX[flags >> 4] as string}${HEX[flags & 15] as string}`;
}

/**
 * Recording requests whose server span is open, counted: a per-process gauge (a test checks it drains). Requests
 * are not kept in a registry (see src/proxy/forward-scope.ts for why): WebSocket upgrades too create their upstream
 * request inside `forwarding` (src/proxy/upgrade.ts).
 */
let open = 0;

export function trackRequest(): void {
  open++;
}

/**
 * The recording request an upstream call with this traceparent belongs to: the one being forwarded. This is the
 * one place tracing still reads the proxy's "current forward": Node's `http.client.request.created` channel gives
 * the new ClientRequest alone, and it is the only moment the header can still be rewritten before it is sent (the
 * engine's `proxyReq` event comes on `socket`, after a reused socket may have taken the head). Handing the trace
 * down explicitly would mean the forwarder calling into tracing per request, or httpxy creating the request from
 * options Portico builds; the traceparent check keeps a mismatch from attaching a span to the wrong request.
 */
export function inFlightRequest(traceparent: string): RequestTrace | undefined {
  const forwarded = currentForward();
  const record = forwarded === undefined ? undefined : requestTrace(forwarded);
  return record !== undefined && record.traceparent === traceparent && record.ended !== true ? record : undefined;
}

/** Number of requests whose server span is still open (a test checks it drains). */
export function inFlightRequests(): number {
  return open;
}

/**
 * Ends the server span with the response status, once: at the end of the exchange, or for a WebSocket upgrade when
 * the upstream accepted it (the HTTP exchange is over; the connection that follows is not a request).
 */
export function finishRequest(record: RequestTrace, status: number, completed: boolean): void {
  if (record.ended === true) return;
  record.ended = true;
  if (record.traceparent !== null) open--;
  const span = record.span;
  putAttribute(span, ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  // Server spans mark only 5xx as errors; 4xx is the client's mistake (semantic conventions, HTTP server span status).
  if (status >= 500) {
    putAttribute(span, ATTR_ERROR_TYPE, String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  if (!completed) putAttribute(span, 'portico.client_aborted', true);
  span.end();
}
