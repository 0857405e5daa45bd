/**
 * Named spans around the lookup's outside calls (`cache.get`, `db.query`, `cache.set`), children of whatever span
 * is active (the request's), and made active while the call runs, so the ioredis and pg spans of that call nest
 * under them. Without a registered SDK the global tracer is a no-op and a span costs a few calls.
 */
import { SpanKind, SpanStatusCode, context, trace, type Attributes } from '@opentelemetry/api';
import { TRACER_NAME, TRACER_VERSION } from '../tracing/scope.js';

const tracer = trace.getTracer(TRACER_NAME, TRACER_VERSION);

export async function traced<T>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
  try {
    return await context.with(trace.setSpan(context.active(), span), work);
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw err;
  } finally {
    span.end();
  }
}
