/**
 * The per-request metrics (src/admin/request-metrics.ts) must expose exactly what prom-client's own Counter and
 * Histogram would for the same requests: same series, labels, label order and values.
 */
import { Counter, Histogram, Registry } from 'prom-client';
import { registerRequestMetrics } from '../../src/admin/request-metrics.js';

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
    help: 'Requests answered, by route, method and status class',
    labelNames,
    registers: [registry],
  });
  const duration = new Histogram({
    name: 'portico_request_duration_seconds',
    help: 'Time from arrival to the last response byte',
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
  const metrics = registerRequestMetrics(registry, BOUNDS);
  for (const [route, method, status, seconds] of REQUESTS) {
    expected.observe(route, method, status, seconds);
    metrics.observe(route, method, status, seconds);
  }
  const sorted = (text: string) => text.split('\n').filter(Boolean).sort();
  expect(sorted(await registry.metrics())).toEqual(sorted(await expected.registry.metrics()));
  expect(await registry.metrics()).toMatch(
    /portico_request_duration_seconds_bucket\{le="0.01",route="orders",method="GET",status="2xx"\} 2/,
  );
  expect(await registry.metrics()).toMatch(/portico_requests_total\{route="orders",method="OTHER",status="2xx"\} 1/);
});

test('a scrape does not change the counts, and resetMetrics clears both metrics', async () => {
  const registry = new Registry();
  const metrics = registerRequestMetrics(registry, BOUNDS);
  metrics.observe('orders', 'GET', 200, 0.005);
  await registry.metrics();
  metrics.observe('orders', 'GET', 200, 0.005);
  expect(await registry.metrics()).toMatch(/portico_requests_total\{route="orders",method="GET",status="2xx"\} 2\n/);
  registry.resetMetrics();
  const after = await registry.metrics();
  expect(after).not.toMatch(/route="orders"/);
  expect(after).toMatch(/# TYPE portico_request_duration_seconds histogram/);
});
