/**
 * The log lines as the tools that read them see them: after mixed traffic on both ports (proxied 200, 404, an
 * upstream failure, a request refused before routing, a request the client abandoned, a WebSocket, admin calls),
 * every line the process logger wrote parses as JSON on its own and pino-pretty renders it, `--minimumLevel` keeps
 * only the lines at or above it (pino's numeric levels), and a traced request's lines name the very trace and span
 * the exporter got.
 */
import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { prettyFactory } from 'pino-pretty';
import { createLogger } from '../../src/telemetry/logger.js';
import { telemetrySchema } from '../../src/telemetry/config.js';
import { startTelemetry, type Telemetry } from '../../src/telemetry/bootstrap.js';
import type { Portico } from '../../src/main.js';
import { startTestPortico } from '../helpers/portico.js';
import { acceptWebSockets, closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { abandonRequest, openWebSocket, rawExchange, request, waitFor } from '../helpers/http.js';

type Line = Record<string, unknown> & { level: number; msg: string };

const raw: string[] = [];
const capture = { write: (text: string) => void raw.push(text) };
const config = telemetrySchema.parse({ serviceName: 'log-format-test', logs: { level: 'debug' } });
const { logger } = createLogger(config, { stream: capture });
const exporter = new InMemorySpanExporter();
let telemetry: Telemetry;
let up: TestUpstream;
let slow: TestUpstream;
let portico: Portico;
let failedId: string;
let adminId: string;

const parsed = (): Line[] => raw.map((text) => JSON.parse(text) as Line);

beforeAll(async () => {
  telemetry = startTelemetry(config, { exporter, instrumentations: false });
  up = await startUpstream();
  acceptWebSockets(up);
  slow = await startUpstream((_req, res) => setTimeout(() => res.end('late'), 2000).unref());
  const dead = await closedPort();
  portico = await startTestPortico(
    `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  maxHeaderSize: 2048\n` +
      `middleware: [logging, tracing]\n` +
      `routes:\n` +
      `  - { name: orders, match: { pathPrefix: /orders }, upstream: "${up.url}" }\n` +
      `  - { name: slow, match: { pathPrefix: /slow }, upstream: "${slow.url}" }\n` +
      `  - { name: dead, match: { pathPrefix: /dead }, upstream: "http://127.0.0.1:${dead}" }\n` +
      `  - { name: ws, match: { pathPrefix: /ws }, upstream: "${up.url}" }\n`,
    { logger },
  );
  const port = Number(new URL(portico.proxyUrl).port);
  expect((await request(`${portico.proxyUrl}/orders/1`)).status).toBe(200);
  expect((await request(`${portico.proxyUrl}/nowhere`)).status).toBe(404);
  const failed = await request(`${portico.proxyUrl}/dead/x`);
  expect(failed.status).toBe(502);
  failedId = String(failed.headers['x-request-id']);
  expect(
    (await rawExchange(port, `GET /orders HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`)).text,
  ).toMatch(/^HTTP\/1\.1 431 /);
  await abandonRequest(`${portico.proxyUrl}/slow`, () => slow.received.length === 1);
  const ws = await openWebSocket(port, '/ws');
  ws.socket.end();
  await ws.closed;
  const shown = await request(`${portico.adminUrl}/config`);
  expect(shown.status).toBe(200);
  adminId = String(shown.headers['x-request-id']);
  expect((await request(`${portico.adminUrl}/metrics`)).status).toBe(200);
  await waitFor(() => parsed().some((line) => line.msg === 'websocket closed'), {
    message: 'the websocket close line',
  });
  await waitFor(() => parsed().some((line) => line.msg === 'request aborted by the client'), {
    message: 'the abandoned request line',
  });
  await waitFor(() => parsed().filter((line) => line.component === 'admin').length >= 2, { message: 'admin lines' });
  await telemetry.flush();
}, 30_000);

afterAll(async () => {
  await portico?.shutdown();
  await up?.close();
  await slow?.close();
  await telemetry?.shutdown();
});

test('every line is one JSON object with a numeric level, and pino-pretty renders each one', () => {
  const pretty = prettyFactory({ colorize: false });
  expect(raw.length).toBeGreaterThan(10);
  for (const text of raw) {
    expect(text.endsWith('\n')).toBe(true);
    const line = JSON.parse(text) as Line;
    expect(typeof line.level).toBe('number');
    const rendered = pretty(text);
    expect(rendered).toContain(line.msg);
    expect(rendered).toMatch(/^\[[^\]]+\] (TRACE|DEBUG|INFO|WARN|ERROR|FATAL) \(/);
  }
  const messages = new Set(parsed().map((line) => line.msg));
  for (const msg of [
    'request completed',
    'upstream failed',
    'request refused before parsing completed',
    'request aborted by the client',
    'websocket opened',
    'websocket closed',
    'admin request completed',
  ])
    expect(messages).toContain(msg);
});

test('pino-pretty --minimumLevel keeps exactly the lines at or above it', () => {
  const warnAndUp = prettyFactory({ colorize: false, minimumLevel: 'warn' });
  const kept = raw.filter((text) => warnAndUp(text) !== undefined);
  expect(kept.length).toBeGreaterThan(0);
  expect(kept).toEqual(raw.filter((text) => (JSON.parse(text) as Line).level >= 40));
});

test('the proxy and admin access lines use one vocabulary', () => {
  const proxy = parsed().find((line) => line.msg === 'request completed' && line.route === 'orders');
  const admin = parsed().find((line) => line.component === 'admin' && line.path === '/config');
  if (proxy === undefined || admin === undefined) throw new Error('no proxy or no admin access line');
  const core = ['reqId', 'method', 'path', 'route', 'status', 'durationMs', 'clientIp'];
  // Every line's own envelope (pino's, and the component naming the admin port) aside, the admin line (pino-http)
  // holds exactly the core fields: none of pino-http's own `req`, `res` or `responseTime`.
  const envelope = new Set(['level', 'time', 'pid', 'service', 'msg', 'component']);
  expect(
    Object.keys(admin)
      .filter((key) => !envelope.has(key))
      .sort(),
  ).toEqual([...core].sort());
  expect(Object.keys(proxy)).toEqual(expect.arrayContaining(core));
  expect(core.map((field) => [field, typeof admin[field]])).toEqual(core.map((field) => [field, typeof proxy[field]]));
  expect(admin).toMatchObject({ level: 30, msg: 'admin request completed', route: 'admin', reqId: adminId });
  expect(adminId).toMatch(/^[0-9a-f-]{36}$/);
  expect(String(proxy.reqId)).toMatch(/^[0-9a-f-]{36}$/);
});

test("a request's lines (the access line and the error line) and its spans share its ids", () => {
  const lines = parsed().filter((line) => line.reqId === failedId);
  expect(lines.map((line) => line.msg).sort()).toEqual(['request completed', 'upstream failed']);
  const server = exporter.getFinishedSpans().find((span) => span.attributes['portico.request_id'] === failedId);
  expect(server).toBeDefined();
  for (const line of lines)
    expect(line).toMatchObject({
      trace_id: server?.spanContext().traceId,
      span_id: server?.spanContext().spanId,
      trace_flags: '01',
    });
});
