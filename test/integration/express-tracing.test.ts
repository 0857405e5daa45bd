/**
 * `express` entries under tracing: one span per middleware, named after its module, child of the request's server
 * span; a failing middleware's span carries the error status. res.locals carries the request span's traceparent.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { inFlightRequests } from '../../src/tracing/request-trace.js';
import type { Portico } from '../../src/main.js';
import { pluginFolder, startFromFolder } from '../helpers/express-plugins.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request, waitFor } from '../helpers/http.js';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let up: TestUpstream;
let portico: Portico;

async function finished(count: number): Promise<ReadableSpan[]> {
  await waitFor(() => inFlightRequests() === 0, 2000, 'server spans to end');
  await telemetry.flush();
  const list = exporter.getFinishedSpans();
  expect(list).toHaveLength(count);
  return list;
}

beforeAll(async () => {
  telemetry = startTelemetry(
    telemetrySchema.parse({ serviceName: 'portico-test', traces: { exporter: 'console', sampleRatio: 1 } }),
    { exporter, instrumentations: false },
  );
  up = await startUpstream();
  const folder = pluginFolder();
  folder.write(
    [
      'middleware: [tracing]',
      'routes:',
      '  - name: api',
      '    match: { pathPrefix: /api }',
      `    upstream: ${up.url}`,
      '    middleware:',
      '      - express: { use: cors }',
      '      - express: { use: ./tag.cjs, options: { value: one } }',
      '  - name: refused',
      '    match: { pathPrefix: /refused }',
      `    upstream: ${up.url}`,
      '    middleware: [{ express: { use: ./failing.cjs, export: forbidden } }]',
      '',
    ].join('\n'),
  );
  portico = await startFromFolder(folder);
});

afterAll(async () => {
  await portico.shutdown();
  await up.close();
  await telemetry.shutdown();
});

beforeEach(() => exporter.reset());

it('opens one span per express middleware, named after its module, child of the server span', async () => {
  const res = await request(`${portico.proxyUrl}/api/x`, { headers: { origin: 'https://a.example' } });
  expect(res.status).toBe(200);
  const list = await finished(4); // server, cors, tag, upstream client
  const server = list.find((span) => span.kind === SpanKind.SERVER) as ReadableSpan;
  const names = list.filter((span) => span.kind === SpanKind.INTERNAL).map((span) => span.name);
  expect(names.sort()).toEqual(['express ./tag.cjs', 'express cors']);
  for (const span of list.filter((s) => s.kind === SpanKind.INTERNAL)) {
    expect(span.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(span.attributes).toMatchObject({ 'portico.route': 'api' });
  }
  const client = list.find((span) => span.kind === SpanKind.CLIENT) as ReadableSpan;
  expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId); // not under a middleware's span
});

it("marks a refusing middleware's span as an error", async () => {
  const res = await request(`${portico.proxyUrl}/refused`);
  expect(res.status).toBe(403);
  const list = await finished(2); // server, the middleware
  const span = list.find((s) => s.kind === SpanKind.INTERNAL) as ReadableSpan;
  expect(span.name).toBe('express ./failing.cjs');
  expect(span.status.code).toBe(SpanStatusCode.ERROR);
});
