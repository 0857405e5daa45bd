import { z } from 'zod';

/** A middleware entry: a bare kind name (`logging`) or a one-key map (`rateLimit: per-client`). */
export const middlewareEntrySchema = z
  .union([
    z.string().min(1),
    z.record(z.string(), z.unknown()).refine((entry) => Object.keys(entry).length === 1, {
      message: 'a middleware entry is a kind name or a map with exactly one key (the kind)',
    }),
  ])
  .describe('A middleware kind name (`logging`) or a one-key map of kind to options (`rateLimit: per-client`).');

export type MiddlewareEntryConfig = z.output<typeof middlewareEntrySchema>;
