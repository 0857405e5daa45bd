/**
 * The `tracing` kind's handler on in-memory requests (no sockets): propagation with and without an SDK, the
 * active span while the chain runs, sampling, options. Spans go to an in-memory exporter.
 */
import { EventEmitter } from 'node:events';
import { SpanKind, SpanStatusCode, TraceFlags, trace } from '@opentelemetry/api';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { configSchema } from '../../src/config/schema.js';
import { resolveEntry } from '../../src/middleware/entries.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { tracingKind } from '../../src/tracing/kind.js';
import type { KindDeps, Next } from '../../src/middleware/kind.js';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { formatTraceparent } from '../../src/tracing/request-trace.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const config = configSchema.parse({
  routes: [{ name: 'orders', match: { pathPrefix: '/api/orders' }, upstream: 'http://127.0.0.1:3000' }],
});
const deps = { config } as unknown as KindDeps;

interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse & EventEmitter;
}

function exchange(headers: Record<string, string> = {}): Exchange {
  const req = {
    method: 'GET',
    url: '/api/orders/1?x=1',
    httpVersion: '1.1',
    headers: { host: 'shop.example:8080', ...headers },
    socket: {},
  } as unknown as IncomingMessage;
  const res = Object.assign(new EventEmitter(), {
    req,
    statusCode: 200,
    headersSent: true,
    writableFinished: true,
  }) as unknown as ServerResponse & EventEmitter;
  (req as { portico?: unknown }).portico = {
    id: 'req-1',
    route: 'orders',
    clientIp: '10.0.0.1',
    startedAt: performance.now(),
  };
  return { req, res };
}

function handle(options: unknown, x: Exchange, next: Next = () => undefined): void {
  // The scope the plan gives the orders route's chain (src/plan/build.ts).
  const scope = { route: 'orders', template: '/api/orders', upstreams: config.routes[0]?.upstream };
  void tracingKind.create(tracingKind.options.parse(options), deps, scope)(x.req, x.res, next);
}

describe('traceparent formatting', () => {
  it('writes version 00 with two hex digits of flags', () => {
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: TraceFlags.SAMPLED })).toBe(
      `00-${TRACE_ID}-${PARENT_ID}-01`,
    );
    expect(formatTraceparent({ traceId: TRACE_ID, spanId: PARENT_ID, traceFlags: 0x1b })).toBe(
      `00-${TRACE_ID}-${PARENT_ID}-1b`,
    );
  });
});

describe('tracing options', () => {
  it('accepts the bare entry and static attributes, rejects unknown keys', () => {
    expect(resolveEntry('tracing', defaultRegistry, config).ok).toBe(true);
    expect(resolveEntry({ tracing: { attributes: { team: 'payments' } } }, defaultRegistry, config).ok).toBe(true);
    expect(resolveEntry({ tracing: { sampleRatio: 0.5 } }, defaultRegistry, config).ok).toBe(false);
  });
});

describe('without an SDK (exporter none)', () => {
  it('passes the client traceparent through unchanged and adds none of its own', () => {
    const traced = exchange({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'a=b' });
    const next = jest.fn();
    handle(undefined, traced, next);
    expect(next).toHaveBeenCalledTimes(1);
    expect(traced.req.headers).toMatchObject({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'a=b' });
    const plain = exchange();
    handle(undefined, plain);
    expect(plain.req.headers.traceparent).toBeUndefined();
  });
});

describe('with the SDK', () => {
  const exporter = new InMemorySpanExporter();
  let telemetry: Telemetry;
  beforeAll(() => {
    telemetry = startTelemetry(telemetrySchema.parse({ traces: { exporter: 'console', sampleRatio: 0 } }), {
      exporter,
      instrumentations: false,
    });
  });
  afterAll(() => telemetry.shutdown());
  beforeEach(() => exporter.reset());

  async function finished(x: Exchange) {
    x.res.emit('close');
    await telemetry.flush();
    return exporter.getFinishedSpans();
  }

  it('runs the rest of the chain with the server span active, and points the upstream at it', async () => {
    const x = exchange({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    let active: string | undefined;
    handle({ attributes: { team: 'payments' } }, x, () => {
      active = trace.getActiveSpan()?.spanContext().spanId;
    });
    const [span] = await finished(x);
    expect(span?.name).toBe('GET /api/orders');
    expect(span?.kind).toBe(SpanKind.SERVER);
    expect(active).toBe(span?.spanContext().spanId);
    expect(x.req.headers.traceparent).toBe(`00-${TRACE_ID}-${span?.spanContext().spanId}-01`);
    expect(span?.attributes).toMatchObject({
      'server.address': 'shop.example',
      'server.port': 8080,
      'client.address': '10.0.0.1',
      'url.path': '/api/orders/1',
      'http.route': '/api/orders',
      team: 'payments',
    });
  });

  it('samples a request without a parent by the configured ratio (0 here): no span, flags 00 upstream', async () => {
    const x = exchange();
    handle(undefined, x);
    expect(x.req.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-00$/);
    expect(await finished(x)).toHaveLength(0);
  });

  it('opens one server span even when the chain holds two tracing entries', async () => {
    const x = exchange({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    handle(undefined, x, () => handle(undefined, x));
    expect(await finished(x)).toHaveLength(1);
  });

  it('marks 5xx as an error and a response the client abandoned as aborted', async () => {
    const failed = exchange({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    handle(undefined, failed);
    Object.assign(failed.res, { statusCode: 503 });
    const [error] = await finished(failed);
    expect(error?.status.code).toBe(SpanStatusCode.ERROR);
    expect(error?.attributes).toMatchObject({ 'http.response.status_code': 503, 'error.type': '503' });

    exporter.reset();
    const abandoned = exchange({ traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
    handle(undefined, abandoned);
    Object.assign(abandoned.res, { writableFinished: false });
    const [aborted] = await finished(abandoned);
    expect(aborted?.attributes['portico.client_aborted']).toBe(true);
    expect(aborted?.status.code).toBe(SpanStatusCode.UNSET);
  });
});
