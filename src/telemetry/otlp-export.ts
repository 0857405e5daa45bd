/**
 * OTLP/HTTP protobuf export of spans encoded as they end (see ./otlp-encode.ts for why). Takes the place of the
 * SDK's BatchSpanProcessor + OTLPTraceExporter pair for the default protocol, with the same behaviour a user
 * configures and watches: batches of at most `maxExportBatchSize` spans, sent when full or `scheduledDelayMillis`
 * after the first span of a batch; at most `maxQueueSize` spans waiting or in flight (beyond that spans are dropped,
 * never requests slowed); a failed export reported through OpenTelemetry's global error handler, as the SDK does.
 * Sending, retries, timeouts and the concurrency limit are the SDK's own HTTP export delegate
 * (@opentelemetry/otlp-exporter-base), which is handed the finished request bytes.
 */
import { TraceFlags, diag, type Context } from '@opentelemetry/api';
import { ExportResultCode, globalErrorHandler, type ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import { convertLegacyHttpOptions, createOtlpHttpExportDelegate } from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableSpan, Span, SpanProcessor } from '@opentelemetry/sdk-trace';
import { ProtoWriter, encodeRequest, encodeSpan, type ScopeBatch } from './otlp-encode.js';

/** A finished ExportTraceServiceRequest and how many spans it carries. */
export interface EncodedSpans {
  readonly bytes: Uint8Array;
  readonly spans: number;
}

/** Where encoded batches go: the OTLP/HTTP exporter below, or a test's recorder. */
export interface EncodedSpanExporter {
  export(request: EncodedSpans, done: (result: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
}

export interface EncodingProcessorOptions {
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly scheduledDelayMillis: number;
}

/** One diagnostic line per this interval at most about dropped spans (a collector that is down drops many). */
const DROP_NOTICE_MS = 30_000;

export class EncodingSpanProcessor implements SpanProcessor {
  /** The batch being filled: one writer per (resource, scope), in order of first appearance. */
  private readonly batches: ScopeBatch[] = [];
  private last: ScopeBatch | undefined;
  private count = 0;
  /** Spans encoded and not yet acknowledged: in the open batch or in an export under way. */
  private pending = 0;
  /** Spans lost: dropped at a full queue, or in an export that failed (after the delegate's retries). */
  private dropped = 0;
  private lastDropNotice = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private stopped: Promise<void> | undefined;

  constructor(
    private readonly exporter: EncodedSpanExporter,
    private readonly options: EncodingProcessorOptions,
  ) {}

  onStart(_span: Span, _context: Context): void {}

  onEnd(span: ReadableSpan): void {
    if (this.stopped !== undefined || (span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
    if (this.pending >= this.options.maxQueueSize) {
      this.drop();
      return;
    }
    const writer = this.batchFor(span.resource, span.instrumentationScope).spans;
    const mark = writer.pos;
    try {
      encodeSpan(writer, span);
    } catch (err) {
      // A span the encoder cannot read (a value no SDK check let through) must not fail the request ending it, nor
      // leave half a span in the batch: it is dropped and reported, as a failed export is.
      writer.pos = mark;
      globalErrorHandler(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    this.pending++;
    if (++this.count >= this.options.maxExportBatchSize) this.send();
    else this.timer ??= setTimeout(this.send, this.options.scheduledDelayMillis).unref();
  }

  private batchFor(resource: Resource, scope: InstrumentationScope): ScopeBatch {
    const last = this.last;
    if (last !== undefined && last.scope === scope && last.resource === resource) return last;
    let batch = this.batches.find((candidate) => candidate.scope === scope && candidate.resource === resource);
    if (batch === undefined) {
      batch = { resource, scope, spans: new ProtoWriter() };
      this.batches.push(batch);
    }
    this.last = batch;
    return batch;
  }

  private drop(): void {
    this.dropped++;
    const now = Date.now();
    if (now - this.lastDropNotice < DROP_NOTICE_MS) return;
    this.lastDropNotice = now;
    diag.warn(`span export queue full (${this.options.maxQueueSize} spans): ${this.dropped} spans dropped so far`);
  }

  /** Seals the open batch into a request and hands it to the exporter. */
  private readonly send = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    const spans = this.count;
    if (spans === 0) return;
    const filled = this.batches.filter((batch) => batch.spans.pos > 0);
    let size = 64;
    for (const batch of filled) size += batch.spans.pos + 256;
    const bytes = encodeRequest(filled, new ProtoWriter(size));
    for (const batch of filled) batch.spans.reset();
    this.count = 0;
    const exported = new Promise<void>((resolve) => {
      const done = (result: ExportResult): void => {
        this.pending -= spans;
        if (result.code !== ExportResultCode.SUCCESS) {
          this.dropped += spans;
          globalErrorHandler(result.error ?? new Error('span export failed'));
        }
        resolve();
      };
      try {
        this.exporter.export({ bytes, spans }, done);
      } catch (err) {
        done({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
      }
    });
    this.inFlight.add(exported);
    // Cannot reject: `exported` is only ever resolved (done() above resolves on success and failure alike).
    void exported.then(() => this.inFlight.delete(exported));
  };

  /** Sends the open batch and waits for every export under way (each bounded by the exporter's timeout). */
  async forceFlush(): Promise<void> {
    this.send();
    await Promise.all([...this.inFlight]);
  }

  shutdown(): Promise<void> {
    this.stopped ??= (async () => {
      await this.forceFlush();
      await this.exporter.shutdown();
    })();
    return this.stopped;
  }

  /** Spans lost so far: dropped at a full queue or in failed exports. */
  droppedSpans(): number {
    return this.dropped;
  }
}

/** OTLP/HTTP with `application/x-protobuf` bodies, as @opentelemetry/exporter-trace-otlp-proto sends them. */
export function otlpProtobufExporter(
  url: string,
  timeoutMillis: number,
  headers: Readonly<Record<string, string>> = {},
): EncodedSpanExporter {
  const delegate = createOtlpHttpExportDelegate(
    convertLegacyHttpOptions({ url, timeoutMillis, headers: { ...headers } }, 'TRACES', 'v1/traces', {
      'Content-Type': 'application/x-protobuf',
    }),
    {
      serializeRequest: (request: EncodedSpans) => request.bytes,
      deserializeResponse: (data: Uint8Array) => ProtobufTraceSerializer.deserializeResponse(data),
    },
    'otlp_http_span_exporter',
    { name: 'span', countItems: (request: EncodedSpans) => request.spans },
    undefined,
  );
  return new OTLPExporterBase<EncodedSpans>(delegate);
}
