/**
 * One delivery attempt: the stored request sent to the upstream with `Idempotency-Key`, the original
 * `X-Request-Id`, and trace context. The attempt's span is a new trace root linked to the accepting request's
 * span (the request ended long ago; a child would outlive its parent), and the upstream gets that span as parent;
 * with tracing off the accepting request's traceparent is passed on as it was.
 */
import http from 'node:http';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Link } from '@opentelemetry/api';
import { formatTraceparent } from '../tracing/request-trace.js';
import type { TaskRecord } from './types.js';
import { sendBuffered } from '../proxy/send-buffered.js';

const tracer = trace.getTracer('portico');
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
}

/** Framing headers are recomputed for the stored body; `expect` would make the upstream wait for a 100. */
const REFRAMED = new Set(['content-length', 'transfer-encoding', 'expect', 'idempotency-key', 'traceparent']);

function linkTo(traceparent: string): Link[] {
  const match = TRACEPARENT.exec(traceparent);
  if (match === null) return [];
  const flags = Number.parseInt(match[3] as string, 16) & TraceFlags.SAMPLED;
  return [{ context: { traceId: match[1] as string, spanId: match[2] as string, traceFlags: flags, isRemote: true } }];
}

/** The headers of one attempt. */
export function deliveryHeaders(task: TaskRecord, traceparent: string): http.OutgoingHttpHeaders {
  const headers: http.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(task.headers))
    if (!REFRAMED.has(name)) headers[name] = value as string | string[];
  headers['content-length'] = task.body.length;
  headers['idempotency-key'] = task.key;
  headers['x-request-id'] = task.requestId;
  if (traceparent !== '') headers.traceparent = traceparent;
  return headers;
}

/** Sends `task` to `target`; resolves with the status once the answer's body was read, rejects on any failure. */
export function deliver(
  task: TaskRecord,
  route: string,
  target: URL,
  agent: http.Agent,
  signal: AbortSignal,
): Promise<Answer> {
  const span = tracer.startSpan(
    `deliver ${route}`,
    { kind: SpanKind.CLIENT, links: linkTo(task.traceparent), attributes: { 'portico.task.id': task.id } },
    ROOT_CONTEXT,
  );
  const traceparent = span.isRecording() ? formatTraceparent(span.spanContext()) : task.traceparent;
  const sent = sendBuffered(target, agent, signal, {
    method: task.method,
    path: task.path,
    headers: deliveryHeaders(task, traceparent),
    body: task.body,
  }).then((answer): Answer => ({ status: answer.status, retryAfter: answer.headers['retry-after'] }));
  return sent.then(
    (answer) => {
      span.setAttribute('http.response.status_code', answer.status);
      if (answer.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
      return answer;
    },
    (err: unknown) => {
      span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
      span.end();
      throw err;
    },
  );
}
