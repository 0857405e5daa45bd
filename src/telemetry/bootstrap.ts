/**
 * The OpenTelemetry bootstrap: the one process-wide global in Portico (tracer provider, context manager and
 * propagator registered on @opentelemetry/api), started by the CLI before anything it instruments is loaded.
 *
 * Why the order matters: instrumentations patch a library when it is required. Their require hook
 * (require-in-the-middle, on `Module._load`) patches ioredis and pg as the module is first loaded after the hook is
 * installed. A module loaded before that is already in the require cache, unpatched, and every reference taken to
 * it stays unpatched: its calls make no spans, silently (the SDK only logs a diag warning). So the CLI loads the
 * config (zod, yaml: nothing instrumented), calls `startTelemetry`, and only then imports the server (express,
 * http-proxy-middleware, ioredis, pg) with a dynamic `import()`. This file imports no instrumented module.
 *
 * What is instrumented: ioredis and pg, and only under a request's span (`requireParentSpan`), so background work
 * (health pings, cache fills) makes no root spans. HTTP server and client spans are made by hand
 * (src/tracing/kind.ts, src/tracing/upstream-spans.ts), cheaper than instrumentation-http on the proxy hot
 * path; express (a span per router layer; Portico's chain runs outside the router) and fs, dns, net are off.
 * NodeSDK is not used: loading it pulls in metrics, logs, gRPC and Prometheus exporters (+40 MB RSS, +0.6 s start
 * measured) and starts OTLP metric and log exporters unless told otherwise.
 */
import { DiagLogLevel, context, diag, propagation, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { defaultResource, resourceFromAttributes } from '@opentelemetry/resources';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger } from 'pino';
import type { TelemetryConfig } from './config.js';
import { createInstrumentations } from './instrumentations.js';
import { EncodingSpanProcessor, otlpProtobufExporter } from './otlp-export.js';
import { SPAN_LIMITS } from '../tracing/span-attributes.js';

export interface Telemetry {
  /** Exports every span ended so far (bounded by the exporter timeout). Never rejects: a failed export is logged. */
  flush(): Promise<void>;
  /**
   * Flushes, stops the exporter and unregisters the globals. Call last in shutdown, after the server drained.
   * Never rejects: a collector that is down at shutdown loses its spans, not the exit code.
   */
  shutdown(): Promise<void>;
  /** Spans lost since start, at a full export queue or in failed exports (OTLP protobuf; 0 for the other exporters). */
  droppedSpans(): number;
}

export interface TelemetryOptions {
  /** Receives the SDK's own warnings and errors (failed exports), throttled. */
  readonly logger?: Logger;
  /** Replaces the configured exporter (tests pass an InMemorySpanExporter). */
  readonly exporter?: SpanExporter;
  /** Library instrumentations (ioredis, pg); default on. Tests in jest turn them off (jest bypasses require hooks). */
  readonly instrumentations?: boolean;
}

const NOOP: Telemetry = { flush: async () => {}, shutdown: async () => {}, droppedSpans: () => 0 };
/** One SDK diagnostic line per this interval at most: a collector that is down fails every export. */
const DIAG_INTERVAL_MS = 30_000;

/** A queue deep enough for a few seconds of 100% sampling at proxy rates; beyond it spans are dropped, never requests slowed. */
const QUEUE = { maxQueueSize: 16_384, maxExportBatchSize: 1024, scheduledDelayMillis: 1000 };

/**
 * The span processor for the `traces` section. OTLP over protobuf (the default) encodes each span as it ends
 * (./otlp-export.ts): cheaper than the SDK's batch serializer, and finished spans do not wait as objects. JSON
 * (an object tree per span, stringified: the single largest cost of a traced request when it was the default) and
 * the console go through the SDK's BatchSpanProcessor, as does an exporter a test passes in.
 */
function processorFor(
  traces: TelemetryConfig['traces'],
  injected: SpanExporter | undefined,
): SpanProcessor | undefined {
  const batched = (exporter: SpanExporter): SpanProcessor =>
    new BatchSpanProcessor({ exporter, ...QUEUE, exportTimeoutMillis: traces.timeout });
  if (injected !== undefined) return batched(injected);
  if (traces.exporter === 'otlp') {
    if (traces.protocol === 'http/json')
      return batched(
        new JsonTraceExporter({ url: traces.endpoint, timeoutMillis: traces.timeout, headers: { ...traces.headers } }),
      );
    return new EncodingSpanProcessor(otlpProtobufExporter(traces.endpoint, traces.timeout, traces.headers), QUEUE);
  }
  if (traces.exporter === 'console') return batched(new ConsoleSpanExporter());
  return undefined;
}

function forwardDiagnostics(logger: Logger): void {
  let last = 0;
  const emit =
    (level: 'warn' | 'error') =>
    (message: string, ...args: unknown[]) => {
      const now = Date.now();
      if (now - last < DIAG_INTERVAL_MS) return;
      last = now;
      logger[level]({ detail: args.map(String).join(' ') }, `opentelemetry: ${message}`);
    };
  const ignore = (): void => {};
  diag.setLogger(
    { error: emit('error'), warn: emit('warn'), info: ignore, debug: ignore, verbose: ignore },
    DiagLogLevel.WARN,
  );
}

/**
 * Starts tracing per the `telemetry` section. Exporter `none` starts nothing: the API stays a no-op, the `tracing`
 * kind then only passes the client's traceparent through, and no instrumentation is loaded.
 */
export function startTelemetry(config: TelemetryConfig, options: TelemetryOptions = {}): Telemetry {
  const processor = processorFor(config.traces, options.exporter);
  if (processor === undefined) return NOOP;
  if (options.logger !== undefined) forwardDiagnostics(options.logger);

  const provider = new TracerProvider({
    resource: defaultResource().merge(
      resourceFromAttributes({ ...config.resourceAttributes, [ATTR_SERVICE_NAME]: config.serviceName }),
    ),
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(config.traces.sampleRatio) }),
    spanProcessors: [processor],
    spanLimits: SPAN_LIMITS, // the limits src/tracing/span-attributes.ts applies when it writes attributes itself
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const instrumentations = options.instrumentations === false ? [] : createInstrumentations();

  const failed = (err: unknown): void => options.logger?.warn({ err }, 'trace export failed; spans dropped');
  let stopped: Promise<void> | undefined;
  return {
    droppedSpans: () => (processor instanceof EncodingSpanProcessor ? processor.droppedSpans() : 0),
    flush: () => provider.forceFlush().catch(failed),
    shutdown() {
      stopped ??= (async () => {
        for (const instrumentation of instrumentations) instrumentation.disable();
        try {
          await provider.shutdown();
        } catch (err) {
          failed(err);
        } finally {
          trace.disable();
          propagation.disable();
          context.disable();
          diag.disable();
        }
      })();
      return stopped;
    },
  };
}
