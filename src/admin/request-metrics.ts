/**
 * `portico_requests_total` and `portico_request_duration_seconds`: counted per request in plain arrays, turned into
 * Prometheus series only when scraped.
 *
 * Why not prom-client's own Counter and Histogram on the hot path: its histogram re-validates and re-hashes the
 * label set on every observation, bound child or not (~1.4 us per request on the bench machine, plus ~1 us to build
 * a string key for the child; bench/README.md). Here a request costs a Map lookup by route, an array index by
 * method and status class, and a bucket scan. prom-client still owns the registry and the text format: the counter
 * is a prom-client Counter filled by its `collect` hook at scrape time, and the histogram is a registry entry whose
 * `get()` returns the values in the shape prom-client's own Histogram returns (same series, same label order).
 */
import { Counter, type Metric, type Registry } from 'prom-client';

/** The label values Portico keeps; anything else collapses to OTHER / other (bounded cardinality). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const;
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
const OTHER_METHOD = METHODS.length - 1;
const OTHER_STATUS = STATUS_CLASSES.length - 1;
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(
  METHODS.slice(0, OTHER_METHOD).map((method, i) => [method, i]),
);

interface Cell {
  readonly labels: { readonly route: string; readonly method: string; readonly status: string };
  count: number;
  sum: number;
  /** Observations per bucket, not cumulative; the last slot is above the largest bound (+Inf only). */
  readonly buckets: Float64Array;
}

function statusIndex(status: number): number {
  const hundreds = Math.floor(status / 100);
  return hundreds >= 1 && hundreds <= 5 ? hundreds - 1 : OTHER_STATUS;
}

export interface RequestMetrics {
  observe(route: string, method: string, status: number, seconds: number): void;
}

/** Registers both metrics on `registry`; `bounds` are the histogram's upper bounds, ascending. */
export function registerRequestMetrics(registry: Registry, bounds: readonly number[]): RequestMetrics {
  const routes = new Map<string, Array<Cell | undefined>>();
  const cellsOf = function* (): Generator<Cell> {
    for (const cells of routes.values()) for (const cell of cells) if (cell !== undefined) yield cell;
  };

  new Counter({
    name: 'portico_requests_total',
    help: 'Requests answered, by route, method and status class',
    labelNames: ['route', 'method', 'status'],
    registers: [registry],
    collect() {
      this.reset();
      for (const cell of cellsOf()) this.inc(cell.labels, cell.count);
    },
  });

  const name = 'portico_request_duration_seconds';
  const help = 'Time from arrival to the last response byte';
  const histogram = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
      for (const cell of cellsOf()) {
        let cumulative = 0;
        bounds.forEach((le, i) => {
          cumulative += cell.buckets[i] as number;
          values.push({ labels: { le, ...cell.labels }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', ...cell.labels }, value: cell.count, metricName: `${name}_bucket` });
        values.push({ labels: { ...cell.labels }, value: cell.sum, metricName: `${name}_sum` });
        values.push({ labels: { ...cell.labels }, value: cell.count, metricName: `${name}_count` });
      }
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
    /** `registry.resetMetrics()`: both metrics read the same cells. */
    reset() {
      routes.clear();
    },
  };
  // The registry reads only name, help, type, aggregator, get() and reset() of an entry (and probes
  // getForPromString): the same surface as its own metric classes (test/contracts/prom-client.test.ts).
  registry.registerMetric(histogram as unknown as Metric);

  return {
    observe(route, method, status, seconds) {
      let cells = routes.get(route);
      if (cells === undefined) {
        cells = new Array<Cell | undefined>(METHODS.length * STATUS_CLASSES.length).fill(undefined);
        routes.set(route, cells);
      }
      const m = METHOD_INDEX.get(method) ?? OTHER_METHOD;
      const s = statusIndex(status);
      const slot = m * STATUS_CLASSES.length + s;
      let cell = cells[slot];
      if (cell === undefined) {
        cell = {
          labels: { route, method: METHODS[m] as string, status: STATUS_CLASSES[s] as string },
          count: 0,
          sum: 0,
          buckets: new Float64Array(bounds.length + 1),
        };
        cells[slot] = cell;
      }
      cell.count += 1;
      cell.sum += seconds;
      let i = 0;
      while (i < bounds.length && seconds > (bounds[i] as number)) i++;
      cell.buckets[i] = (cell.buckets[i] ?? 0) + 1;
    },
  };
}
