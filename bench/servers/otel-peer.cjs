// OpenTelemetry for the same-chain peers, loaded with `node --require` before the app, as the OpenTelemetry JS
// getting-started guide sets it up: NodeSDK, an OTLP/HTTP protobuf exporter to the bench's sink, the SDK's default
// sampler (parent-based always-on: 100%) and batch span processor. BENCH_OTEL_PEER picks the instrumentations:
//   express: getNodeAutoInstrumentations() with its defaults (the naive build: everything it enables);
//   fastify: @fastify/otel (registered on initialization, as its README shows with NodeSDK) plus the instrumentations
//            its README asks for (http) and those of the calls the chain makes (undici, used by @fastify/http-proxy's
//            @fastify/reply-from, and ioredis, used by @fastify/rate-limit), so it makes the spans Portico makes.
// Env: BENCH_OTEL_PEER, BENCH_OTLP_URL (the sink's per-target traces URL).
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-proto');

function instrumentations(peer) {
  if (peer === 'express') {
    const { getNodeAutoInstrumentations } = require('@opentelemetry/auto-instrumentations-node');
    return [getNodeAutoInstrumentations()];
  }
  const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
  const { UndiciInstrumentation } = require('@opentelemetry/instrumentation-undici');
  const { IORedisInstrumentation } = require('@opentelemetry/instrumentation-ioredis');
  const FastifyOtelInstrumentation = require('@fastify/otel');
  return [
    new HttpInstrumentation(),
    new UndiciInstrumentation(),
    new IORedisInstrumentation(),
    new FastifyOtelInstrumentation({ registerOnInitialization: true }),
  ];
}

const sdk = new NodeSDK({
  serviceName: `bench-${process.env.BENCH_OTEL_PEER}`,
  traceExporter: new OTLPTraceExporter({ url: process.env.BENCH_OTLP_URL }),
  instrumentations: instrumentations(process.env.BENCH_OTEL_PEER),
});
sdk.start();
process.once('SIGTERM', () => {
  sdk.shutdown().finally(() => process.exit(0));
});
