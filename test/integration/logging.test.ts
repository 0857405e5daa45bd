/**
 * `logging` end to end: real upstreams and Portico, the process logger writing to a stream the test captures.
 * Every assertion is on parsed log lines.
 */
import http, { type ServerResponse } from 'node:http';
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { createLogger } from '../../src/telemetry/logger.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import type { Portico } from '../../src/main.js';
import { startTestPortico } from '../helpers/portico.js';
import { closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { request, waitFor } from '../helpers/http.js';

type Line = Record<string, unknown> & { msg: string; level: number };

const lines: Line[] = [];
const capture = { write: (text: string) => void lines.push(JSON.parse(text) as Line) };
const telemetryConfig = telemetrySchema.parse({
  serviceName: 'logging-test',
  logs: { level: 'info', redact: ['req.headers["x-api-key"]'] },
});
const { logger } = createLogger(telemetryConfig, { stream: capture });

const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let up: TestUpstream;
let streaming: TestUpstream;
let held: ServerResponse[] = [];
let portico: Portico;

function completed(path: string): Line[] {
  return lines.filter(
    (line) => line.path === path && (line.msg === 'request completed' || line.msg === 'request aborted by the client'),
  );
}

async function lineFor(path: string): Promise<Line> {
  await waitFor(() => completed(path).length > 0, { message: `log line for ${path}` });
  const found = completed(path);
  expect(found).toHaveLength(1);
  return found[0] as Line;
}

beforeAll(async () => {
  telemetry = startTelemetry(telemetryConfig, { exporter, instrumentations: false });
  up = await startUpstream((req, res) => {
    if (req.url?.startsWith('/slow')) {
      held.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '5', 'set-cookie': 'session=s3cret' });
    res.end('hello');
  });
  streaming = await startUpstream((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('a'.repeat(1000));
    setImmediate(() => res.end('b'.repeat(234)));
  });
  const dead = await closedPort();
  portico = await startTestPortico(
    [
      'middleware: [logging, tracing]',
      'routes:',
      '  - { name: plain, match: { pathPrefix: /plain }, upstream: ' + up.url + ' }',
      '  - { name: slow, match: { pathPrefix: /slow }, upstream: ' + up.url + ' }',
      '  - { name: stream, match: { pathPrefix: /stream }, upstream: ' + streaming.url + ' }',
      '  - { name: dead, match: { pathPrefix: /dead }, upstream: http://127.0.0.1:' + dead + ' }',
      '  - { name: quiet, match: { pathPrefix: /quiet }, upstream: ' + up.url + ', excludeMiddleware: [logging] }',
      '  - { name: verbose, match: { pathPrefix: /verbose }, upstream: ' +
        up.url +
        ', middleware: [{ logging: { level: debug } }] }',
      '  - { name: warn-only, match: { pathPrefix: /warn-only }, upstream: ' +
        up.url +
        ', excludeMiddleware: [logging], middleware: [{ logging: { level: warn } }] }',
      '',
    ].join('\n'),
    { logger },
  );
});

afterAll(async () => {
  for (const res of held) res.end();
  await portico.shutdown();
  await Promise.all([up.close(), streaming.close()]);
  await telemetry.shutdown();
});

beforeEach(() => {
  lines.length = 0;
  exporter.reset();
});

describe('logging', () => {
  it('writes one line per request with the exchange facts, at info for 2xx', async () => {
    const res = await request(`${portico.proxyUrl}/plain/items?token=secret`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'log-test/1.0' },
      body: '{"a":1}',
    });
    expect(res.status).toBe(200);
    const line = await lineFor('/plain/items');
    expect(line).toMatchObject({
      level: 30,
      service: 'logging-test',
      reqId: res.headers['x-request-id'],
      method: 'POST',
      route: 'plain',
      status: 200,
      bytesIn: 7,
      bytesOut: 5,
      upstream: up.url,
      clientIp: '127.0.0.1',
      userAgent: 'log-test/1.0',
      msg: 'request completed',
    });
    expect(typeof line.time).toBe('number');
    expect(line.durationMs).toEqual(expect.any(Number));
    expect(line.durationMs as number).toBeGreaterThan(0);
    expect(JSON.stringify(line)).not.toContain('secret');
    expect(line.req).toBeUndefined(); // headers only at debug
  });

  it('carries the trace and span id of the request when tracing is on', async () => {
    await request(`${portico.proxyUrl}/plain/traced`);
    const line = await lineFor('/plain/traced');
    await telemetry.flush();
    const server = exporter
      .getFinishedSpans()
      .find((span) => span.attributes['url.path'] === '/plain/traced' && span.name === 'GET /plain');
    expect(server).toBeDefined();
    expect(line).toMatchObject({
      trace_id: server?.spanContext().traceId,
      span_id: server?.spanContext().spanId,
      trace_flags: '01',
    });
  });

  it('an unsampled request says so: its trace id and flags 00, no id of a span that was never exported', async () => {
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    await request(`${portico.proxyUrl}/plain/unsampled`, {
      headers: { traceparent: `00-${traceId}-b7ad6b7169203331-00` },
    });
    const line = await lineFor('/plain/unsampled');
    expect(line).toMatchObject({ trace_id: traceId, trace_flags: '00' });
    expect(line.span_id).toBeUndefined();
  });

  it('keeps a sane client request id and replaces an unsafe one', async () => {
    await request(`${portico.proxyUrl}/plain/kept`, { headers: { 'x-request-id': 'client-id-42' } });
    await request(`${portico.proxyUrl}/plain/replaced`, { headers: { 'x-request-id': 'bad id\twith "quotes"' } });
    expect((await lineFor('/plain/kept')).reqId).toBe('client-id-42');
    const replaced = await lineFor('/plain/replaced');
    expect(replaced.reqId).toMatch(/^[0-9a-f-]{36}$/);
    expect(up.received.find((r) => r.url === '/plain/replaced')?.headers['x-request-id']).toBe(replaced.reqId);
  });

  it('logs 4xx at warn and 5xx at error; other lines of the request carry its id', async () => {
    await request(`${portico.proxyUrl}/missing`);
    const res = await request(`${portico.proxyUrl}/dead/x`);
    expect(res.status).toBe(502);
    expect(await lineFor('/missing')).toMatchObject({ level: 40, status: 404, route: '-' });
    expect(await lineFor('/dead/x')).toMatchObject({
      level: 50,
      status: 502,
      route: 'dead',
      bytesOut: expect.any(Number) as unknown,
    });
    const related = lines.filter((line) => line.reqId === res.headers['x-request-id']);
    expect(related.length).toBeGreaterThanOrEqual(2); // the upstream failure and the request line
    // the error line carries the request's trace too
    const failure = related.find((line) => line.msg === 'upstream failed');
    const access = related.find((line) => line.msg === 'request completed');
    expect(failure).toMatchObject({ level: 40, trace_id: access?.trace_id, span_id: access?.span_id });
    expect(access?.trace_id).toEqual(expect.stringMatching(/^[0-9a-f]{32}$/));
  });

  it('counts chunked bodies in both directions', async () => {
    const url = new URL(`${portico.proxyUrl}/stream/up`);
    const body = await new Promise<string>((resolve, reject) => {
      const req = http.request(url, { method: 'POST', agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(text));
      });
      req.on('error', reject);
      req.write('x'.repeat(300));
      setImmediate(() => req.end('y'.repeat(45)));
    });
    expect(body).toHaveLength(1234);
    expect(await lineFor('/stream/up')).toMatchObject({ bytesIn: 345, bytesOut: 1234, status: 200 });
  });

  it('logs headers at debug, with secrets redacted (defaults and configured paths)', async () => {
    await request(`${portico.proxyUrl}/verbose/x`, {
      // Secrets that cannot occur by chance in the line's random trace, span and request ids (hex, uuid).
      headers: { authorization: 'Bearer token-xyz', cookie: 'id=1', 'x-api-key': 'k-123', accept: 'text/plain' },
    });
    const line = await lineFor('/verbose/x');
    const req = line.req as { headers: Record<string, string> };
    const res = line.res as { headers: Record<string, string> };
    expect(req.headers).toMatchObject({
      authorization: '[Redacted]',
      cookie: '[Redacted]',
      'x-api-key': '[Redacted]',
      accept: 'text/plain',
    });
    expect(res.headers['set-cookie']).toBe('[Redacted]');
    expect(JSON.stringify(line)).not.toMatch(/token-xyz|id=1|k-123|s3cret/);
  });

  it('honours a route opting out, and a route entry with its own level', async () => {
    await request(`${portico.proxyUrl}/quiet/x`);
    await request(`${portico.proxyUrl}/warn-only/x`);
    await request(`${portico.proxyUrl}/plain/after`);
    await lineFor('/plain/after');
    expect(completed('/quiet/x')).toHaveLength(0);
    expect(completed('/warn-only/x')).toHaveLength(0);
  });

  it('logs a request the client abandoned, once, as aborted', async () => {
    const url = new URL(`${portico.proxyUrl}/slow/x`);
    const req = http.request(url, { agent: false });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => held.length === 1, { message: 'upstream to hold the request' });
    req.destroy();
    const line = await lineFor('/slow/x');
    // no status was sent: none is logged (not Node's default 200), and the line says what happened
    expect(line).toMatchObject({
      msg: 'request aborted by the client',
      aborted: 'client_closed_before_status',
      route: 'slow',
      level: 40,
    });
    expect(line.status).toBeUndefined();
    held[0]?.end();
    held = [];
  }, 10_000);
});
