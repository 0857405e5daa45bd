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
  key: z
    .union([keyPart, z.array(keyPart).min(1)])
    .default('ip')
    .describe('What one counter counts: `ip`, `route`, `header:<Name>`, or a list of them combined.'),
  limit: z.number().int().min(1).describe('Requests allowed per window.'),
  window: wholeSeconds(1000).describe('Fixed window, whole seconds (`1s`, `90s`, `1m`).'),
  burst: z
    .number()
    .int()
    .min(0)
    .default(0)
    .describe(
      'Extra units allowed above `limit` in a burst (token-bucket style); 0 means a fixed window of exactly `limit`.',
    ),
  burstWindow: wholeSeconds(1000)
    .optional()
    .describe(
      'How often the burst units refill; defaults to 10 × window, so the sustained rate stays close to `limit`.',
    ),
  onMissingKey: z
    .enum(['anonymous', 'reject'])
    .default('anonymous')
    .describe('Request missing a keyed header: counted under a shared anonymous key, or rejected with 400.'),
  onStoreError: z
    .enum(['allow', 'deny', 'local'])
    .default('local')
    .describe('What happens when the store (Redis) fails: fail open, fail closed (503), or an in-memory limiter.'),
  localShare: z
    .number()
    .gt(0)
    .max(1)
    .default(1)
    .describe('With onStoreError local: the share of `limit` each instance enforces on its own.'),
  shadow: z.boolean().default(false).describe('Count and report but never reject.'),
  legacyHeaders: z.boolean().default(true).describe('Also send X-RateLimit-Limit/-Remaining/-Reset.'),
});

export const rateLimitsSchema = z
  .record(z.string().regex(/^[A-Za-z0-9_.-]+$/, 'policy names use letters, digits, _ . -'), rateLimitPolicySchema)
  .describe(
    'Named rate-limit policies, used by `rateLimit: <name>` middleware entries. Counted in Redis when one is configured (one limit across instances), else in process.',
  );

export type RateLimitPolicyConfig = z.output<typeof rateLimitPolicySchema>;
