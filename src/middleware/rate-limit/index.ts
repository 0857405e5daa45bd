/**
 * `rateLimit: <policy>` (or a list of policies): enforces named policies from `rateLimits`. The backend follows
 * the stores: Redis when `redis.url` is set (one global limit across instances), else in-process.
 *
 * Layout (Traefik's ratelimiter): this file is the kind; `limiter.ts` the backend contract with
 * `memory-limiter.ts` and `redis-limiter.ts` beside it; `keys.ts` and `headers.ts` pure functions; `compile.ts`
 * the plan-time work; `decide.ts` one decision with its store-error fallback; `enforce.ts` the request path.
 */
import { z } from 'zod';
import type { Config } from '../../config/schema.js';
import { PorticoError } from '../../errors.js';
import { defineKind } from '../kind.js';
import { compilePolicy, fallbackLabel } from './compile.js';
import { enforce } from './enforce.js';

const policyName = z.string().min(1, 'name a policy from rateLimits');

/** Options: a policy name or a non-empty list; a list is normalised to unique names in declared order. */
export const rateLimitOptions = z
  .union([policyName, z.array(policyName).min(1)])
  .transform((value) => (typeof value === 'string' ? [value] : [...new Set(value)]));

export const rateLimitKind = defineKind({
  name: 'rateLimit',
  options: rateLimitOptions,
  check(names, config) {
    const unknown = names.find((name) => !Object.hasOwn(config.rateLimits, name));
    if (unknown === undefined) return undefined;
    const known = Object.keys(config.rateLimits);
    return `unknown rate-limit policy "${unknown}" (${known.length > 0 ? `defined under rateLimits: ${known.join(', ')}` : 'rateLimits defines none'})`;
  },
  create(names, deps) {
    const policies = names.map((name) => {
      const config = Object.hasOwn(deps.config.rateLimits, name) ? deps.config.rateLimits[name] : undefined;
      if (config === undefined) throw new PorticoError('PORTICO_CONFIG_INVALID', `unknown rate-limit policy "${name}"`);
      return compilePolicy(name, config, deps.stores, deps.logger);
    });
    return enforce(policies, deps);
  },
});

/**
 * What each policy does while the limit store is degraded, for /readyz detail and logs:
 * `per-client: local (50%), login: deny`. Empty when no policy is defined.
 */
export function storeErrorFallbacks(rateLimits: Config['rateLimits']): string {
  return Object.entries(rateLimits)
    .map(([name, policy]) => `${name}: ${fallbackLabel(policy)}`)
    .join(', ');
}
