/**
 * Spans encoded one at a time (src/telemetry/otlp-encode.ts) must make the very bytes the SDK's own protobuf
 * serializer makes for the same spans: every field, every value type, the grouping by resource and scope.
 */
import { SpanKind, SpanStatusCode, TraceFlags, context, trace, type Attributes } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { ProtoWriter, encodeRequest, encodeSpan, type ScopeBatch } from '../../src/telemetry/otlp-encode.js';

/** Groups spans by resource and scope in order of first appearance, encoding each as the processor does. */
function encodeOneByOne(spans: readonly ReadableSpan[]): Buffer {
  const batches: ScopeBatch[] = [];
  for (const span of spans) {
    let batch = batches.find((b) => b.resource === span.resource && b.scope === span.instrumentationScope);
    if (batch === undefined) {
      batch = { resource: span.resource, scope: span.instrumentationScope, spans: new ProtoWriter(64) };
      batches.push(batch);
    }
    encodeSpan(batch.spans, span);
  }
  return Buffer.from(encodeRequest(batches, new ProtoWriter(16)));
}

function library(spans: ReadableSpan[]): Buffer {
  return Buffer.from(ProtobufTraceSerializer.serializeRequest(spans) as Uint8Array);
}

function recorder(resourceAttributes: Attributes = { 'service.name': 'portico' }): {
  provider: TracerProvider;
  spans: () => ReadableSpan[];
} {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: defaultResource().merge(resourceFromAttributes(resourceAttributes)),
    spanProcessors: [new SimpleSpanProcessor({ exporter: exporter })],
  });
  return { provider, spans: () => exporter.getFinishedSpans() };
}

const EVERY_VALUE: Attributes = {
  'str.ascii': 'GET',
  'str.empty': '',
  'str.utf8': 'grüße, 東京 🚀',
  'str.long': 'x'.repeat(300), // a length that needs two varint bytes
  'bool.true': true,
  'bool.false': false,
  'int.zero': 0,
  'int.small': 200,
  'int.large': 2 ** 40 + 7,
  'int.negative': -42,
  'int.min': -(2 ** 53),
  double: 1.5,
  'double.negative': -0.25,
  'array.strings': ['a', 'b', 'ç'],
  'array.numbers': [1, 2.5, -3],
  'array.bools': [true, false],
  'array.empty': [],
};

test("a proxied request's server and client spans: the same bytes as the SDK serializer", () => {
  const { provider, spans } = recorder();
  const tracer = provider.getTracer('portico');
  const server = tracer.startSpan('orders', {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'GET',
      'url.path': '/orders/7',
      'server.port': 8080,
      'portico.request_id': 'f1c2d3e4-aaaa',
    },
  });
  const client = tracer.startSpan(
    'GET',
    { kind: SpanKind.CLIENT, attributes: { 'url.full': 'http://127.0.0.1:3000/orders/7' } },
    trace.setSpan(context.active(), server),
  );
  client.setAttribute('http.response.status_code', 200);
  client.end();
  server.setAttribute('http.response.status_code', 200);
  server.end();
  expect(spans()).toHaveLength(2);
  expect(encodeOneByOne(spans()).equals(library(spans()))).toBe(true);
});

test('every attribute value type, events, links, trace state, status message and a remote parent', () => {
  const { provider, spans } = recorder({
    'service.name': 'portico',
    'deployment.environment.name': 'prod',
    'host.cores': 2,
  });
  const tracer = provider.getTracer('portico');
  const remote = trace.setSpanContext(context.active(), {
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
    traceState: new TraceState('vendor=abc,other=x'),
  });
  const span = tracer.startSpan(
    'every-field',
    {
      kind: SpanKind.INTERNAL,
      attributes: EVERY_VALUE,
      links: [
        {
          context: { traceId: 'A'.repeat(32), spanId: 'B'.repeat(16), traceFlags: TraceFlags.NONE, isRemote: false },
          attributes: { reason: 'retry', attempt: 2 },
        },
        {
          context: {
            traceId: '1'.repeat(32),
            spanId: '2'.repeat(16),
            traceFlags: TraceFlags.SAMPLED,
            isRemote: true,
            traceState: new TraceState('k=v'),
          },
        },
      ],
    },
    remote,
  );
  span.addEvent('started', { step: 1, note: 'ünïcode' });
  span.addEvent('no attributes');
  span.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream refused the connection' });
  span.end();
  const root = tracer.startSpan('root, unset status', { kind: SpanKind.PRODUCER });
  root.end();
  expect(encodeOneByOne(spans()).equals(library(spans()))).toBe(true);
});

test('several scopes (version, schema URL) and resources are grouped as the SDK groups them', () => {
  const first = recorder();
  const second = recorder({ 'service.name': 'other' });
  const scoped = [
    first.provider.getTracer('portico'),
    first.provider.getTracer('@opentelemetry/instrumentation-ioredis', '0.60.0', {
      schemaUrl: 'https://opentelemetry.io/schemas/1.30.0',
    }),
    second.provider.getTracer('portico', '1.0.0'),
  ];
  for (let round = 0; round < 3; round++) {
    for (const tracer of scoped) tracer.startSpan(`span ${round}`).end();
  }
  const spans = [...first.spans(), ...second.spans()];
  // Interleave the two providers' spans: grouping must not depend on arrival order within a resource.
  const mixed = spans.flatMap((span, i) => (i % 2 === 0 ? [span] : [])).concat(spans.filter((_, i) => i % 2 === 1));
  expect(encodeOneByOne(mixed).equals(library(mixed))).toBe(true);
});

test('start and end times far from now keep nanosecond precision past 2^53 nanoseconds', () => {
  const { provider, spans } = recorder();
  const tracer = provider.getTracer('portico');
  for (const [seconds, nanos] of [
    [0, 1],
    [1_764_000_000, 999_999_999],
    [9_007_199, 254_740_993], // just past 2^53 ns in total
    [4_294_967_295, 123_456_789],
  ] as const) {
    const span = tracer.startSpan('time', { startTime: [seconds, nanos] });
    span.end([seconds + 1, nanos]);
  }
  expect(encodeOneByOne(spans()).equals(library(spans()))).toBe(true);
});

test('a writer that starts small grows without corrupting what it holds', () => {
  const { provider, spans } = recorder();
  const tracer = provider.getTracer('portico');
  for (let i = 0; i < 200; i++) tracer.startSpan(`span-${i}`, { attributes: { i, text: 'y'.repeat(i) } }).end();
  expect(encodeOneByOne(spans()).equals(library(spans()))).toBe(true);
});
