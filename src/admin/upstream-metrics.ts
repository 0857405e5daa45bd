/**
 * The metrics of upstream resilience (src/upstream/): the health gauge, read on scrape from the plan in force, and
 * the counters of ejections, retries and circuit-breaker rejections. Labels are bounded: route names and upstream
 * origins come from the config, retry reasons from the fixed list of `retry.on`.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { UpstreamHealthSource, UpstreamMetrics } from '../telemetry/metrics.js';

export function registerUpstreamMetrics(registry: Registry): UpstreamMetrics {
  const sources: UpstreamHealthSource[] = [];
  new Gauge({
    name: 'portico_upstream_healthy',
    help: 'Whether an upstream of a route with resilience options is in the balance (1) or out: failed health checks or ejected (0)',
    labelNames: ['route', 'upstream'],
    registers: [registry],
    collect() {
      this.reset(); // upstreams a reload removed disappear
      for (const source of sources)
        for (const one of source()) this.set({ route: one.route, upstream: one.upstream }, one.healthy ? 1 : 0);
    },
  });
  const ejections = new Counter({
    name: 'portico_upstream_ejections_total',
    help: 'Upstreams ejected by outlier detection, by route and upstream',
    labelNames: ['route', 'upstream'],
    registers: [registry],
  });
  const retries = new Counter({
    name: 'portico_upstream_retries_total',
    help: 'Requests retried on another upstream, by route and the condition that caused it',
    labelNames: ['route', 'reason'],
    registers: [registry],
  });
  const rejections = new Counter({
    name: 'portico_upstream_circuit_breaker_rejections_total',
    help: 'Requests answered 503 at once because every upstream of the route was at its circuit-breaker bound',
    labelNames: ['route'],
    registers: [registry],
  });
  return {
    ejected: (route, upstream) => ejections.inc({ route, upstream }),
    retried: (route, reason) => retries.inc({ route, reason }),
    rejected: (route) => rejections.inc({ route }),
    watch: (source) => void sources.push(source),
  };
}
