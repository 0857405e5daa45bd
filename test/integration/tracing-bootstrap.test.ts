/**
 * The telemetry bootstrap as the CLI runs it, in a child process (jest's module loader bypasses the require hooks
 * instrumentations rely on, and the OTLP exporter loads its transport by dynamic import): startTelemetry with the
 * OTLP/HTTP exporter pointed at a receiver in this test, then the server, then one request through a route with
 * tracing and a Redis rate limit. Asserts on the decoded export: resource from the config, span names, kinds,
 * parent/child links, the ioredis span under the request's server span, and the traceparent the upstream saw.
 * A second run loads the server before telemetry and shows why the order matters: no ioredis span.
 */
import http from 'node:http';
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request } from '../helpers/http.js';
import { nextMessage, writeTsChild } from '../helpers/ts-child.js';

const dir = mkdtempSync(join(tmpdir(), 'portico-tracing-bootstrap-'));
const POLICY = `tracing-bootstrap-${process.pid}-${Date.now()}`;
const TRACE_ID = '5bf92f3577b34da6a3ce929d0e0e4736';

/** argv: order (telemetry-first | server-first), OTLP endpoint, upstream url, OTLP protocol ('' for the default). */
const CHILD = `
const [order, endpoint, upstream, protocol] = process.argv.slice(2);
const { configSchema } = require(src('config/schema.ts'));
const loadedEarly = Object.keys(require.cache).filter((file) => /node_modules\\/(ioredis|pg|express)\\//.test(file));
const config = configSchema.parse({
  server: { listen: '127.0.0.1:0', admin: '127.0.0.1:0', drainTimeout: '2s' },
  redis: { url: 'redis://127.0.0.1:6379' },
  userLookup: { enabled: false },
  telemetry: {
    serviceName: 'bootstrap-test',
    resourceAttributes: { 'deployment.environment': 'test' },
    traces: { exporter: 'otlp', endpoint, sampleRatio: 1, timeout: '2s', ...(protocol ? { protocol } : {}) },
  },
  rateLimits: { ${JSON.stringify(POLICY)}: { key: 'ip', limit: 1000, window: '1m', onStoreError: 'allow' } },
  routes: [{ name: 'orders', match: { pathPrefix: '/orders' }, upstream, middleware: ['tracing', { rateLimit: ${JSON.stringify(POLICY)} }] }],
});
const server = () => require(src('main.ts'));
if (order === 'server-first') server();
const { startTelemetry } = require(src('telemetry/bootstrap.ts'));
const telemetry = startTelemetry(config.telemetry);
const { startPortico } = server();
const logger = require(dep('pino'))({ level: 'silent' });
startPortico({ config, logger }).then((portico) => {
  process.send({ proxyUrl: portico.proxyUrl, loadedEarly });
  process.on('message', async () => {
    await portico.shutdown();
    const started = Date.now();
    await telemetry.shutdown();
    process.send({ shutdownMs: Date.now() - started });
    process.exit(0);
  });
});
`;

interface OtlpAttribute {
  readonly key: string;
  readonly value: { stringValue?: string };
}
interface OtlpSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId?: string;
  readonly name: string;
  readonly kind: number;
  readonly attributes: OtlpAttribute[];
}
interface OtlpExport {
  readonly resourceSpans: Array<{
    resource: { attributes: OtlpAttribute[] };
    scopeSpans: Array<{ spans: OtlpSpan[] }>;
  }>;
}

let childFile: string;
let receiver: http.Server;
let endpoint: string;
const received: OtlpExport[] = [];
/** Exports to /protobuf/v1/traces, kept raw: content type and body. */
const receivedRaw: Array<{ contentType: string | undefined; body: Buffer }> = [];
let up: TestUpstream;

beforeAll(async () => {
  childFile = writeTsChild(dir, CHILD);
  receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (req.url === '/v1/traces') received.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpExport);
      if (req.url === '/protobuf/v1/traces')
        receivedRaw.push({ contentType: req.headers['content-type'], body: Buffer.concat(chunks) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
  up = await startUpstream();
});

afterAll(async () => {
  receiver.closeAllConnections();
  receiver.close();
  await up.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  received.length = 0;
  receivedRaw.length = 0;
  up.received.length = 0;
});

interface Run {
  readonly loadedEarly: string[];
  readonly shutdownMs: number;
  readonly code: number | null;
}

/** Runs the child, sends one traced request through it, stops it. */
async function run(
  order: 'telemetry-first' | 'server-first',
  otlpEndpoint: string,
  protocol = 'http/json',
): Promise<Run> {
  const child = fork(childFile, [order, otlpEndpoint, up.url, protocol], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  // A bound on a hung child, below the test's timeout: the child compiles Portico as it loads (seconds; more when busy).
  const deadline = setTimeout(() => child.kill('SIGKILL'), 75_000);
  try {
    const ready = await nextMessage<{ proxyUrl: string; loadedEarly: string[] }>(child);
    const res = await request(`${ready.proxyUrl}/orders/1`, {
      headers: { traceparent: `00-${TRACE_ID}-00f067aa0ba902b7-01` },
    });
    expect(res.status).toBe(200);
    const exited = once(child, 'exit') as Promise<[number | null]>;
    child.send('stop');
    const done = await nextMessage<{ shutdownMs: number }>(child);
    const [code] = await exited;
    return { loadedEarly: ready.loadedEarly, shutdownMs: done.shutdownMs, code };
  } finally {
    clearTimeout(deadline);
    child.kill();
  }
}

function exportedSpans(): OtlpSpan[] {
  return received.flatMap((body) => body.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans)));
}

function isRedisSpan(span: OtlpSpan): boolean {
  return span.attributes.some((a) => a.key.startsWith('db.system') && a.value.stringValue === 'redis');
}

describe('telemetry bootstrap (child process, OTLP/HTTP receiver)', () => {
  it('exports server, client and ioredis spans linked under the request when telemetry starts first', async () => {
    const { loadedEarly, code } = await run('telemetry-first', endpoint);
    expect(loadedEarly).toEqual([]);
    expect(code).toBe(0);

    const resource = Object.fromEntries(
      received[0]?.resourceSpans[0]?.resource.attributes.map((a) => [a.key, a.value.stringValue]) ?? [],
    );
    expect(resource).toMatchObject({ 'service.name': 'bootstrap-test', 'deployment.environment': 'test' });

    const spans = exportedSpans();
    const server = spans.find((span) => span.name === 'GET /orders');
    const client = spans.find((span) => span.kind === 3 && !isRedisSpan(span));
    const redis = spans.filter(isRedisSpan);
    expect(server).toMatchObject({ traceId: TRACE_ID, parentSpanId: '00f067aa0ba902b7', kind: 2 });
    expect(client).toMatchObject({ traceId: TRACE_ID, parentSpanId: server?.spanId, name: 'GET' });
    expect(redis.length).toBeGreaterThanOrEqual(1);
    for (const span of redis) expect(span).toMatchObject({ traceId: TRACE_ID, parentSpanId: server?.spanId });
    // The rate limit's command carries its key (policy and client address): the span shows the key's shape only.
    const texts = redis.map((span) => span.attributes.find((a) => a.key === 'db.query.text')?.value.stringValue);
    expect(texts).toContain('EVALSHA portico:rl:*');
    for (const text of texts) expect(text).not.toMatch(/127\.0\.0\.1|::1/);
    expect(up.received[0]?.headers.traceparent).toBe(`00-${TRACE_ID}-${client?.spanId}-01`);
  }, 90_000);

  it('makes no ioredis span when the server was loaded before telemetry (the reason for the order)', async () => {
    const { code } = await run('server-first', endpoint);
    expect(code).toBe(0);
    const spans = exportedSpans();
    expect(spans.find((span) => span.name === 'GET /orders')).toBeDefined(); // hand-made spans do not depend on the order
    expect(spans.filter(isRedisSpan)).toEqual([]);
  }, 90_000);

  it('exports OTLP protobuf when no protocol is configured (the OTLP default)', async () => {
    const { code } = await run('telemetry-first', endpoint.replace('/v1/traces', '/protobuf/v1/traces'), '');
    expect(code).toBe(0);
    expect(received).toEqual([]);
    expect(receivedRaw.length).toBeGreaterThanOrEqual(1);
    expect(receivedRaw.every((e) => e.contentType === 'application/x-protobuf')).toBe(true);
    const body = Buffer.concat(receivedRaw.map((e) => e.body));
    // Protobuf carries ids as raw bytes and names as length-prefixed UTF-8: both are in the body as such.
    expect(body.includes(Buffer.from(TRACE_ID, 'hex'))).toBe(true);
    expect(body.includes(Buffer.from('bootstrap-test'))).toBe(true);
    expect(body.includes(Buffer.from(TRACE_ID))).toBe(false); // not hex text, as JSON would send it
  }, 90_000);

  it.each([
    ['http/json', 'http/json'],
    ['http/protobuf (spans encoded as they end)', ''],
  ])(
    'shuts down within the export timeout when the collector is unreachable, and the request is unaffected: %s',
    async (_name, protocol) => {
      const { code, shutdownMs } = await run(
        'telemetry-first',
        `http://127.0.0.1:${await closedPort()}/v1/traces`,
        protocol,
      );
      expect(code).toBe(0);
      // The configured 2 s export timeout + slack for a busy machine; an exporter that ignored it would wait its
      // own 10 s default.
      expect(shutdownMs).toBeLessThan(2000 + 5000);
      expect(up.received).toHaveLength(1);
    },
    90_000,
  );
});
