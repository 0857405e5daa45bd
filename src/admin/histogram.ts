/**
 * A histogram kept in plain arrays and exposed through prom-client's registry at scrape time, for the per-request
 * observations (see src/admin/request-metrics.ts for why not prom-client's own Histogram on the hot path).
 *
 * Exemplars (OpenMetrics): with `exemplars` on, each bucket keeps the trace id, value and time of the last traced
 * observation that fell into it; the registry prints them on the bucket lines when its content type is OpenMetrics.
 * Storing one is three array writes (the trace id string is the span context's own, not copied).
 */
import type { Metric, Registry, RegistryContentType } from 'prom-client';
import type { MetricDefinition } from '../telemetry/metric-catalogue.js';

export class HistogramCell {
  count = 0;
  sum = 0;
  /** Observations per bucket, not cumulative; the last slot is above the largest bound (+Inf only). */
  readonly buckets: Float64Array;
  readonly exemplarIds: Array<string | undefined> | undefined;
  readonly exemplarValues: Float64Array | undefined;
  readonly exemplarTimes: Float64Array | undefined;

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
    exemplars: boolean,
  ) {
    this.buckets = new Float64Array(bounds.length + 1);
    this.exemplarIds = exemplars ? new Array<string | undefined>(bounds.length + 1).fill(undefined) : undefined;
    this.exemplarValues = exemplars ? new Float64Array(bounds.length + 1) : undefined;
    this.exemplarTimes = exemplars ? new Float64Array(bounds.length + 1) : undefined;
  }

  observe(value: number, traceId: string | undefined): void {
    this.count += 1;
    this.sum += value;
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    this.buckets[i] = (this.buckets[i] ?? 0) + 1;
    if (traceId !== undefined && this.exemplarIds !== undefined) {
      this.exemplarIds[i] = traceId;
      (this.exemplarValues as Float64Array)[i] = value;
      (this.exemplarTimes as Float64Array)[i] = Date.now() / 1000;
    }
  }
}

interface Value {
  labels: Record<string, string | number>;
  value: number;
  metricName: string;
  exemplar?: { labelSet: Record<string, string>; value: number; timestamp: number };
}

function exemplarOf(cell: HistogramCell, i: number): Value['exemplar'] {
  const id = cell.exemplarIds?.[i];
  if (id === undefined) return undefined;
  return {
    labelSet: { trace_id: id },
    value: cell.exemplarValues?.[i] ?? 0,
    timestamp: cell.exemplarTimes?.[i] ?? 0,
  };
}

/**
 * Registers a histogram whose series are `cells()`, read at scrape time; `reset` is what `registry.resetMetrics()`
 * calls. The values have the shape prom-client's own Histogram returns (same series, same label order).
 */
export function registerHistogram(
  registry: Registry<RegistryContentType>,
  definition: MetricDefinition,
  bounds: readonly number[],
  cells: () => Iterable<HistogramCell>,
  reset: () => void,
): void {
  const { name, help } = definition;
  const entry = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get() {
      const values: Value[] = [];
      for (const cell of cells()) {
        let cumulative = 0;
        for (let i = 0; i < bounds.length; i++) {
          cumulative += cell.buckets[i] as number;
          const value: Value = {
            labels: { le: bounds[i] as number, ...cell.labels },
            value: cumulative,
            metricName: `${name}_bucket`,
          };
          const exemplar = exemplarOf(cell, i);
          if (exemplar !== undefined) value.exemplar = exemplar;
          values.push(value);
        }
        const inf: Value = { labels: { le: '+Inf', ...cell.labels }, value: cell.count, metricName: `${name}_bucket` };
        const exemplar = exemplarOf(cell, bounds.length);
        if (exemplar !== undefined) inf.exemplar = exemplar;
        values.push(inf);
        values.push({ labels: { ...cell.labels }, value: cell.sum, metricName: `${name}_sum` });
        values.push({ labels: { ...cell.labels }, value: cell.count, metricName: `${name}_count` });
      }
      return Promise.resolve({ name, help, type: 'histogram', aggregator: 'sum', values });
    },
    reset,
  };
  // The registry reads only name, help, type, aggregator, get() and reset() of an entry (and probes
  // getForPromString): the same surface as its own metric classes (test/contracts/prom-client.test.ts).
  registry.registerMetric(entry as unknown as Metric);
}
