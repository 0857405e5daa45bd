/**
 * Which upstream calls of a traced request get a client span: the forward, a retry after it failed (its own span),
 * and not a mirrored copy (which still joins the trace, under the server span).
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { inFlightRequests } from '../../src/tracing/request-trace.js';
import type { Portico } from '../../src/main.js';
import { startTestPortico } from '../helpers/portico.js';
import { staleOnSecondRequest, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';
import { waitFor } from '../helpers/wait.js';

const TRACE_ID = '6bf92f3577b34da6a3ce929d0e0e4736';
const traceparent = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
const running: Array<TestUpstream | Portico> = [];

beforeAll(() => {
  telemetry = startTelemetry(telemetrySchema.parse({ traces: { exporter: 'console' } }), {
    exporter,
    instrumentations: false,
  });
});
afterEach(async () => {
  for (const item of running.splice(0)) await ('shutdown' in item ? item.shutdown() : item.close());
  exporter.reset();
});
afterAll(() => telemetry.shutdown());

/** Stopped after the test. */
function track<T extends TestUpstream | Portico>(started: T): T {
  running.push(started);
  return started;
}

async function finishedSpans(): Promise<ReadableSpan[]> {
  await waitFor(() => inFlightRequests() === 0, { message: 'server spans to end' });
  await telemetry.flush();
  return exporter.getFinishedSpans().filter((span) => span.spanContext().traceId === TRACE_ID);
}

describe('upstream calls', () => {
  it('gives a retry on a fresh socket its own client span after the failed one', async () => {
    const up = track(await startUpstream(staleOnSecondRequest((_req, res) => res.end('ok'))));
    const p = track(await startTestPortico(`middleware: [tracing]\nroutes:\n  - name: api\n    upstream: ${up.url}\n`));
    expect((await request(`${p.proxyUrl}/first`)).status).toBe(200);
    exporter.reset();
    expect((await request(`${p.proxyUrl}/second`, { headers: { traceparent } })).status).toBe(200);

    const spans = await finishedSpans();
    const server = spans.find((span) => span.kind === SpanKind.SERVER);
    const clients = spans
      .filter((span) => span.kind === SpanKind.CLIENT)
      .sort((a, b) => a.startTime[1] - b.startTime[1] + (a.startTime[0] - b.startTime[0]) * 1e9);
    expect(clients).toHaveLength(2);
    expect(clients.map((span) => span.parentSpanContext?.spanId)).toEqual([
      server?.spanContext().spanId,
      server?.spanContext().spanId,
    ]);
    expect(clients[0]?.status.code).toBe(SpanStatusCode.ERROR);
    expect(clients[0]?.attributes['error.type']).toBe('ECONNRESET');
    expect(clients[1]?.attributes['http.response.status_code']).toBe(200);
    const seen = up.received.filter((r) => r.url === '/second').map((r) => r.headers.traceparent);
    expect(seen.at(-1)).toBe(`00-${TRACE_ID}-${clients[1]?.spanContext().spanId}-01`);
  });

  it('leaves a mirrored copy under the server span, without a client span of its own', async () => {
    const up = track(await startUpstream());
    const shadow = track(await startUpstream());
    const p = track(
      await startTestPortico(
        `middleware: [tracing]\nroutes:\n  - name: api\n    upstream: ${up.url}\n    mirror: { upstream: ${shadow.url}, sampleRatio: 1 }\n`,
      ),
    );
    expect((await request(`${p.proxyUrl}/copied`, { headers: { traceparent } })).status).toBe(200);
    await waitFor(() => shadow.received.length === 1, { message: 'the mirrored copy' });

    const spans = await finishedSpans();
    const server = spans.find((span) => span.kind === SpanKind.SERVER);
    const clients = spans.filter((span) => span.kind === SpanKind.CLIENT);
    expect(clients).toHaveLength(1);
    expect(clients[0]?.attributes['url.full']).toBe(`${up.url}/copied`);
    expect(up.received[0]?.headers.traceparent).toBe(`00-${TRACE_ID}-${clients[0]?.spanContext().spanId}-01`);
    expect(shadow.received[0]?.headers.traceparent).toBe(`00-${TRACE_ID}-${server?.spanContext().spanId}-01`);
  });
});
