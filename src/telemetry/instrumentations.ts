/**
 * The library instrumentations Portico uses, created directly: ioredis (rate limits, user cache) and pg (user
 * lookup), each only under a request span. Nothing else is instrumented: server and upstream spans are made by
 * hand (see src/middleware/tracing.ts), and fs, dns, net or undici spans would cost on the hot path.
 *
 * Depending on these two packages rather than @opentelemetry/auto-instrumentations-node keeps the image's
 * dependencies to what runs (that package brings every instrumentation, the NodeSDK and its metric, log and gRPC
 * exporters), and no `OTEL_NODE_ENABLED_INSTRUMENTATIONS` in the environment can switch another one on.
 */
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';

/** Creates (and thereby enables: their require hooks are installed now) the instrumentations Portico uses. */
export function createInstrumentations(): Instrumentation[] {
  return [new IORedisInstrumentation({ requireParentSpan: true }), new PgInstrumentation({ requireParentSpan: true })];
}
