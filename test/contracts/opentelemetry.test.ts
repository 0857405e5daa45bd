/**
 * The OpenTelemetry JS SDK, as src/telemetry/otlp-encode.ts and src/telemetry/otlp-export.ts use it: the shape of a
 * finished span (ReadableSpan) the encoder reads field by field, the object identity the batcher groups by, and the
 * transport from packages marked "intended for internal use only" (@opentelemetry/otlp-exporter-base,
 * @opentelemetry/otlp-transformer). The encoder's bytes are compared with the SDK's serializer in
 * test/unit/otlp-encode.test.ts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { TracerProvider, type ReadableSpan, type SpanProcessor } from '@opentelemetry/sdk-trace';
import { writeTsChild } from '../helpers/ts-child';
import { assumption, close, listen } from './support';

const run = promisify(execFile);

function recordSpans(): { spans: ReadableSpan[]; provider: TracerProvider } {
  const spans: ReadableSpan[] = [];
  const processor: SpanProcessor = {
    onStart: () => undefined,
    onEnd: (span) => void spans.push(span),
    forceFlush: () => Promise.resolve(),
    shutdown: () => Promise.resolve(),
  };
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'contracts' }),
    spanProcessors: [processor],
  });
  return { spans, provider };
}

const isHrTime = (value: unknown): boolean =>
  Array.isArray(value) && value.length === 2 && value.every((part) => Number.isInteger(part));

assumption(
  'a ReadableSpan handed to onEnd carries, as plain data, every field the OTLP encoder reads',
  'src/telemetry/otlp-encode.ts encodeSpan(): reads spanContext(), parentSpanContext, name, kind, times, attributes, events, links, status and the dropped counts',
  () => {
    const { spans, provider } = recordSpans();
    const tracer = provider.getTracer('contracts', '1.0.0');
    const parent = tracer.startSpan('parent');
    const child = tracer.startSpan(
      'child',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'a.string': 'x', 'a.int': 3, 'a.list': [1, 2] },
        links: [{ context: parent.spanContext(), attributes: { why: 'test' } }],
      },
      trace.setSpan(ROOT_CONTEXT, parent),
    );
    child.addEvent('event', { detail: 'd' });
    child.setStatus({ code: SpanStatusCode.ERROR, message: 'failed' });
    child.end();
    parent.end();
    const span = spans[0] as ReadableSpan;
    const context = span.spanContext();
    expect(context.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(context.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(context.traceFlags & TraceFlags.SAMPLED).toBe(TraceFlags.SAMPLED);
    expect(span.parentSpanContext?.spanId).toBe(spans[1]?.spanContext().spanId);
    expect(span.name).toBe('child');
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(isHrTime(span.startTime) && isHrTime(span.endTime)).toBe(true);
    expect(span.attributes).toEqual<Attributes>({ 'a.string': 'x', 'a.int': 3, 'a.list': [1, 2] });
    expect(span.events).toHaveLength(1);
    expect(span.events[0]).toMatchObject({ name: 'event', attributes: { detail: 'd' } });
    expect(isHrTime(span.events[0]?.time)).toBe(true);
    expect(span.links[0]?.context.spanId).toBe(spans[1]?.spanContext().spanId);
    expect(span.links[0]?.attributes).toEqual({ why: 'test' });
    expect(span.status).toEqual({ code: SpanStatusCode.ERROR, message: 'failed' });
    expect([span.droppedAttributesCount, span.droppedEventsCount, span.droppedLinksCount]).toEqual([0, 0, 0]);
    expect(span.resource.attributes['service.name']).toBe('contracts');
    expect(span.instrumentationScope).toMatchObject({ name: 'contracts', version: '1.0.0' });
  },
);

assumption(
  'every span of one tracer carries the same `resource` and `instrumentationScope` objects (identity, not equal copies)',
  'src/telemetry/otlp-export.ts EncodingSpanProcessor.batchFor(): groups encoded spans by comparing those objects with ===',
  () => {
    const { spans, provider } = recordSpans();
    const tracer = provider.getTracer('contracts');
    tracer.startSpan('one').end();
    tracer.startSpan('two').end();
    const [one, two] = spans as [ReadableSpan, ReadableSpan];
    expect(one.resource).toBe(two.resource);
    expect(one.instrumentationScope).toBe(two.instrumentationScope);
    // A second getTracer() for the same name and version is the same tracer.
    provider.getTracer('contracts').startSpan('three').end();
    expect(spans[2]?.instrumentationScope).toBe(one.instrumentationScope);
  },
);

assumption(
  "a recording SDK span's `attributes` is the live, extensible record setAttribute writes into and span processors read at onEnd; an ended span is no longer recording",
  "src/tracing/span-attributes.ts putAttributes()/putAttribute(): write Portico's span attributes into that record, bypassing the per-value checks",
  () => {
    const { spans, provider } = recordSpans();
    const span = provider.getTracer('contracts').startSpan('written');
    expect(span.isRecording()).toBe(true);
    const record = (span as unknown as { attributes: Record<string, unknown> }).attributes;
    expect(typeof record === 'object' && Object.isExtensible(record)).toBe(true);
    record['written.directly'] = 'yes';
    span.setAttribute('via.sdk', 1);
    expect(record).toEqual({ 'written.directly': 'yes', 'via.sdk': 1 });
    span.end();
    expect(span.isRecording()).toBe(false);
    expect(spans[0]?.attributes).toEqual({ 'written.directly': 'yes', 'via.sdk': 1 });
  },
);

/**
 * Runs in a plain child process: the SDK's HTTP transport loads `http` with a dynamic import(), which jest's
 * CommonJS loader refuses. Prints the export result as one JSON line.
 */
const EXPORT_CHILD = `
const { otlpProtobufExporter } = require(src('telemetry/otlp-export.ts'));
const exporter = otlpProtobufExporter(process.argv[2], 5000);
exporter.export({ bytes: new Uint8Array([10, 3, 1, 2, 3]), spans: 1 }, (result) => {
  process.stdout.write(JSON.stringify({ code: result.code, error: result.error && String(result.error) }));
  exporter.shutdown().then(() => process.exit(0));
});
`;

assumption(
  'the internal OTLP/HTTP export delegate (otlp-exporter-base/node-http) POSTs the bytes its serializer returns, unchanged, with the configured Content-Type, and reports success on a 200',
  'src/telemetry/otlp-export.ts otlpProtobufExporter(): hands the delegate a serializer that returns already encoded bytes',
  async () => {
    const received: Array<{ type: string | undefined; body: number[] }> = [];
    const sink = await listen((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        received.push({ type: req.headers['content-type'], body: [...Buffer.concat(chunks)] });
        res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
      });
    });
    const dir = mkdtempSync(join(tmpdir(), 'portico-contracts-'));
    try {
      const child = writeTsChild(dir, EXPORT_CHILD);
      const { stdout } = await run(process.execPath, [child, `${sink.url}/v1/traces`], { timeout: 15_000 });
      expect(JSON.parse(stdout)).toEqual({ code: ExportResultCode.SUCCESS });
      expect(received).toEqual([{ type: 'application/x-protobuf', body: [10, 3, 1, 2, 3] }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await close(sink.server);
    }
  },
  20_000,
);
