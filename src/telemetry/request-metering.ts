/**
 * The per-request glue between the proxy edge and the metrics: what src/server.ts calls when a request is routed,
 * when its response closes, and when the parser refuses a request outright; and the WebSocket report the forwarder
 * calls. Shared functions made once per instance (no closure per request); each reads the request's context.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { bytesIn, bytesOut } from '../middleware/logging.js';
import type { WebSocketEvent } from '../proxy/forward.js';
import type { Metrics } from './metrics.js';

export interface RequestMetering {
  readonly routed: (req: IncomingMessage) => void;
  readonly closed: (req: IncomingMessage, res: ServerResponse) => void;
  readonly refused: (status: number) => void;
}

/** The trace id of a sampled request (an exemplar); undefined when the request is not traced or not sampled. */
function sampledTraceId(req: IncomingMessage): string | undefined {
  const trace = req.portico?.trace;
  return trace === undefined || trace.traceparent === null ? undefined : trace.span.spanContext().traceId;
}

export function requestMetering(metrics: Metrics): RequestMetering {
  return {
    routed(req) {
      const ctx = req.portico;
      if (ctx === undefined) return;
      const meter = metrics.meter(ctx.route);
      meter.inFlight += 1;
      ctx.meter = meter;
    },
    closed(req, res) {
      const ctx = req.portico;
      if (ctx === undefined) return;
      let meter = ctx.meter;
      if (meter === undefined) meter = metrics.meter(ctx.route);
      else meter.inFlight -= 1;
      const completed = res.writableFinished;
      const status = res.statusCode;
      meter.bytesIn += bytesIn(req);
      meter.bytesOut += bytesOut(req, res, status, completed);
      const traceId = sampledTraceId(req);
      const seconds = (performance.now() - ctx.startedAt) / 1000;
      metrics.observeRequest(meter, req.method ?? 'GET', status, seconds, completed, traceId);
      if (ctx.upstreamSeconds !== undefined) metrics.observeUpstream(meter, ctx.upstreamSeconds, traceId);
    },
    refused(status) {
      metrics.observeRequest(metrics.meter('-'), 'OTHER', status, 0, true, undefined);
    },
  };
}

/** Counts WebSocket upgrades and connections, and logs each connection's opening and close. */
export function webSocketReport(
  metrics: Metrics,
  logger: Logger,
): (event: WebSocketEvent, req: IncomingMessage, value: number) => void {
  return (event, req, value) => {
    const ctx = req.portico;
    const route = ctx?.route ?? '-';
    const log = ctx?.log ?? logger;
    if (event === 'closed') {
      metrics.websocketClosed(route, value);
      log.info({ route, upstream: ctx?.upstream, durationMs: Math.round(value * 1000) }, 'websocket closed');
      return;
    }
    metrics.websocketUpgrade(route, event);
    if (event === 'accepted') log.info({ route, upstream: ctx?.upstream }, 'websocket opened');
    else log.warn({ route, upstream: ctx?.upstream, status: value }, 'websocket upgrade refused by the upstream');
  };
}
