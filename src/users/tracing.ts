/**
 * Named spans around the lookup's outside calls (`cache.get`, `db.query`, `cache.set`), children of whatever span
 * is active (the request's). Without a registered SDK the global tracer is a no-op and a span costs a few calls.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes } from '@opentelemetry/api';

const tracer = trace.getTracer('portico');

export async function traced<T>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T> {
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes });
  try {
    return await work();
  } catch (err) {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR });
    throw err;
  } finally {
    span.end();
  }
}
