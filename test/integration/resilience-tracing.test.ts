/** Each try of a retried request is its own client span under the server span, the failed one marked as such. */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { inFlightRequests } from '../../src/tracing/request-trace.js';
import type { Portico } from '../../src/main.js';
import { startTestPortico } from '../helpers/portico.js';
import { startFleet, type Member } from '../helpers/fleet.js';
import { sparePort } from '../helpers/ports.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
const running: Array<Member | Portico> = [];

beforeAll(() => {
  telemetry = startTelemetry(telemetrySchema.parse({ traces: { exporter: 'console' } }), {
    exporter,
    instrumentations: false,
  });
});
afterEach(async () => {
  for (const item of running.splice(0).reverse()) await ('shutdown' in item ? item.shutdown() : item.close());
  exporter.reset();
});
afterAll(() => telemetry.shutdown());

async function clientSpans(): Promise<{ server: ReadableSpan | undefined; clients: ReadableSpan[] }> {
  await waitFor(() => inFlightRequests() === 0, { message: 'server spans to end' });
  await telemetry.flush();
  const spans = exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === TRACE_ID);
  const clients = spans
    .filter((span) => span.kind === SpanKind.CLIENT)
    .sort((a, b) => a.startTime[1] - b.startTime[1] + (a.startTime[0] - b.startTime[0]) * 1e9);
  return { server: spans.find((span) => span.kind === SpanKind.SERVER), clients };
}

it('a retry after a refused connection: two client spans, the first failed with the refusal', async () => {
  const [b] = await startFleet(1);
  running.push(b as Member);
  const dead = `http://127.0.0.1:${await sparePort()}`;
  const p = await startTestPortico(
    `middleware: [tracing]\nroutes:\n  - name: api\n    upstream: [${dead}, ${b?.url}]\n    retry: { attempts: 2 }\n`,
  );
  running.push(p);
  const res = await request(`${p.proxyUrl}/t`, { headers: { traceparent } });
  expect(res.status).toBe(200);
  const { server, clients } = await clientSpans();
  expect(clients).toHaveLength(2);
  expect(clients.map((span) => span.parentSpanContext?.spanId)).toEqual([
    server?.spanContext().spanId,
    server?.spanContext().spanId,
  ]);
  expect(clients[0]?.status.code).toBe(SpanStatusCode.ERROR);
  expect(clients[0]?.attributes['error.type']).toBe('ECONNREFUSED');
  expect(clients[1]?.attributes['http.response.status_code']).toBe(200);
  expect(clients[1]?.attributes['url.full']).toBe(`${b?.url}/t`);
});

it('a retry after a 503: the dropped answer has its span, marked retried, and the retry its own', async () => {
  const [a, b] = await startFleet(2);
  running.push(a as Member, b as Member);
  if (a) a.mode = { kind: 'status', status: 503 };
  const p = await startTestPortico(
    `middleware: [tracing]\nroutes:\n  - name: api\n    upstream: [${a?.url}, ${b?.url}]\n    retry: { attempts: 2 }\n`,
  );
  running.push(p);
  expect((await request(`${p.proxyUrl}/t`, { headers: { traceparent } })).status).toBe(200);
  const { clients } = await clientSpans();
  expect(clients.map((span) => span.attributes['http.response.status_code'])).toEqual([503, 200]);
  expect(clients[0]?.attributes['portico.retried']).toBe(true);
  expect(clients[1]?.status.code).not.toBe(SpanStatusCode.ERROR);
});
