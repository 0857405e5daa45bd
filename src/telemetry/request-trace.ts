/**
 * The trace of one proxied request, kept on the request object by the `tracing` kind: its server span, the W3C
 * `traceparent` naming that span, and what the upstream client span needs. The `logging` kind reads the ids from
 * here; the upstream-span subscriber finds the record by the traceparent the forwarded request carries.
 */
import type { IncomingMessage } from 'node:http';
import type { Attributes, Context, Span, SpanContext } from '@opentelemetry/api';

/** Per-upstream attributes of a client span, computed once per route at plan build. */
export type UpstreamAttributes = ReadonlyMap<string, Attributes>;

export interface RequestTrace {
  readonly span: Span;
  /** The request's context with `span` active: the parent of the upstream client span. */
  readonly context: Context;
  /** `traceparent` of the server span, as set on the outgoing request headers; null when not recording. */
  readonly traceparent: string | null;
  readonly req: IncomingMessage;
  readonly upstreams: UpstreamAttributes;
}

const TRACE = Symbol('portico.trace');

interface Carrier {
  [TRACE]?: RequestTrace;
}

export function setRequestTrace(req: IncomingMessage, trace: RequestTrace): void {
  (req as IncomingMessage & Carrier)[TRACE] = trace;
}

export function requestTrace(req: IncomingMessage): RequestTrace | undefined {
  return (req as IncomingMessage & Carrier)[TRACE];
}

const HEX = '0123456789abcdef';

/** W3C Trace Context `traceparent` (version 00) for a span context. */
export function formatTraceparent(context: SpanContext): string {
  const flags = context.traceFlags & 0xff;
  return `00-${context.traceId}-${context.spanId}-${HEX[flags >> 4] as string}${HEX[flags & 15] as string}`;
}
