/**
 * The span processor that encodes spans as they end (src/telemetry/otlp-export.ts): batches by size and by delay,
 * bounds what waits, reports failed exports, flushes and shuts down like the SDK's BatchSpanProcessor. The exporter
 * here records requests; the HTTP delegate behind the real one is the SDK's (tested end to end in
 * test/integration/tracing-bootstrap.test.ts).
 */
import type { Tracer } from '@opentelemetry/api';
import { ExportResultCode, setGlobalErrorHandler, loggingErrorHandler, type ExportResult } from '@opentelemetry/core';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import {
  TracerProvider,
  InMemorySpanExporter,
  SamplingDecision,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace';
import { EncodingSpanProcessor, type EncodedSpanExporter, type EncodedSpans } from '../../src/telemetry/otlp-export.js';

interface Recorder extends EncodedSpanExporter {
  readonly requests: EncodedSpans[];
  /** Callbacks of exports not answered yet (when `answer` is false). */
  readonly waiting: Array<(result: ExportResult) => void>;
  shutdowns: number;
  /** Resolves at the next export call. */
  nextExport(): Promise<EncodedSpans>;
}

function recorder(answer: ExportResult | false = { code: ExportResultCode.SUCCESS }): Recorder {
  let notify: ((request: EncodedSpans) => void) | undefined;
  const self: Recorder = {
    requests: [],
    waiting: [],
    shutdowns: 0,
    export(request, done) {
      self.requests.push(request);
      notify?.(request);
      notify = undefined;
      if (answer === false) self.waiting.push(done);
      else done(answer);
    },
    forceFlush: () => Promise.resolve(),
    shutdown: async () => {
      self.shutdowns++;
    },
    nextExport: () => new Promise((resolve) => (notify = resolve)),
  };
  return self;
}

/** A tracer whose spans go to both the processor under test and an in-memory exporter (the reference). */
function setup(
  exporter: EncodedSpanExporter,
  options: Partial<ConstructorParameters<typeof EncodingSpanProcessor>[1]> = {},
) {
  const processor = new EncodingSpanProcessor(exporter, {
    maxQueueSize: 100,
    maxExportBatchSize: 10,
    scheduledDelayMillis: 60_000,
    ...options,
  });
  const reference = new InMemorySpanExporter();
  const provider = new TracerProvider({
    spanProcessors: [processor, new SimpleSpanProcessor({ exporter: reference })],
  });
  return { processor, reference, tracer: provider.getTracer('portico') };
}

function endSpans(tracer: Tracer, count: number, from = 0): void {
  for (let i = from; i < from + count; i++) tracer.startSpan(`span-${i}`).end();
}

afterEach(() => setGlobalErrorHandler(loggingErrorHandler()));

test('a full batch is exported at once, as the bytes the SDK serializer makes for those spans', () => {
  const exporter = recorder();
  const { reference, tracer } = setup(exporter);
  endSpans(tracer, 9);
  expect(exporter.requests).toHaveLength(0);
  endSpans(tracer, 1, 9);
  expect(exporter.requests).toHaveLength(1);
  expect(exporter.requests[0]?.spans).toBe(10);
  const expected = Buffer.from(ProtobufTraceSerializer.serializeRequest(reference.getFinishedSpans()) as Uint8Array);
  expect(Buffer.from(exporter.requests[0]?.bytes as Uint8Array).equals(expected)).toBe(true);
  endSpans(tracer, 10, 10);
  expect(exporter.requests.map((r) => r.spans)).toEqual([10, 10]);
});

test('a batch that does not fill is exported after the scheduled delay', async () => {
  const exporter = recorder();
  const { tracer } = setup(exporter, { scheduledDelayMillis: 20 });
  const exported = exporter.nextExport();
  endSpans(tracer, 3);
  expect(exporter.requests).toHaveLength(0);
  expect((await exported).spans).toBe(3);
});

test('spans recorded but not sampled are not exported', async () => {
  const exporter = recorder();
  const processor = new EncodingSpanProcessor(exporter, {
    maxQueueSize: 100,
    maxExportBatchSize: 10,
    scheduledDelayMillis: 60_000,
  });
  // A sampler may record a span (it runs through the processors) without sampling it (it must not be exported).
  const recordOnly = { shouldSample: () => ({ decision: SamplingDecision.RECORD }), toString: () => 'record-only' };
  const tracer = new TracerProvider({ sampler: recordOnly, spanProcessors: [processor] }).getTracer('portico');
  const span = tracer.startSpan('recorded');
  expect(span.isRecording()).toBe(true);
  span.end();
  await processor.forceFlush();
  expect(exporter.requests).toEqual([]);
});

test('spans beyond the queue bound are dropped and counted while exports are unanswered; room comes back with the answers', async () => {
  const exporter = recorder(false);
  const { processor, tracer } = setup(exporter, { maxQueueSize: 25, maxExportBatchSize: 10 });
  endSpans(tracer, 40);
  // 20 sent in two requests, 5 in the open batch; the other 15 dropped.
  expect(exporter.requests.map((r) => r.spans)).toEqual([10, 10]);
  expect(processor.droppedSpans()).toBe(15);
  for (const done of exporter.waiting.splice(0)) done({ code: ExportResultCode.SUCCESS });
  endSpans(tracer, 5, 40);
  expect(exporter.requests.map((r) => r.spans)).toEqual([10, 10, 10]);
  expect(processor.droppedSpans()).toBe(15);
});

test('a failed export goes to the global error handler, counts its spans as lost, and frees its place in the queue', async () => {
  const errors: unknown[] = [];
  setGlobalErrorHandler((err) => errors.push(err));
  const exporter = recorder({ code: ExportResultCode.FAILED, error: new Error('collector said 503') });
  const { processor, tracer } = setup(exporter, { maxQueueSize: 10, maxExportBatchSize: 10 });
  endSpans(tracer, 30);
  expect(exporter.requests.map((r) => r.spans)).toEqual([10, 10, 10]);
  expect(processor.droppedSpans()).toBe(30);
  expect(errors).toHaveLength(3);
  expect((errors[0] as Error).message).toBe('collector said 503');
});

test('a span the encoder cannot read is dropped and reported; the spans around it are exported intact', async () => {
  const errors: unknown[] = [];
  setGlobalErrorHandler((err) => errors.push(err));
  const exporter = recorder();
  const { processor, reference, tracer } = setup(exporter);
  endSpans(tracer, 2);
  const [good] = reference.getFinishedSpans();
  const unreadable = Object.create(good as object, {
    attributes: {
      value: Object.defineProperty({ ok: 1 }, 'bad', {
        enumerable: true,
        get: () => {
          throw new Error('unreadable attribute');
        },
      }),
    },
  }) as ReadableSpan;
  expect(() => processor.onEnd(unreadable)).not.toThrow();
  endSpans(tracer, 1, 2);
  await processor.forceFlush();
  expect(errors.map((err) => (err as Error).message)).toEqual(['unreadable attribute']);
  expect(exporter.requests.map((r) => r.spans)).toEqual([3]);
  const expected = Buffer.from(ProtobufTraceSerializer.serializeRequest(reference.getFinishedSpans()) as Uint8Array);
  expect(Buffer.from(exporter.requests[0]?.bytes as Uint8Array).equals(expected)).toBe(true);
});

test('an exporter that throws instead of answering fails that export only: the request goes on, the queue frees', async () => {
  const errors: unknown[] = [];
  setGlobalErrorHandler((err) => errors.push(err));
  const throwing: EncodedSpanExporter = {
    ...recorder(),
    export: () => {
      throw new Error('exporter bug');
    },
  };
  const { processor, tracer } = setup(throwing, { maxQueueSize: 10, maxExportBatchSize: 10 });
  expect(() => endSpans(tracer, 30)).not.toThrow();
  await processor.forceFlush();
  expect(errors.map((err) => (err as Error).message)).toEqual(['exporter bug', 'exporter bug', 'exporter bug']);
  expect(processor.droppedSpans()).toBe(30);
});

test('forceFlush sends the open batch and waits for the exports under way', async () => {
  const exporter = recorder(false);
  const { processor, tracer } = setup(exporter);
  endSpans(tracer, 12);
  let flushed = false;
  const flushing = processor.forceFlush().then(() => (flushed = true));
  expect(exporter.requests.map((r) => r.spans)).toEqual([10, 2]);
  await Promise.resolve();
  expect(flushed).toBe(false);
  for (const done of exporter.waiting.splice(0)) done({ code: ExportResultCode.SUCCESS });
  await flushing;
  expect(flushed).toBe(true);
});

test('shutdown flushes, shuts the exporter down once, and later spans are ignored', async () => {
  const exporter = recorder();
  const { processor, tracer } = setup(exporter);
  endSpans(tracer, 4);
  await Promise.all([processor.shutdown(), processor.shutdown()]);
  expect(exporter.requests.map((r) => r.spans)).toEqual([4]);
  expect(exporter.shutdowns).toBe(1);
  endSpans(tracer, 20);
  await processor.forceFlush();
  expect(exporter.requests).toHaveLength(1);
});
