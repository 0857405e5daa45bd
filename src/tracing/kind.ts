/**
 * `tracing`: one SERVER span per request, named `{method} {route template}`, with the HTTP semantic-convention
 * attributes (stable names: `http.route`, `url.path`, `url.query` with its values redacted, `url.scheme`,
 * `client.address`, `server.address`/`server.port`, `user_agent.original`, `http.response.status_code`, `error.type`
 * on a 5xx or an abandoned request) and the route's name as `portico.route`; the
 * client's W3C `traceparent`/`tracestate` continue the trace, and the upstream call gets a CLIENT span child
 * (src/tracing/upstream-spans.ts) whose id the upstream receives as its parent.
 *
 * Spans are made by hand with @opentelemetry/api rather than by @opentelemetry/instrumentation-http: that
 * instrumentation wraps every server `emit` and client `request`, builds its attribute set from the raw headers and
 * runs for every request whether the route traces or not. Measured (proxy pinned to one core, wrk 32 connections,
 * 100% sampled, OTLP/HTTP to a local sink): these two spans add ~85 µs of CPU per request over `logging` alone,
 * instrumentation-http making the same two spans ~295 µs (3.4k against 2.0k req/s). Without a registered SDK
 * (exporter `none`) the tracer is a no-op: the client's traceparent passes through unchanged, at a few calls.
 *
 * The server span is active while the rest of the chain runs, so ioredis / pg spans (rate limit, user lookup)
 * become its children.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { ROOT_CONTEXT, SpanKind, context, isSpanContextValid, trace, type Context } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
} from '@opentelemetry/semantic-conventions';
import {
  finishRequest,
  formatTraceparent,
  requestTrace,
  setRequestTrace,
  trackRequest,
  type UpstreamAttributes,
} from './request-trace.js';
import { watchUpstreamCalls } from './upstream-spans.js';
import { redactedQuery } from './query.js';
import { removeHeader } from '../proxy/headers.js';
import { pathOf } from '../proxy/path.js';
import { defineKind } from '../middleware/kind.js';
import { TRACER_NAME, TRACER_VERSION } from './scope.js';
import { putAttributes, type PrimitiveAttributes } from './span-attributes.js';

const tracer = trace.getTracer(TRACER_NAME, TRACER_VERSION);
const propagator = new W3CTraceContextPropagator();
const headerGetter = {
  keys: (carrier: IncomingMessage['headers']) => Object.keys(carrier),
  get: (carrier: IncomingMessage['headers'], key: string) => carrier[key],
};
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);
/** `server.address` / `server.port` of each of the route's upstream origins. */
function upstreamAttributes(urls: readonly URL[]): UpstreamAttributes {
  return new Map(
    urls.map((url) => {
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
      return [url.origin, { [ATTR_SERVER_ADDRESS]: url.hostname.replace(/^\[|\]$/g, ''), [ATTR_SERVER_PORT]: port }];
    }),
  );
}

function serverAttributes(req: IncomingMessage, route: string, template: string | undefined): PrimitiveAttributes {
  const method = req.method ?? 'GET';
  const host = req.headers.host ?? '';
  const colon = host.lastIndexOf(':');
  const hasPort = colon > host.lastIndexOf(']');
  const known = METHODS.has(method);
  return {
    [ATTR_HTTP_REQUEST_METHOD]: known ? method : '_OTHER',
    [ATTR_HTTP_REQUEST_METHOD_ORIGINAL]: known ? undefined : method,
    [ATTR_URL_PATH]: pathOf(req.url),
    [ATTR_URL_QUERY]: redactedQuery(req.url),
    [ATTR_URL_SCHEME]: 'encrypted' in req.socket ? 'https' : 'http',
    [ATTR_HTTP_ROUTE]: template,
    [ATTR_SERVER_ADDRESS]: hasPort ? host.slice(0, colon) : host,
    [ATTR_SERVER_PORT]: hasPort ? Number(host.slice(colon + 1)) : undefined,
    [ATTR_CLIENT_ADDRESS]: req.portico?.clientIp,
    [ATTR_USER_AGENT_ORIGINAL]: req.headers['user-agent'],
    [ATTR_NETWORK_PROTOCOL_VERSION]: req.httpVersion,
    'portico.route': route,
    'portico.request_id': req.portico?.id,
  };
}

/** `close` on the response: the exchange is over (completed, or the client went away). */
function endServerSpan(this: ServerResponse): void {
  const record = requestTrace(this.req);
  if (record === undefined) return;
  const upgraded = this.req.headers.upgrade !== undefined && !this.headersSent;
  finishRequest(record, upgraded ? 101 : this.statusCode, upgraded || this.writableFinished);
}

const optionsSchema = z
  .strictObject({
    /** Extra attributes on this entry's server spans, e.g. `{ team: payments }`. */
    attributes: z.record(z.string().min(1), z.string()).default({}),
  })
  .optional();

export const tracingKind = defineKind({
  name: 'tracing',
  options: optionsSchema,
  create(options, _deps, scope) {
    const route = scope.route;
    // The route's details come from its scope (src/plan/build.ts): `http.route` is its path template.
    const template = scope.template;
    // `{method} {http.route}` (HTTP semantic conventions), made once per method; another method is `HTTP`.
    const spanNames = new Map([...METHODS].map((m) => [m, template === undefined ? m : `${m} ${template}`]));
    const otherName = template === undefined ? 'HTTP' : `HTTP ${template}`;
    const upstreams = upstreamAttributes(scope.upstreams ?? []);
    const extra = options?.attributes ?? {};
    const hasExtra = Object.keys(extra).length > 0;
    watchUpstreamCalls();
    return (req, res, next) => {
      // A second tracing entry (global and route) must not open a second server span for the same request; a
      // request without a context (never one from the edge) has nowhere to keep its trace.
      if (req.portico === undefined || requestTrace(req) !== undefined) {
        next();
        return;
      }
      const parent: Context =
        req.headers.traceparent === undefined
          ? ROOT_CONTEXT
          : propagator.extract(ROOT_CONTEXT, req.headers, headerGetter);
      const remote = trace.getSpanContext(parent) !== undefined;
      // tracestate is meaningless without the traceparent it belongs to
      if (!remote) removeHeader(req.headers, 'tracestate');
      // The attributes are written once the span is known to record (./span-attributes.ts says why not here); the
      // sampler (parent-based, trace-id ratio: src/telemetry/bootstrap.ts) decides without them.
      const span = tracer.startSpan(
        spanNames.get(req.method ?? '') ?? otherName,
        { kind: SpanKind.SERVER, startTime: req.portico?.startedAt },
        parent,
      );
      const spanContext = span.spanContext();
      if (!isSpanContextValid(spanContext)) {
        next(); // no SDK and no incoming trace: nothing to propagate
        return;
      }
      const traceparent = formatTraceparent(spanContext);
      req.headers.traceparent = traceparent;
      if (!span.isRecording()) {
        setRequestTrace(req, { span, context: parent, traceparent: null, req, upstreams });
        next();
        return;
      }
      putAttributes(span, serverAttributes(req, route, template));
      if (hasExtra) span.setAttributes(extra);
      const record = { span, context: trace.setSpan(parent, span), traceparent, req, upstreams };
      setRequestTrace(req, record);
      trackRequest();
      res.on('close', endServerSpan);
      context.with(record.context, next);
    };
  },
});
