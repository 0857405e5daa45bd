/**
 * Client spans for upstream calls, made by hand from Node's `http.client.*` diagnostics channels instead of
 * @opentelemetry/instrumentation-http (cheaper on the proxy hot path; see src/tracing/kind.ts).
 *
 * The `tracing` kind sets the outgoing `traceparent` to its server span and registers the request here under that
 * value. When the proxy creates the upstream ClientRequest (headers copied, not yet sent), the subscriber finds the
 * record by that header, starts a client span as the server span's child and rewrites the header to name the client
 * span: the upstream sees the same trace id with the client span as its parent. Matching by header instead of by
 * the active context keeps this right where context would leak: events on a reused keep-alive socket run in the
 * context of the request that opened the socket.
 *
 * Which calls get a client span: the first one carrying a request's traceparent (the forward), and one after it
 * failed (the safe retry on a fresh socket, or a retry on another upstream: src/upstream/forwarder.ts, which marks a
 * try whose 5xx answer it dropped through `retryingUpstreamCall`). Another call made while the forward is open or done is a copy of the
 * request (a mirror): it keeps the server span as parent and gets no client span here, since the upstream's port is
 * not visible on a ClientRequest to describe it. Calls with no registered traceparent (the OTLP exporter's own)
 * are ignored.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { ClientRequest, IncomingMessage } from 'node:http';
import { SpanKind, SpanStatusCode, trace, type Span } from '@opentelemetry/api';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_URL_FULL,
} from '@opentelemetry/semantic-conventions';
import { pathOf } from '../proxy/path.js';
import { redactedQuery } from './query.js';
import { finishRequest, formatTraceparent, inFlightRequest, type RequestTrace } from './request-trace.js';
import { TRACER_NAME, TRACER_VERSION } from './scope.js';
import { putAttribute, putAttributes } from './span-attributes.js';

const tracer = trace.getTracer(TRACER_NAME, TRACER_VERSION);
/**
 * State of the upstream ClientRequest, not of the incoming request: the diagnostics channels and the `close` and
 * `upgrade` listeners (shared functions, no closure per call) are given that ClientRequest alone, and a request
 * may make two calls (a retry), each with its own span.
 */
const CALL = Symbol('portico.upstreamCall');

/** What the subscriber keeps on a ClientRequest it made a span for. */
interface Call {
  readonly span: Span;
  readonly record: RequestTrace;
  failed: boolean;
}

interface Carrier {
  [CALL]?: Call;
}

let subscribed = false;

/** `url.full`: origin, path and the query with its values redacted (as `url.query` on the server span). */
function fullUrl(origin: string | undefined, path: string): string {
  const query = redactedQuery(path);
  return `${origin ?? ''}${pathOf(path)}${query === undefined ? '' : `?${query}`}`;
}

/** Subscribes to the client channels, once per process; until then no client request pays for them. */
export function watchUpstreamCalls(): void {
  if (subscribed) return;
  subscribed = true;
  subscribe('http.client.request.created', onCreated);
  subscribe('http.client.response.finish', onResponse);
  subscribe('http.client.request.error', onError);
}

/** A traced request's upstream call is created: headers copied, nothing sent yet. */
function onCreated(message: unknown): void {
  const request = (message as { request: ClientRequest }).request;
  const header = request.getHeader('traceparent');
  if (typeof header !== 'string') return;
  const record = inFlightRequest(header);
  if (record === undefined || (record.upstreamCall !== undefined && record.upstreamCall !== 'failed')) return;
  record.upstreamCall = 'open';
  const origin = record.req.portico?.upstream;
  const base = origin === undefined ? undefined : record.upstreams.get(origin);
  const span = tracer.startSpan(request.method, { kind: SpanKind.CLIENT }, record.context);
  if (base !== undefined) putAttributes(span, base);
  putAttribute(span, ATTR_HTTP_REQUEST_METHOD, request.method);
  putAttribute(span, ATTR_URL_FULL, fullUrl(origin, request.path));
  request.setHeader('traceparent', formatTraceparent(span.spanContext()));
  (request as ClientRequest & Carrier)[CALL] = { span, record, failed: false };
  request.on('close', endCall);
  if (request.getHeader('upgrade') !== undefined) request.on('upgrade', onUpgrade);
}

function onResponse(message: unknown): void {
  const { request, response } = message as { request: ClientRequest; response: IncomingMessage };
  const call = (request as ClientRequest & Carrier)[CALL];
  if (call === undefined) return;
  const status = response.statusCode ?? 0;
  putAttribute(call.span, ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  // The peer the response came from: only now is the socket's address known (a pooled socket, or a fresh one).
  const socket = response.socket;
  if (socket !== null && socket.remoteAddress !== undefined) {
    putAttribute(call.span, ATTR_NETWORK_PEER_ADDRESS, socket.remoteAddress);
    if (socket.remotePort !== undefined) putAttribute(call.span, ATTR_NETWORK_PEER_PORT, socket.remotePort);
  }
  // Client spans mark 4xx and 5xx as errors (semantic conventions, HTTP client span status).
  if (status >= 400) {
    putAttribute(call.span, ATTR_ERROR_TYPE, String(status));
    call.span.setStatus({ code: SpanStatusCode.ERROR });
  }
}

function onError(message: unknown): void {
  const { request, error } = message as { request: ClientRequest; error: Error & { code?: unknown } };
  const call = (request as ClientRequest & Carrier)[CALL];
  if (call === undefined) return;
  call.failed = true;
  call.record.upstreamCall = 'failed'; // before the retry is created, from this same error
  putAttribute(call.span, ATTR_ERROR_TYPE, typeof error.code === 'string' ? error.code : error.name);
  call.span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/**
 * A try whose answer (`status`, a 5xx) is dropped for a retry on another upstream (src/upstream/forwarder.ts): its
 * span ends as failed, and the request's next upstream call gets a span of its own.
 */
export function retryingUpstreamCall(request: ClientRequest, status: string): void {
  const call = (request as ClientRequest & Carrier)[CALL];
  if (call === undefined) return;
  call.failed = true;
  call.record.upstreamCall = 'failed';
  putAttribute(call.span, 'portico.retried', true);
  call.span.setStatus({ code: SpanStatusCode.ERROR, message: `answered ${status}; retried` });
}

/** The upstream accepted a WebSocket upgrade: both HTTP spans end here, not when the connection closes. */
function onUpgrade(this: ClientRequest, response: IncomingMessage): void {
  const call = (this as ClientRequest & Carrier)[CALL];
  if (call === undefined) return;
  const status = response.statusCode ?? 101;
  putAttribute(call.span, ATTR_HTTP_RESPONSE_STATUS_CODE, status);
  endCall.call(this);
  finishRequest(call.record, status, true);
}

/** `close` on a ClientRequest: the response was read to its end, or the exchange failed or was cut. */
function endCall(this: ClientRequest): void {
  const carrier = this as ClientRequest & Carrier;
  const call = carrier[CALL];
  if (call === undefined) return;
  carrier[CALL] = undefined;
  if (!call.failed) call.record.upstreamCall = 'done'; // a failed one said so on its error, before any retry began
  call.span.end();
}
