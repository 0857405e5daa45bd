/** The lookup's named spans are children of the active (request) span, including the background cache write. */
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { TracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import pino from 'pino';
import { noopMetrics } from '../../src/telemetry/metrics.js';
import { memoryCache } from '../../src/users/memory-cache.js';
import { deferredRunner } from '../../src/users/runner.js';
import { createUserService } from '../../src/users/service.js';

const exporter = new InMemorySpanExporter();
const contextManager = new AsyncLocalStorageContextManager().enable();

beforeAll(() => {
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(
    new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter: exporter })] }),
  );
});
afterAll(() => {
  trace.disable();
  context.disable();
});

it('records cache.get, db.query and cache.set under the request span', async () => {
  const service = createUserService({
    repository: {
      findById: async (id) => ({
        id: Number(id),
        name: 'Ada',
        email: 'ada@example.com',
        createdAt: '2024-01-01T00:00:00.000Z',
      }),
    },
    cache: memoryCache({ maxEntries: 10 }),
    runner: deferredRunner(1000),
    metrics: noopMetrics,
    logger: pino({ level: 'silent' }),
    options: { ttl: 60_000, negativeTtl: 0, jitter: 0, fillTimeout: 1000, errorLogInterval: 1000 },
  });
  const request = trace.getTracer('test').startSpan('GET /users/:id');
  await context.with(trace.setSpan(context.active(), request), () => service.lookup('1'));
  await service.close();
  request.end();
  const spans = exporter.getFinishedSpans();
  const parentOf = (name: string) => spans.find((span) => span.name === name)?.parentSpanContext?.spanId;
  expect(spans.map((span) => span.name).sort()).toEqual(['GET /users/:id', 'cache.get', 'cache.set', 'db.query']);
  for (const name of ['cache.get', 'db.query', 'cache.set']) expect(parentOf(name)).toBe(request.spanContext().spanId);
});
