/**
 * A policy compiled at plan build: key function, limiter instances and header fragments, so the request path only
 * builds the key and makes the one store call.
 *
 * Limiters are memoised per Stores object and policy parameters: every chain that applies a policy (the global
 * chain is compiled once per route) shares one counter, and a reload that keeps a policy keeps its in-process
 * counts instead of handing every client a fresh window.
 */
import { Episode } from '../../stores/episode.js';
import type { Logger } from 'pino';
import type { Stores } from '../../stores/stores.js';
import { compileKey, type KeyFunction } from './keys.js';
import { policyMember, quoted } from './headers.js';
import type { Limiter, LimiterSpec } from './limiter.js';
import { memoryLimiter } from './memory-limiter.js';
import { redisLimiter } from './redis-limiter.js';
import type { RateLimitPolicyConfig } from './policy.js';

export interface CompiledPolicy {
  readonly name: string;
  /** `"name"`, the sf-string used in RateLimit. */
  readonly quotedName: string;
  /** This policy's RateLimit-Policy member, e.g. `"per-client";q=100;w=60`. */
  readonly member: string;
  readonly limit: number;
  readonly keyOf: KeyFunction;
  /** Detail of the 400 when a keyed header is missing and onMissingKey is reject. */
  readonly missingKeyDetail: string;
  readonly limiter: Limiter;
  /** True when `limiter` counts in Redis (store errors are possible and reported). */
  readonly shared: boolean;
  readonly onStoreError: RateLimitPolicyConfig['onStoreError'];
  /** In-memory limiter enforcing `localShare` of the limit while Redis fails (onStoreError local only). */
  readonly fallback: Limiter | undefined;
  /** `local (50%)`, `allow` or `deny`: what the policy does while the store fails, for logs and /readyz. */
  readonly fallbackLabel: string;
  /** Whether the store is failing for this policy; shared by every chain applying it, so an outage logs once. */
  readonly episode: Episode;
  /** Logger bound to the policy name, for transitions (never per request). */
  readonly log: Logger;
  readonly shadow: boolean;
  readonly legacyHeaders: boolean;
}

/**
 * Limiters by store set and policy: per process state (an entry per store set, weakly held, and per policy
 * spec), built at plan build and never per request.
 */
const cache = new WeakMap<Stores, Map<string, unknown>>();

function memoised<T>(stores: Stores, id: string, build: () => T): T {
  let limiters = cache.get(stores);
  if (limiters === undefined) {
    limiters = new Map();
    cache.set(stores, limiters);
  }
  if (!limiters.has(id)) limiters.set(id, build());
  return limiters.get(id) as T;
}

export function limiterSpec(config: RateLimitPolicyConfig): LimiterSpec {
  return {
    limit: config.limit,
    windowMs: config.window,
    burst: config.burst,
    burstWindowMs: config.burstWindow ?? config.window * 10,
  };
}

/** The share of a spec one instance enforces alone: at least one unit, so a fallback never blocks everything. */
export function localSpec(spec: LimiterSpec, share: number): LimiterSpec {
  return { ...spec, limit: Math.max(1, Math.floor(spec.limit * share)), burst: Math.floor(spec.burst * share) };
}

function specId(kind: string, name: string, spec: LimiterSpec): string {
  return `${kind}|${name}|${spec.limit}|${spec.windowMs}|${spec.burst}|${spec.burstWindowMs}`;
}

export function fallbackLabel(config: RateLimitPolicyConfig): string {
  return config.onStoreError === 'local' ? `local (${Math.round(config.localShare * 100)}%)` : config.onStoreError;
}

export function compilePolicy(
  name: string,
  config: RateLimitPolicyConfig,
  stores: Stores,
  logger: Logger,
): CompiledPolicy {
  const spec = limiterSpec(config);
  const client = stores.limitClient;
  const limiter =
    client === undefined
      ? memoised(stores, specId('memory', name, spec), () => memoryLimiter(spec))
      : memoised(stores, specId('redis', name, spec), () => redisLimiter(client, spec));
  const local = localSpec(spec, config.localShare);
  const fallback =
    client !== undefined && config.onStoreError === 'local'
      ? memoised(stores, specId('local', name, local), () => memoryLimiter(local))
      : undefined;
  const keys = typeof config.key === 'string' ? [config.key] : config.key;
  const headerKeys = keys.filter((part) => part.startsWith('header:')).map((part) => part.slice('header:'.length));
  return {
    name,
    quotedName: quoted(name),
    member: policyMember(name, config.limit, config.window),
    limit: config.limit,
    // A shadow policy never rejects, so a missing header counts under the anonymous key instead.
    keyOf: compileKey(name, config.key, config.shadow ? 'anonymous' : config.onMissingKey),
    missingKeyDetail: `rate-limit policy "${name}" needs the ${headerKeys.join(', ')} header`,
    limiter,
    shared: client !== undefined,
    onStoreError: config.onStoreError,
    fallback,
    fallbackLabel: fallbackLabel(config),
    episode: memoised(stores, `episode|${name}`, () => new Episode()),
    log: logger.child({ policy: name }),
    shadow: config.shadow,
    legacyHeaders: config.legacyHeaders,
  };
}
