import { z } from 'zod';
import { duration } from '../config/duration.js';
import { middlewareEntrySchema } from '../config/middleware-entry.js';

/** `database`: empty url means the embedded database, migrated and seeded at start. */
export const databaseSchema = z
  .strictObject({
    url: z.string().default(''),
    connectTimeout: duration({ min: 1 }).default(2000),
    statementTimeout: duration({ min: 1 }).default(2000),
    poolSize: z.number().int().min(1).max(100).default(10),
  })
  .prefault({});

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain SQL identifier');

/** `userLookup`: the built-in GET /users/:id endpoint. */
export const userLookupSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    path: z.string().regex(/^\/[^:]*:id$/, 'must end with the :id parameter, e.g. /users/:id').default('/users/:id'),
    cache: z
      .strictObject({
        enabled: z.boolean().default(true),
        ttl: duration({ min: 1 }).default(300_000),
        negativeTtl: duration({ min: 0 }).default(30_000),
        /** Random extra TTL, as a fraction of ttl, so entries filled together do not expire together. */
        jitter: z.number().min(0).max(1).default(0.1),
        /** In-process LRU bound when no Redis is configured. */
        maxEntries: z.number().int().min(1).default(10_000),
      })
      .prefault({}),
    table: identifier.default('users'),
    columns: z
      .strictObject({
        id: identifier.default('id'),
        name: identifier.default('name'),
        email: identifier.default('email'),
        createdAt: identifier.default('created_at'),
      })
      .prefault({}),
    middleware: z.array(middlewareEntrySchema).default([]),
  })
  .prefault({});

export type DatabaseConfig = z.output<typeof databaseSchema>;
export type UserLookupConfig = z.output<typeof userLookupSchema>;
