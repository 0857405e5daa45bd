/**
 * Plan build for a route's upstreams: decides, once, whether the route is plain (one forwarder as before, no
 * per-request work added) or resilient (an upstream set with its policies), and wires the set's events to metrics
 * and logs.
 */
import type { Logger } from 'pino';
import type { RouteConfig } from '../config/schema.js';
import type { UpstreamProxies } from '../proxy/forward.js';
import type { Metrics } from '../telemetry/metrics.js';
import { attemptHooks } from './forwarder.js';
import { UpstreamSet, type Member, type SetEvents } from './set.js';
import type { UpstreamStates } from './state.js';

export interface SetDeps {
  readonly proxies: UpstreamProxies;
  readonly states: UpstreamStates;
  readonly metrics: Metrics;
  readonly logger: Logger;
}

/** True when the route uses none of the resilience keys and its upstreams weigh the same. */
export function isPlainRoute(route: RouteConfig): boolean {
  return (
    (route.balance === undefined || route.balance === 'round-robin') &&
    route.healthCheck === undefined &&
    route.outlierDetection === undefined &&
    route.retry === undefined &&
    route.circuitBreaker === undefined &&
    !route.critical &&
    route.upstream.every((url) => weightOf(url) === route.upstream[0]?.weight)
  );
}

function weightOf(url: URL & { weight?: number }): number {
  return url.weight ?? 1;
}

function setEvents(metrics: Metrics, logger: Logger): SetEvents {
  return {
    ejected(route, member, forMs) {
      metrics.upstreams.ejected(route, member.origin);
      logger.warn({ route, upstream: member.origin, ejectedForMs: forMs }, 'upstream ejected after failures in a row');
    },
    healthChanged(route, member, healthy) {
      if (healthy) logger.info({ route, upstream: member.origin }, 'upstream healthy again');
      else logger.warn({ route, upstream: member.origin }, 'upstream failed its health checks');
    },
    retried: (route, reason) => metrics.upstreams.retried(route, reason),
    rejected: (route) => metrics.upstreams.rejected(route),
  };
}

/** The route's upstream set, or undefined for a plain route. */
export function buildUpstreamSet(route: RouteConfig, deps: SetDeps): UpstreamSet | undefined {
  if (isPlainRoute(route)) return undefined;
  const members: Member[] = route.upstream.map((url) => {
    const state = deps.states.stateFor(url);
    return {
      url,
      origin: url.origin,
      weight: weightOf(url),
      score: 0,
      state,
      proxy: deps.proxies.resilientFor(url, attemptHooks),
      load: () => state.active,
    };
  });
  return new UpstreamSet(
    route.name,
    members,
    {
      balance: route.balance ?? 'round-robin',
      healthCheck: route.healthCheck,
      outlier: route.outlierDetection,
      retry: route.retry,
      breaker: route.circuitBreaker,
      critical: route.critical,
    },
    setEvents(deps.metrics, deps.logger.child({ component: 'upstreams' })),
  );
}
