/**
 * Readiness from upstream health: one check per route with resilience options, shown to a caller with the admin
 * token; a `critical` route whose every upstream is down makes the whole pod unready (Kubernetes then takes it out
 * of the Service's endpoints: in the sidecar case, the application container beside Portico is dead and no request
 * should be sent to this pod).
 */
import type { ReadinessCheck } from '../admin/server.js';
import type { RouteHealth } from './set.js';

export function describeHealth(route: RouteHealth): string {
  const down = route.upstreams.filter((one) => !one.healthy || one.ejected);
  const up = route.upstreams.length - down.length;
  const reasons = down.map((one) => `${one.upstream} ${one.healthy ? 'ejected' : 'unhealthy'}`);
  const summary = `${up}/${route.upstreams.length} upstreams up`;
  return reasons.length === 0 ? summary : `${summary} (${reasons.join(', ')})`;
}

/** The checks for the routes of `health` (the plan in force when /readyz is asked). */
export function upstreamReadiness(health: readonly RouteHealth[]): ReadinessCheck[] {
  return health.map((route) => ({
    name: `upstreams:${route.route}`,
    check: () => ({
      ok: !(route.critical && route.allDown),
      detail: `${describeHealth(route)}${route.allDown ? '; all down: requests still go to every upstream (panic)' : ''}${route.critical ? '; critical' : ''}`,
    }),
  }));
}
