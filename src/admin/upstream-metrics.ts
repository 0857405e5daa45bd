/**
 * The metrics of upstream resilience (src/upstream/): the health gauge, read on scrape from the plan in force, and
 * the counters of ejections, retries and circuit-breaker rejections. Labels are bounded: route names and upstream
 * origins come from the config, retry reasons from the fixed list of `retry.on`.
 */
import { Counter, Gauge, type Registry, type RegistryContentType } from 'prom-client';
import type { UpstreamHealthSource, UpstreamMetrics } from '../telemetry/metrics.js';
import { METRICS } from '../telemetry/metric-catalogue.js';
import { metricOptions as options } from './metric-options.js';

export function registerUpstreamMetrics(registry: Registry<RegistryContentType>): UpstreamMetrics {
  const sources: UpstreamHealthSource[] = [];
  new Gauge({
    ...options(METRICS.upstreamHealthy, registry),
    collect() {
      this.reset(); // upstreams a reload removed disappear
      for (const source of sources)
        for (const one of source()) this.set({ route: one.route, upstream: one.upstream }, one.healthy ? 1 : 0);
    },
  });
  const ejections = new Counter(options(METRICS.upstreamEjections, registry));
  const retries = new Counter(options(METRICS.upstreamRetries, registry));
  const rejections = new Counter(options(METRICS.upstreamRejections, registry));
  return {
    ejected: (route, upstream) => ejections.inc({ route, upstream }),
    retried: (route, reason) => retries.inc({ route, reason }),
    rejected: (route) => rejections.inc({ route }),
    watch: (source) => void sources.push(source),
  };
}
