/**
 * The per-request metrics (src/admin/request-metrics.ts) must expose exactly what prom-client's own Counter and
 * Histogram would for the same requests: same series, labels, label order and values.
 */
import { Counter, Histogram, Registry, type RegistryContentType } from 'prom-client';
import { registerRequestMetrics } from '../../src/admin/request-metrics.js';
import { METRICS } from '../../src/telemetry/metric-catalogue.js';

const BOUNDS = [0.001, 0.01, 0.1, 1];
const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** What the metrics looked like when prom-client counted every request itself. */
function reference(): {
  registry: Registry;
  observe: (route: string, method: string, status: number, seconds: number) => void;
} {
  const registry = new Registry();
  const labelNames = ['route', 'method', 'status'];
  const requests = new Counter({
    name: 'portico_requests_total',
    help: METRICS.requests.help,
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'portico_request_duration_seconds',
    help: METRICS.requestDuration.help,
    labelNames,
    buckets: BOUNDS,
    registers: [registry],
  });
  return {
    registry,
    observe(route, method, status, seconds) {
      const labels = {
        route,
        method: METHODS.has(method) ? method : 'OTHER',
        status: ['1xx', '1xx', '2xx', '3xx', '4xx', '5xx'][Math.floor(status / 100)] ?? 'other',
      };
      requests.inc(labels);
      duration.observe(labels, seconds);
    },
  };
}

const REQUESTS: Array<[string, string, number, number]> = [
  ['orders', 'GET', 200, 0.0004],
  ['orders', 'GET', 204, 0.01], // exactly on a bound: counted in that bucket
  ['orders', 'POST', 503, 0.2],
  ['orders', 'PROPFIND', 207, 3], // above every bound: +Inf only
  ['-', 'GET', 404, 0.002],
  ['users', 'DELETE', 101, 0.05],
  ['orders', 'GET', 200, 0.5],
];

test('exposes the same text as prom-client counting each request', async () => {
  const expected = reference();
  const registry = new Registry();
  const metrics = registerRequestMetrics(registry, { bounds: BOUNDS });
  for (const [route, method, status, seconds] of REQUESTS) {
    expected.observe(route, method, status, seconds);
    metrics.observe(metrics.meter(route), method, status, seconds, true, undefined);
  }
  const sorted = (text: string) => text.split('\n').filter(Boolean).sort();
  // The two families prom-client kept; the others (in flight, bytes, upstream time) are checked below.
  const kept = (text: string) =>
    text.split('\n\n').filter((family) => /# TYPE portico_request(s_total|_duration_seconds) /.test(family));
  expect(sorted(kept(await registry.metrics()).join('\n'))).toEqual(sorted(await expected.registry.metrics()));
  expect(await registry.metrics()).toMatch(
    /portico_request_duration_seconds_bucket\{le="0.01",route="orders",method="GET",status="2xx"\} 2/,
  );
  expect(await registry.metrics()).toMatch(/portico_requests_total\{route="orders",method="OTHER",status="2xx"\} 1/);
});

test('a scrape does not change the counts, and resetMetrics clears both metrics', async () => {
  const registry = new Registry();
  const metrics = registerRequestMetrics(registry, { bounds: BOUNDS });
  metrics.observe(metrics.meter('orders'), 'GET', 200, 0.005, true, undefined);
  await registry.metrics();
  metrics.observe(metrics.meter('orders'), 'GET', 200, 0.005, true, undefined);
  expect(await registry.metrics()).toMatch(/portico_requests_total\{route="orders",method="GET",status="2xx"\} 2\n/);
  registry.resetMetrics();
  const after = await registry.metrics();
  expect(after).not.toMatch(/route="orders"/);
  expect(after).toMatch(/# TYPE portico_request_duration_seconds histogram/);
});

test('in flight, aborted, body bytes and upstream time per route; an aborted request is not counted by status', async () => {
  const registry = new Registry();
  const metrics = registerRequestMetrics(registry, { bounds: BOUNDS });
  const orders = metrics.meter('orders');
  expect(metrics.meter('orders')).toBe(orders); // one meter per route name
  orders.inFlight += 2;
  orders.bytesIn += 10;
  orders.bytesOut += 300;
  metrics.observe(orders, 'GET', 200, 0.005, false, undefined);
  metrics.observeUpstream(orders, 0.003, undefined);
  const text = await registry.metrics();
  expect(text).toMatch(/^portico_requests_in_flight\{route="orders"\} 2$/m);
  expect(text).toMatch(/^portico_requests_aborted_total\{route="orders"\} 1$/m);
  expect(text).toMatch(/^portico_request_body_bytes_total\{route="orders"\} 10$/m);
  expect(text).toMatch(/^portico_response_body_bytes_total\{route="orders"\} 300$/m);
  expect(text).toMatch(/^portico_upstream_response_duration_seconds_bucket\{le="0.01",route="orders"\} 1$/m);
  expect(text).not.toMatch(/^portico_requests_total\{/m);
});

test('exemplars: OpenMetrics bucket lines carry the trace id of the last sampled observation in that bucket', async () => {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  const metrics = registerRequestMetrics(registry, { bounds: BOUNDS, exemplars: true });
  const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
  metrics.observe(metrics.meter('orders'), 'GET', 200, 0.005, true, traceId);
  metrics.observe(metrics.meter('orders'), 'GET', 200, 0.5, true, undefined);
  const text = await registry.metrics();
  expect(text).toMatch(
    new RegExp(
      `^portico_request_duration_seconds_bucket\\{le="0.01",route="orders",method="GET",status="2xx"\\} 1 # \\{trace_id="${traceId}"\\} 0.005 \\d+(\\.\\d+)?$`,
      'm',
    ),
  );
  // the untraced observation left no exemplar on its bucket
  expect(text).toMatch(
    /^portico_request_duration_seconds_bucket\{le="1",route="orders",method="GET",status="2xx"\} 2$/m,
  );
  expect(text).toMatch(/^portico_requests_total\{route="orders",method="GET",status="2xx"\} 2$/m);
  expect(text.endsWith('# EOF\n')).toBe(true);
});
