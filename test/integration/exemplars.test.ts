/**
 * With tracing on, `/metrics` answers in OpenMetrics and the request and upstream histograms carry the trace id of a
 * sampled request as an exemplar: the id of the very span the exporter got. With tracing off it stays the
 * Prometheus text format (test/integration/metrics-lint.test.ts lints that one with promtool).
 */
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import type { Portico } from '../../src/main.js';
import { startTestPortico } from '../helpers/portico.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let up: TestUpstream;
let portico: Portico;

beforeAll(async () => {
  telemetry = startTelemetry(telemetrySchema.parse({}), { exporter, instrumentations: false });
  up = await startUpstream();
  portico = await startTestPortico(
    `telemetry: { traces: { exporter: otlp } }\n` +
      `routes:\n  - { name: orders, match: { pathPrefix: /orders }, upstream: "${up.url}", middleware: [tracing] }\n`,
  );
});

afterAll(async () => {
  await portico.shutdown();
  await up.close();
  await telemetry.shutdown();
});

test('histogram buckets carry the exported trace id as an exemplar, in OpenMetrics', async () => {
  expect((await request(`${portico.proxyUrl}/orders/1`)).status).toBe(200);
  await telemetry.flush();
  const server = exporter.getFinishedSpans().find((span) => span.attributes['url.path'] === '/orders/1');
  const traceId = server?.spanContext().traceId as string;
  expect(traceId).toMatch(/^[0-9a-f]{32}$/);
  const res = await request(`${portico.adminUrl}/metrics`);
  expect(res.headers['content-type']).toMatch(/^application\/openmetrics-text; version=1\.0\.0/);
  expect(res.body.endsWith('# EOF\n')).toBe(true);
  const exemplar = new RegExp(`\\} 1 # \\{trace_id="${traceId}"\\} [0-9.e-]+ [0-9.]+$`, 'm');
  const lines = res.body.split('\n');
  expect(
    lines.filter((line) => line.startsWith('portico_request_duration_seconds_bucket') && exemplar.test(line)),
  ).toHaveLength(1);
  expect(
    lines.filter((line) => line.startsWith('portico_upstream_response_duration_seconds_bucket') && exemplar.test(line)),
  ).toHaveLength(1);
  // counters keep their _total samples under OpenMetrics too
  expect(res.body).toMatch(/^# TYPE portico_requests counter$/m);
  expect(res.body).toMatch(/^portico_requests_total\{route="orders",method="GET",status="2xx"\} 1$/m);
});
