/**
 * Attributes of the spans Portico makes by hand, written into the SDK span's attribute record instead of through
 * `startSpan({ attributes })` / `setAttribute`.
 *
 * Why: every value the SDK is given goes through @opentelemetry/core's `isAnyValue`, which allocates a `WeakSet` per
 * value (strings and numbers included), and `startSpan` cleans its attributes twice (once for the sampler, once for
 * the span). For the ~20 attributes of a request's two spans that was ~6 KB of garbage per request, the largest
 * single source on a traced request (V8's sampling heap profiler, bench/README.md "Fourth round"), and ~1.3 us of CPU
 * per span. Portico's values are strings, numbers and booleans by construction (`PrimitiveAttributes`), so the
 * checks have nothing to find.
 *
 * What is relied on: an SDK span's `attributes` (the ReadableSpan field span processors read at `onEnd`) is the
 * live record `setAttribute` writes into, and a span that is not recording (ended, unsampled, or the API's no-op)
 * says so through `isRecording()`. test/contracts/opentelemetry.test.ts states both; a span without such a record
 * takes the SDK's own methods. The limits the SDK would apply are Portico's provider's (`SPAN_LIMITS`, passed
 * explicitly in src/telemetry/bootstrap.ts): no value length limit, so nothing is truncated (a test fails if one is
 * set: these writes would have to truncate), and a count limit far above what a span holds (a server span at most
 * 16 of its own; the extras an entry configures go through the SDK).
 */
import type { Span } from '@opentelemetry/api';

/** An attribute value Portico sets on its spans; `undefined` means "not set", as the SDK treats it. */
export type PrimitiveValue = string | number | boolean | undefined;
export type PrimitiveAttributes = Readonly<Record<string, PrimitiveValue>>;

/**
 * The span limits of Portico's tracer provider: the SDK's defaults, written out so this file and the SDK agree.
 * Writing attributes directly relies on there being no value length limit.
 */
export const SPAN_LIMITS = {
  attributeCountLimit: 128,
  attributeValueLengthLimit: Number.POSITIVE_INFINITY,
} as const;

type Writable = Record<string, PrimitiveValue>;

/** The span's live attribute record, or undefined when it is not an SDK span that is recording. */
function recordOf(span: Span): Writable | undefined {
  if (!span.isRecording()) return undefined;
  const record = (span as Span & { attributes?: unknown }).attributes;
  return typeof record === 'object' && record !== null && Object.isExtensible(record)
    ? (record as Writable)
    : undefined;
}

/** Sets `attributes` on `span`, skipping undefined values; a span that is not recording keeps none. */
export function putAttributes(span: Span, attributes: PrimitiveAttributes): void {
  const record = recordOf(span);
  if (record === undefined) {
    span.setAttributes(attributes);
    return;
  }
  for (const key in attributes) {
    const value = attributes[key];
    if (value !== undefined) record[key] = value;
  }
}

/** Sets one attribute on `span` (see putAttributes). */
export function putAttribute(span: Span, key: string, value: string | number | boolean): void {
  const record = recordOf(span);
  if (record === undefined) span.setAttribute(key, value);
  else record[key] = value;
}
