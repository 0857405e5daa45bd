/**
 * `/metrics` as Prometheus's own linter reads it: after mixed traffic (proxied 200s, an upstream failure, a 404, a
 * request refused before routing for oversized headers and one for a malformed request line, a request the client
 * abandoned, a WebSocket opened and closed), `promtool check metrics` exits 0 on the scrape, and the scrape shows what
 * that traffic did in the new series. Where promtool is not installed (CI installs Debian's `prometheus` package)
 * the promtool check says SKIPPED on the test output and the series checks still run.
 */
import { spawnSync } from 'node:child_process';
import { startTestPortico } from '../helpers/portico.js';
import { acceptWebSockets, closedPort, startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { abandonRequest, openWebSocket, rawExchange, request, waitFor } from '../helpers/http.js';
import type { Portico } from '../../src/main.js';

const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8', timeout: 10_000 });
const hasPromtool = promtool.status === 0;

let up: TestUpstream;
let slow: TestUpstream;
let portico: Portico;
let scrape: string;

beforeAll(async () => {
  up = await startUpstream();
  acceptWebSockets(up);
  // answers only after the client is gone: the abandoned request
  slow = await startUpstream((_req, res) => setTimeout(() => res.end('late'), 1500).unref());
  const dead = await closedPort();
  portico = await startTestPortico(
    `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  maxHeaderSize: 2048\n` +
      `telemetry: { logs: { level: silent } }\n` +
      `middleware: [logging]\n` +
      `routes:\n` +
      `  - { name: orders, match: { pathPrefix: /orders }, upstream: "${up.url}" }\n` +
      `  - { name: slow, match: { pathPrefix: /slow }, upstream: "${slow.url}" }\n` +
      `  - { name: dead, match: { pathPrefix: /dead }, upstream: "http://127.0.0.1:${dead}", timeout: 1s }\n` +
      `  - { name: ws, match: { pathPrefix: /ws }, upstream: "${up.url}" }\n`,
  );
  const port = Number(new URL(portico.proxyUrl).port);
  for (let i = 0; i < 5; i++) expect((await request(`${portico.proxyUrl}/orders/${i}`)).status).toBe(200);
  expect((await request(`${portico.proxyUrl}/orders`, { method: 'POST', body: 'x'.repeat(100) })).status).toBe(200);
  expect((await request(`${portico.proxyUrl}/dead`)).status).toBe(502);
  expect((await request(`${portico.proxyUrl}/nowhere`)).status).toBe(404);
  const big = await rawExchange(port, `GET /orders HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
  expect(big.text).toMatch(/^HTTP\/1\.1 431 /);
  const bad = await rawExchange(
    port,
    'GET /orders HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n',
  );
  expect(bad.text).toMatch(/^HTTP\/1\.1 400 /);
  // abandoned: the client leaves while the upstream still thinks
  await abandonRequest(`${portico.proxyUrl}/slow`, () => slow.received.length === 1);
  // a WebSocket opened, echoed and closed
  const ws = await openWebSocket(port, '/ws');
  const metricsUrl = `${portico.adminUrl}/metrics`;
  await waitFor(async () => /portico_websocket_connections\{route="ws"\} 1/.test((await request(metricsUrl)).body), {
    message: 'open',
  });
  ws.socket.end();
  await ws.closed;
  await waitFor(async () => /portico_requests_aborted_total\{route="slow"\} 1/.test((await request(metricsUrl)).body), {
    message: 'the abandoned request counted',
  });
  await waitFor(async () => /portico_websocket_connections\{route="ws"\} 0/.test((await request(metricsUrl)).body), {
    message: 'closed',
  });
  const res = await request(metricsUrl);
  expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
  scrape = res.body;
}, 30_000);

afterAll(async () => {
  await portico?.shutdown();
  await up?.close();
  await slow?.close();
});

test('the scrape shows the traffic in the per-route series', () => {
  expect(scrape).toMatch(/^portico_requests_total\{route="orders",method="GET",status="2xx"\} 5$/m);
  expect(scrape).toMatch(/^portico_requests_total\{route="dead",method="GET",status="5xx"\} 1$/m);
  // refused before routing (431 and 400 from the parser), and the 404: route "-"
  expect(scrape).toMatch(/^portico_requests_total\{route="-",method="OTHER",status="4xx"\} 2$/m);
  expect(scrape).toMatch(/^portico_requests_total\{route="-",method="GET",status="4xx"\} 1$/m);
  expect(scrape).toMatch(/^portico_requests_aborted_total\{route="slow"\} 1$/m);
  expect(scrape).not.toMatch(/^portico_requests_total\{route="slow"/m); // not counted as a 200
  expect(scrape).toMatch(/^portico_requests_in_flight\{route="orders"\} 0$/m);
  expect(scrape).toMatch(/^portico_request_body_bytes_total\{route="orders"\} 100$/m);
  expect(scrape).toMatch(/^portico_response_body_bytes_total\{route="orders"\} [1-9]\d*$/m);
  expect(scrape).toMatch(/^portico_upstream_response_duration_seconds_count\{route="orders"\} 6$/m);
  expect(scrape).toMatch(/^portico_websocket_upgrades_total\{route="ws",outcome="accepted"\} 1$/m);
  expect(scrape).toMatch(/^portico_websocket_connection_duration_seconds_count\{route="ws"\} 1$/m);
  expect(scrape).toMatch(/^process_cpu_seconds_total \d/m);
  expect(scrape).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
});

if (hasPromtool) {
  test('promtool check metrics exits 0 on the scrape', () => {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: scrape, encoding: 'utf8', timeout: 20_000 });
    expect({ status: check.status, output: `${check.stdout}${check.stderr}` }).toEqual({ status: 0, output: '' });
  });
} else {
  test('promtool is not installed here: the scrape is not linted, and the output says so', () => {
    console.warn(
      `SKIPPED: promtool check metrics (promtool --version failed: ${promtool.error?.message ?? promtool.status})`,
    );
    expect(promtool.status).not.toBe(0);
  });
}
