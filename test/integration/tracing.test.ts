/**
 * `tracing` end to end in-process: a real upstream, Portico, the SDK with an in-memory exporter. Asserts span names,
 * kinds, parent/child links and semantic-convention attributes, and what the upstream received in traceparent.
 */
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { inFlightRequests } from '../../src/tracing/request-trace.js';
import type { Portico } from '../../src/main.js';
import { startTestPortico } from '../helpers/portico.js';
import net from 'node:net';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { acceptWebSockets, closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request, waitFor, WEBSOCKET_HANDSHAKE } from '../helpers/http.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const PARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let up: TestUpstream;
let portico: Portico;
let upgrades: IncomingMessage[];

function parse(traceparent: unknown): { traceId: string; spanId: string; flags: string } {
  const match = PARENT.exec(String(traceparent));
  if (match === null) throw new Error(`not a traceparent: ${String(traceparent)}`);
  return { traceId: match[1] as string, spanId: match[2] as string, flags: match[3] as string };
}

async function spans(count: number): Promise<ReadableSpan[]> {
  await waitFor(() => inFlightRequests() === 0, { message: 'server spans to end' });
  await telemetry.flush();
  const finished = exporter.getFinishedSpans();
  expect(finished).toHaveLength(count);
  return finished;
}

function only(list: ReadableSpan[], kind: SpanKind): ReadableSpan {
  const found = list.filter((span) => span.kind === kind);
  expect(found).toHaveLength(1);
  return found[0] as ReadableSpan;
}

beforeAll(async () => {
  telemetry = startTelemetry(
    telemetrySchema.parse({ serviceName: 'portico-test', traces: { exporter: 'console', sampleRatio: 1 } }),
    {
      exporter,
      instrumentations: false,
    },
  );
  up = await startUpstream();
  upgrades = acceptWebSockets(up).upgrades;
  // A well-behaved WebSocket server closes its side when the peer does, so the proxied connection ends.
  up.server.on('upgrade', (_req: IncomingMessage, socket: net.Socket) => socket.on('end', () => socket.end()));
  const dead = await closedPort();
  portico = await startTestPortico(
    [
      'middleware: [tracing]',
      'routes:',
      '  - name: orders',
      '    match: { pathPrefix: /api/orders }',
      `    upstream: ${up.url}`,
      '  - name: dead',
      '    match: { pathPrefix: /dead }',
      `    upstream: http://127.0.0.1:${dead}`,
      '  - name: health',
      '    match: { pathPrefix: /health }',
      `    upstream: ${up.url}`,
      '    excludeMiddleware: [tracing]',
      '  - name: ws',
      '    match: { pathPrefix: /ws }',
      `    upstream: ${up.url}`,
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await portico.shutdown();
  await up.close();
  await telemetry.shutdown();
});

beforeEach(() => {
  exporter.reset();
  up.received.length = 0;
});

describe('tracing', () => {
  it('continues the client trace: server span child of the client span, client span child of the server span, upstream sees the client span as parent', async () => {
    const res = await request(`${portico.proxyUrl}/api/orders/7?secret=x`, {
      headers: {
        traceparent: `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01`,
        tracestate: 'vendor=abc',
        'user-agent': 'tracing-test',
      },
    });
    expect(res.status).toBe(200);
    const list = await spans(2);
    const serverSpan = only(list, SpanKind.SERVER);
    const clientSpan = only(list, SpanKind.CLIENT);

    expect(serverSpan.name).toBe('GET /api/orders');
    expect(serverSpan.spanContext().traceId).toBe(TRACE_ID);
    expect(serverSpan.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(serverSpan.parentSpanContext?.isRemote).toBe(true);
    expect(clientSpan.spanContext().traceId).toBe(TRACE_ID);
    expect(clientSpan.parentSpanContext?.spanId).toBe(serverSpan.spanContext().spanId);

    const seen = parse(up.received[0]?.headers.traceparent);
    expect(seen).toEqual({ traceId: TRACE_ID, spanId: clientSpan.spanContext().spanId, flags: '01' });
    expect(up.received[0]?.headers.tracestate).toBe('vendor=abc');

    expect(serverSpan.attributes).toMatchObject({
      'http.request.method': 'GET',
      'url.path': '/api/orders/7',
      'url.scheme': 'http',
      'http.route': '/api/orders',
      'server.address': '127.0.0.1',
      'client.address': '127.0.0.1',
      'user_agent.original': 'tracing-test',
      'network.protocol.version': '1.1',
      'http.response.status_code': 200,
      'portico.route': 'orders',
      'portico.request_id': res.headers['x-request-id'],
    });
    // the query's names, never its values
    expect(serverSpan.attributes['url.query']).toBe('secret=REDACTED');
    expect(clientSpan.name).toBe('GET');
    expect(clientSpan.attributes).toMatchObject({
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': up.port,
      'url.full': `${up.url}/api/orders/7?secret=REDACTED`,
      'http.response.status_code': 200,
      'network.peer.address': '127.0.0.1',
      'network.peer.port': up.port,
    });
    expect(serverSpan.instrumentationScope).toEqual(
      expect.objectContaining({ name: 'portico', version: expect.stringMatching(/^\d+\.\d+\.\d+/) as unknown }),
    );
    expect(serverSpan.resource.attributes['service.name']).toBe('portico-test');
  });

  it('starts a new trace when the client sends none, and the upstream joins it', async () => {
    await request(`${portico.proxyUrl}/api/orders`);
    const list = await spans(2);
    const serverSpan = only(list, SpanKind.SERVER);
    expect(serverSpan.parentSpanContext).toBeUndefined();
    const seen = parse(up.received[0]?.headers.traceparent);
    expect(seen.traceId).toBe(serverSpan.spanContext().traceId);
    expect(seen.spanId).toBe(only(list, SpanKind.CLIENT).spanContext().spanId);
  });

  it('treats a malformed traceparent as absent and drops the orphaned tracestate', async () => {
    await request(`${portico.proxyUrl}/api/orders`, {
      headers: { traceparent: `00-${'0'.repeat(32)}-${CLIENT_SPAN_ID}-01`, tracestate: 'vendor=abc' },
    });
    const list = await spans(2);
    const serverSpan = only(list, SpanKind.SERVER);
    expect(serverSpan.parentSpanContext).toBeUndefined();
    expect(serverSpan.spanContext().traceId).not.toBe('0'.repeat(32));
    expect(up.received[0]?.headers.tracestate).toBeUndefined();
  });

  it('honours an unsampled parent: no spans, the upstream still gets the trace id with the sampled flag off', async () => {
    await request(`${portico.proxyUrl}/api/orders`, {
      headers: { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN_ID}-00` },
    });
    await spans(0);
    const seen = parse(up.received[0]?.headers.traceparent);
    expect(seen.traceId).toBe(TRACE_ID);
    expect(seen.flags).toBe('00');
    expect(seen.spanId).not.toBe(CLIENT_SPAN_ID);
  });

  it('marks an unreachable upstream on both spans', async () => {
    const res = await request(`${portico.proxyUrl}/dead/x`);
    expect(res.status).toBe(502);
    const list = await spans(2);
    const serverSpan = only(list, SpanKind.SERVER);
    const clientSpan = only(list, SpanKind.CLIENT);
    expect(serverSpan.name).toBe('GET /dead');
    expect(serverSpan.status.code).toBe(SpanStatusCode.ERROR);
    expect(serverSpan.attributes).toMatchObject({ 'http.response.status_code': 502, 'error.type': '502' });
    expect(clientSpan.status.code).toBe(SpanStatusCode.ERROR);
    expect(clientSpan.attributes['error.type']).toBe('ECONNREFUSED');
    expect(clientSpan.parentSpanContext?.spanId).toBe(serverSpan.spanContext().spanId);
  });

  it('names the span of an unmatched request after its method and leaves 404 unmarked', async () => {
    const res = await request(`${portico.proxyUrl}/nowhere`, { method: 'DELETE' });
    expect(res.status).toBe(404);
    const serverSpan = only(await spans(1), SpanKind.SERVER);
    expect(serverSpan.name).toBe('DELETE');
    expect(serverSpan.status.code).toBe(SpanStatusCode.UNSET);
    expect(serverSpan.attributes['http.response.status_code']).toBe(404);
  });

  it('makes no span on a route that excludes tracing, and passes the client traceparent through untouched', async () => {
    const traceparent = `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01`;
    await request(`${portico.proxyUrl}/health`, { headers: { traceparent } });
    await spans(0);
    expect(up.received[0]?.headers.traceparent).toBe(traceparent);
  });

  it('traces a WebSocket upgrade: both spans end with 101 at the handshake, while the connection stays open', async () => {
    const socket = net.connect(Number(new URL(portico.proxyUrl).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write(
      `GET /ws/chat HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}traceparent: 00-${TRACE_ID}-${CLIENT_SPAN_ID}-01\r\n\r\n`,
    );
    const [head] = (await once(socket, 'data')) as [Buffer];
    expect(head.toString('latin1')).toMatch(/^HTTP\/1\.1 101/);
    socket.write('ping');
    const [echoed] = (await once(socket, 'data')) as [Buffer];
    expect(echoed.toString()).toBe('ping');
    const list = await spans(2);
    expect(socket.destroyed).toBe(false);
    socket.destroy();
    const serverSpan = only(list, SpanKind.SERVER);
    const clientSpan = only(list, SpanKind.CLIENT);
    expect(serverSpan).toMatchObject({ name: 'GET /ws' });
    expect(serverSpan.attributes['http.response.status_code']).toBe(101);
    expect(serverSpan.status.code).toBe(SpanStatusCode.UNSET);
    expect(parse(upgrades.at(-1)?.headers.traceparent)).toEqual({
      traceId: TRACE_ID,
      spanId: clientSpan.spanContext().spanId,
      flags: '01',
    });
  });
});
