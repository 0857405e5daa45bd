/**
 * The circuit breaker of one upstream, as Envoy's (counting, not tripping on errors): an upstream with
 * `maxRequests` requests in flight, or `maxPending` waiting for a connection, takes no more until some finish.
 */
import type { BreakerConfig } from './config.js';
import type { UpstreamState } from './state.js';

export function hasRoom(state: UpstreamState, config: BreakerConfig | undefined): boolean {
  return config === undefined || (state.active < config.maxRequests && state.pending < config.maxPending);
}
