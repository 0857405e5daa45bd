/**
 * The per-request metrics: requests, their duration, in-flight requests, aborted requests, body bytes and the
 * upstream response time, by route. Counted per request in plain fields and arrays, turned into Prometheus series
 * only when scraped.
 *
 * Why not prom-client's own Counter and Histogram on the hot path: its histogram re-validates and re-hashes the
 * label set on every observation, bound child or not (~1.4 us per request on the bench machine, plus ~1 us to build
 * a string key for the child; bench/README.md). Here a request costs one Map lookup by route (once, when it is
 * routed; the route's meter is then kept in the request's context), an array index by method and status class, and
 * a bucket scan. prom-client still owns the registry and the text format: the counters and the gauge are prom-client
 * metrics filled by their `collect` hook at scrape time, the histograms registry entries (./histogram.ts).
 */
import { Counter, Gauge, type Registry, type RegistryContentType } from 'prom-client';
import { METRICS, type MetricDefinition } from '../telemetry/metric-catalogue.js';
import type { RequestMeter } from '../telemetry/metrics.js';
import { HistogramCell, registerHistogram } from './histogram.js';

/** The label values Portico keeps; anything else collapses to OTHER / other (bounded cardinality). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'OTHER'] as const;
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
const OTHER_METHOD = METHODS.length - 1;
const OTHER_STATUS = STATUS_CLASSES.length - 1;
const METHOD_INDEX: ReadonlyMap<string, number> = new Map(
  METHODS.slice(0, OTHER_METHOD).map((method, i) => [method, i]),
);

function statusIndex(status: number): number {
  const hundreds = Math.floor(status / 100);
  return hundreds >= 1 && hundreds <= 5 ? hundreds - 1 : OTHER_STATUS;
}

/** One route's figures; kept in the request's context from routing to the end of the response. */
export class RouteMeter implements RequestMeter {
  inFlight = 0;
  aborted = 0;
  bytesIn = 0;
  bytesOut = 0;
  /** By method and status class; made on first use. */
  readonly cells: Array<HistogramCell | undefined> = new Array<HistogramCell | undefined>(
    METHODS.length * STATUS_CLASSES.length,
  ).fill(undefined);
  upstream: HistogramCell | undefined = undefined;

  constructor(readonly route: string) {}
}

export interface RequestMetrics {
  /** The route's meter (created once per route name). */
  meter(route: string): RouteMeter;
  /**
   * The end of one exchange. `completed` false: the client went away first (counted as aborted, not by status).
   * `traceId` is set for a sampled request (exemplars).
   */
  observe(
    meter: RouteMeter,
    method: string,
    status: number,
    seconds: number,
    completed: boolean,
    traceId: string | undefined,
  ): void;
  /** Time from the forward to the upstream response head. */
  observeUpstream(meter: RouteMeter, seconds: number, traceId: string | undefined): void;
}

export interface RequestMetricsOptions {
  /** Upper bounds of the duration histograms, ascending. */
  readonly bounds: readonly number[];
  /** Keep exemplars (trace ids) on histogram buckets. */
  readonly exemplars?: boolean;
}

/** Registers the per-request metrics on `registry`. */
export function registerRequestMetrics(
  registry: Registry<RegistryContentType>,
  options: RequestMetricsOptions,
): RequestMetrics {
  const { bounds } = options;
  const exemplars = options.exemplars === true;
  const routes = new Map<string, RouteMeter>();
  const cellsOf = function* (): Generator<HistogramCell> {
    for (const meter of routes.values()) for (const cell of meter.cells) if (cell !== undefined) yield cell;
  };
  const upstreamCells = function* (): Generator<HistogramCell> {
    for (const meter of routes.values()) if (meter.upstream !== undefined) yield meter.upstream;
  };
  const reset = (): void => routes.clear();
  const from = (definition: MetricDefinition) => ({
    name: definition.name,
    help: definition.help,
    labelNames: definition.labelNames,
    registers: [registry],
  });

  new Counter({
    ...from(METRICS.requests),
    collect() {
      this.reset();
      for (const cell of cellsOf()) this.inc(cell.labels, cell.count);
    },
  });
  registerHistogram(registry, METRICS.requestDuration, bounds, cellsOf, reset);
  const perRoute = (pick: (meter: RouteMeter) => number) =>
    function collect(this: Counter | Gauge): void {
      this.reset();
      for (const meter of routes.values()) this.inc({ route: meter.route }, pick(meter));
    };
  new Counter({ ...from(METRICS.requestsAborted), collect: perRoute((m) => m.aborted) });
  new Gauge({ ...from(METRICS.inFlight), collect: perRoute((m) => m.inFlight) });
  new Counter({ ...from(METRICS.requestBytes), collect: perRoute((m) => m.bytesIn) });
  new Counter({ ...from(METRICS.responseBytes), collect: perRoute((m) => m.bytesOut) });
  registerHistogram(registry, METRICS.upstreamDuration, bounds, upstreamCells, reset);

  return {
    meter(route) {
      let meter = routes.get(route);
      if (meter === undefined) {
        meter = new RouteMeter(route);
        routes.set(route, meter);
      }
      return meter;
    },
    observe(meter, method, status, seconds, completed, traceId) {
      if (!completed) {
        meter.aborted += 1;
        return;
      }
      const m = METHOD_INDEX.get(method) ?? OTHER_METHOD;
      const s = statusIndex(status);
      const slot = m * STATUS_CLASSES.length + s;
      let cell = meter.cells[slot];
      if (cell === undefined) {
        const labels = { route: meter.route, method: METHODS[m] as string, status: STATUS_CLASSES[s] as string };
        cell = new HistogramCell(labels, bounds, exemplars);
        meter.cells[slot] = cell;
      }
      cell.observe(seconds, traceId);
    },
    observeUpstream(meter, seconds, traceId) {
      meter.upstream ??= new HistogramCell({ route: meter.route }, bounds, exemplars);
      meter.upstream.observe(seconds, traceId);
    },
  };
}
