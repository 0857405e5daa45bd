import { z } from 'zod';
import { duration } from '../../config/duration.js';

/** The Redis backend counts in whole seconds (EXPIRE), so windows are whole seconds on every backend. */
const wholeSeconds = (min: number) =>
  duration({ min }).refine((ms) => ms % 1000 === 0, { message: 'must be a whole number of seconds, e.g. 1s, 90s, 1m' });

const keyPart = z.union([
  z.literal('ip'),
  z.literal('route'),
  z.string().regex(/^header:[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'must be ip, route or header:<Header-Name>'),
]);

/** One named policy under `rateLimits`. */
export const rateLimitPolicySchema = z.strictObject({
  key: z.union([keyPart, z.array(keyPart).min(1)]).default('ip'),
  limit: z.number().int().min(1),
  window: wholeSeconds(1000),
  /** Extra units allowed above `limit` in a burst (token-bucket style); 0 means a fixed window of exactly `limit`. */
  burst: z.number().int().min(0).default(0),
  /** How often the burst units refill; defaults to 10 × window, so the sustained rate stays close to `limit`. */
  burstWindow: wholeSeconds(1000).optional(),
  /** Request missing a keyed header: counted under a shared anonymous key, or rejected with 400. */
  onMissingKey: z.enum(['anonymous', 'reject']).default('anonymous'),
  /** What happens when the store (Redis) fails: fail open, fail closed (503), or an in-memory limiter. */
  onStoreError: z.enum(['allow', 'deny', 'local']).default('local'),
  /** With onStoreError local: the share of `limit` each instance enforces on its own. */
  localShare: z.number().gt(0).max(1).default(1),
  /** Count and report but never reject. */
  shadow: z.boolean().default(false),
  /** Also send X-RateLimit-Limit/-Remaining/-Reset. */
  legacyHeaders: z.boolean().default(true),
});

export const rateLimitsSchema = z.record(
  z.string().regex(/^[A-Za-z0-9_.-]+$/, 'policy names use letters, digits, _ . -'),
  rateLimitPolicySchema,
);

export type RateLimitPolicyConfig = z.output<typeof rateLimitPolicySchema>;
