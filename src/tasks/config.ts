/**
 * A route's `async` option: the route answers 202 Accepted once the request is stored, and the worker pool
 * delivers the stored request to the route's upstream later, with retries (src/tasks/).
 */
import { z } from 'zod';
import { duration } from '../config/duration.js';

const UNITS: Readonly<Record<string, number>> = { B: 1, KiB: 1024, MiB: 1024 ** 2, kB: 1000, MB: 1000 ** 2 };
const SIZE = /^(\d+)(B|KiB|MiB|kB|MB)$/;

/** A byte count: a bare number, or `512KiB`, `1MiB`, `64kB`, `1MB`. */
const byteSize = z
  .union([
    z.number().int().min(1),
    z.string().regex(SIZE, 'a size in bytes, or with a unit: B, KiB, MiB, kB, MB (e.g. `64KiB`, `1MiB`)'),
  ])
  .transform((value) => {
    if (typeof value === 'number') return value;
    const match = SIZE.exec(value) as RegExpExecArray;
    return Number(match[1]) * (UNITS[match[2] as string] as number);
  });

export const asyncSchema = z
  .strictObject({
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .default(8)
      .describe('Delivery attempts at most; a task that still fails after the last one becomes a dead letter.'),
    backoff: duration({ min: 1 })
      .default(500)
      .describe(
        'Retry delay step: the delay before retry n is random in [0, backoff × 2^(n-1)] (full jitter), capped at `maxBackoff`. An upstream `Retry-After` is honoured when longer.',
      ),
    maxBackoff: duration({ min: 1 }).default(300_000).describe('Ceiling of the jittered retry delay.'),
    attemptTimeout: duration({ min: 1 })
      .default(10_000)
      .describe('Bound on one delivery attempt (connect, answer and body); past it the attempt is retried.'),
    maxBodySize: byteSize
      .default(1_048_576)
      .describe('Largest request body stored (bytes, or e.g. `64KiB`, `1MiB`); larger gets 413.'),
    retention: duration({ min: 1000 })
      .default(86_400_000)
      .describe(
        'How long a task, its status, its `Idempotency-Key` and its dead letter are kept after acceptance; a repeated request with the same key within it gets the first task. On Redis a task still unfinished at the end of it is dropped.',
      ),
    claimIdle: duration({ min: 1000 })
      .default(60_000)
      .describe(
        'Redis only: a task held this long by an instance without being finished (the instance died) is claimed by another. Must exceed `attemptTimeout`.',
      ),
    queue: z
      .number()
      .int()
      .min(1)
      .default(10_000)
      .describe(
        'In process only: tasks accepted and not yet finished (waiting, running or backing off); beyond it a request gets 503 with Retry-After.',
      ),
    statusPath: z
      .string()
      .regex(/^\/[^?#]*[^/?#]$/, 'an absolute path without a trailing slash, query or fragment')
      .optional()
      .describe(
        "Where `GET <statusPath>/<id>` answers a task's status on the proxy port; default `/_portico/tasks/<route name>`.",
      ),
    keyPrefix: z
      .string()
      .default('portico:tasks:')
      .describe('Redis only: prefix of the keys of this route, which are `<keyPrefix>{<route name>}:…`.'),
  })
  .refine((options) => options.claimIdle > options.attemptTimeout, {
    message: 'claimIdle must exceed attemptTimeout (else a task still being delivered is claimed again)',
    path: ['claimIdle'],
  })
  .describe(
    'Accept the request, store it, answer 202 Accepted, and deliver it to the upstream later from the worker pool, with retries (at least once). Durable on Redis; in process without it.',
  );

export type AsyncConfig = z.output<typeof asyncSchema>;

/** The status path of a route: its own, or the default under `/_portico/tasks/`. */
export function statusPathOf(route: string, config: AsyncConfig): string {
  return config.statusPath ?? `/_portico/tasks/${route}`;
}
