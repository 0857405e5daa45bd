/**
 * Passive outlier detection: each attempt's outcome moves an upstream's count of failures in a row; at
 * `consecutiveFailures` it is ejected for `baseEjection` times its ejections in a row (capped by `maxEjection`),
 * unless the route already has its share of ejected upstreams (`maxEjectionPercent`). Pure: state in, verdict out.
 */
import type { OutlierConfig } from './config.js';
import type { UpstreamState } from './state.js';

/** How many of `size` upstreams may be ejected at once: the share, rounded down, but one when the share is above 0. */
export function maxEjected(size: number, percent: number): number {
  if (percent <= 0) return 0;
  return Math.max(1, Math.floor((size * percent) / 100));
}

/** Ejection time of the n-th ejection in a row. */
export function ejectionTime(config: OutlierConfig, times: number): number {
  return Math.min(config.baseEjection * times, Math.max(config.maxEjection, config.baseEjection));
}

/** A successful exchange: the failure count restarts; a long clean run after the last ejection lowers its weight. */
export function recordSuccess(state: UpstreamState, config: OutlierConfig, now: number): void {
  state.failures = 0;
  if (state.timesEjected > 0 && state.ejectedUntil !== 0 && now >= state.ejectedUntil + config.baseEjection) {
    state.timesEjected--;
    state.ejectedUntil = state.timesEjected === 0 ? 0 : now; // the next decrement needs another base time clean
  }
}

/**
 * A failed exchange. Returns true when it ejected the upstream. `ejectedNow` is how many of the route's upstreams
 * are ejected at `now`.
 */
export function recordFailure(
  state: UpstreamState,
  config: OutlierConfig,
  now: number,
  size: number,
  ejectedNow: number,
): boolean {
  state.failures++;
  if (state.failures < config.consecutiveFailures || state.ejectedUntil > now) return false;
  if (ejectedNow >= maxEjected(size, config.maxEjectionPercent)) return false;
  state.timesEjected++;
  state.failures = 0;
  state.ejectedUntil = now + ejectionTime(config, state.timesEjected);
  return true;
}
