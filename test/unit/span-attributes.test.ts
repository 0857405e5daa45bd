/**
 * Writing Portico's span attributes into the SDK span's record (src/tracing/span-attributes.ts): what a span
 * processor sees, undefined values skipped, and spans that do not record (the API's no-op, an ended span) left as
 * the SDK leaves them.
 */
import { ROOT_CONTEXT, trace, type Span } from '@opentelemetry/api';
import { TracerProvider, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { putAttribute, putAttributes, SPAN_LIMITS } from '../../src/tracing/span-attributes.js';

/** A provider as Portico builds it (its span limits), whose processor keeps each span as it ends. */
function tracer(): { ended: ReadableSpan[]; start: (name: string) => Span } {
  const ended: ReadableSpan[] = [];
  const processor = {
    onStart: () => undefined,
    onEnd: (span: ReadableSpan) => void ended.push(span),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const t = new TracerProvider({ spanProcessors: [processor], spanLimits: SPAN_LIMITS }).getTracer('span-attributes');
  return { ended, start: (name) => t.startSpan(name, {}, ROOT_CONTEXT) };
}

test('attributes written directly reach the exported span, undefined values skipped, later writes overwrite', () => {
  const { ended, start } = tracer();
  const span = start('one');
  putAttributes(span, {
    'url.path': '/a',
    'server.port': 8080,
    'portico.flag': true,
    'user_agent.original': undefined,
  });
  putAttribute(span, 'http.response.status_code', 200);
  putAttribute(span, 'url.path', '/b');
  span.end();
  const [exported] = ended;
  expect(exported?.attributes).toEqual({
    'url.path': '/b',
    'server.port': 8080,
    'portico.flag': true,
    'http.response.status_code': 200,
  });
});

test('an ended span keeps the attributes it had: a late write goes to the SDK, which ignores it', () => {
  const { ended, start } = tracer();
  const span = start('ended');
  putAttribute(span, 'before', 1);
  span.end();
  putAttribute(span, 'after', 2);
  putAttributes(span, { after: 3 });
  expect(ended[0]?.attributes).toEqual({ before: 1 });
});

test('a non-recording span (no SDK: the API no-op) takes the writes without failing and records nothing', () => {
  const span = trace.wrapSpanContext({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    traceFlags: 1,
  });
  expect(() => {
    putAttributes(span, { a: 'b' });
    putAttribute(span, 'c', 1);
  }).not.toThrow();
  expect((span as Span & { attributes?: unknown }).attributes).toBeUndefined();
  expect(span.isRecording()).toBe(false);
});

test("values are written whole: Portico's provider sets no value length limit, which direct writes would have to apply", () => {
  expect(SPAN_LIMITS.attributeValueLengthLimit).toBe(Number.POSITIVE_INFINITY);
  const { ended, start } = tracer();
  const span = start('long');
  const long = 'u'.repeat(10_000);
  putAttribute(span, 'user_agent.original', long);
  span.end();
  expect(ended[0]?.attributes['user_agent.original']).toBe(long);
});
