/**
 * Client spans for upstream calls, made by hand from Node's `http.client.*` diagnostics channels instead of
 * @opentelemetry/instrumentation-http (cheaper on the proxy hot path; see src/middleware/tracing.ts).
 *
 * The `tracing` kind sets the outgoing `traceparent` to its server span and registers the request here under that
 * value. When the proxy creates the upstream ClientRequest (headers copied, not yet sent), the subscriber finds the
 * record by that header, starts a client span as the server span's child and rewrites the header to name the client
 * span: the upstream sees the same trace id with the client span as its parent. A retry on a fresh socket is a
 * second ClientRequest and gets its own client span. Matching by header instead of by the active context keeps
 * this right where context would leak: events on a reused keep-alive socket run in the context of the request that
 * opened the socket. Client requests that carry no registered traceparent (the OTLP exporter's own) are ignored.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_HTTP_REQUEST_METHOD, ATTR_HTTP_RESPONSE_STATUS_CODE, ATTR_URL_FULL } from '@opentelemetry/semantic-conventions';
import { finishRequest, formatTraceparent, inFlightRequest, type RequestTrace } from './request-trace.js';

const tracer = trace.getTracer('portico');
const CLIENT_SPAN = Symbol('portico.clientSpan');
const UPGRADING = Symbol('portico.upgrading');

interface Carrier {
  [CLIENT_SPAN]?: Span;
  [UPGRADING]?: RequestTrace;
}

let subscribed = false;

/** Subscribes to the client channels, once per process; until then no client request pays for them. */
export function watchUpstreamCalls(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('http.client.request.created', onCreated);
  subscribe('http.client.response.finish', onResponse);
  subscribe('http.client.request.error', onError);
}

function onCreated(message: unknown): void {
  const request = (message as { request: ClientRequest }).request;
  const header = request.getHeader('traceparent');
  if (typeof header !== 'string') return;
  const record = inFlightRequest(header);
  if (record === undefined) return;
  const origin = record.req.portico?.upstream;
  const base = origin === undefined ? undefined : record.upstreams.get(origin);
  const path = request.path;
  const query = path.indexOf('?');
  const span = tracer.startSpan(
    request.method,
    {
      kind: SpanKind.CLIENT,
      attributes: { ...base, [ATTR_HTTP_REQUEST_METHOD]: request.method, [ATTR_URL_FULL]: `${origin ?? ''}${query === -1 ? path : path.slice(0, query)}` },
    },
    record.context,
  );
  request.setHeader('traceparent', formatTraceparent(span.spanContext()));
  const carrier = request as ClientRequest & Carrier;
  carrier[CLIENT_SPAN] = span;
  request.on('close', endClientSpan);
  if (request.getHeader('upgrade') !== undefined) {
    carrier[UPGRADING] = record;
    request.on('upgrade', onUpgrade);
  }
}

/** The upstream accepted a WebSocket upgrade: both HTTP spans end here, not when the connection closes. */
function onUpgrade(this: ClientRequest, response: IncomingMessage): void {
  const carrier = this as ClientRequest & Carrier;
  const status = response.statusCode ?? 101;
  carrier[CLIENT_SPAN]?.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  endClientSpan.call(this);
  const record = carrier[UPGRADING];
  carrier[UPGRADING] = undefined;
  if (record !== undefined) finishRequest(record, status, true);
}

function onResponse(message: unknown): void {
  const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
  const span = (request as ClientRequest & Carrier)[CLIENT_SPAN];
  if (span === undefined) return;
  const status = response.statusCode ?? 0;
  span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  // Client spans mark 4xx and 5xx as errors (semantic conventions, HTTP client span status).
  if (status >= 400) {
    span.setAttribute(ATTR_ERROR_TYPE, String(status));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
}

function onError(message: unknown): void {
  const { request, error } = message as { request: ClientRequest; error: Error & { code?: unknown } };
  const span = (request as ClientRequest & Carrier)[CLIENT_SPAN];
  if (span === undefined) return;
  span.setAttribute(ATTR_ERROR_TYPE, typeof error.code === 'string' ? error.code : error.name);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** `close` on a ClientRequest: the response was read to its end, or the exchange failed or was cut. */
function endClientSpan(this: ClientRequest): void {
  const carrier = this as ClientRequest & Carrier;
  const span = carrier[CLIENT_SPAN];
  if (span === undefined) return;
  carrier[CLIENT_SPAN] = undefined;
  span.end();
}
