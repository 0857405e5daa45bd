import { z } from 'zod';
import { duration } from '../config/duration.js';
import { middlewareEntrySchema } from '../config/middleware-entry.js';

/** `database`: empty url means the embedded database (PGlite), migrated and seeded at start. */
export const databaseSchema = z
  .strictObject({
    url: z.string().default(''),
    /** Bound on acquiring a pooled connection (pg `connectionTimeoutMillis`); the pg default waits forever. */
    connectTimeout: duration({ min: 1 }).default(2000),
    /** Server-side `statement_timeout`; the client gives up (`query_timeout`) shortly after. */
    statementTimeout: duration({ min: 1 }).default(2000),
    poolSize: z.number().int().min(1).max(100).default(10),
    /** Run the versioned migrations at start. Turn off when pointing at a table another service owns. */
    migrate: z.boolean().default(true),
    /** Embedded database only: directory to persist to; empty keeps it in memory (and seeds it at start). */
    embeddedDataDir: z.string().default(''),
  })
  .prefault({});

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain SQL identifier');

/** `userLookup`: the built-in GET /users/:id endpoint. */
export const userLookupSchema = z
  .strictObject({
    /** On when the section is present; a config without `userLookup` serves no lookup (and opens no database). */
    enabled: z.boolean().default(true),
    path: z.string().regex(/^\/[^:]*:id$/, 'must end with the :id parameter, e.g. /users/:id').default('/users/:id'),
    /** `Retry-After` sent with 503 when the database is down or slower than its statement timeout. */
    retryAfter: duration({ min: 1000 }).default(5000),
    cache: z
      .strictObject({
        enabled: z.boolean().default(true),
        ttl: duration({ min: 1 }).default(300_000),
        /** How long an absent user is remembered; 0 turns negative caching off. */
        negativeTtl: duration({ min: 0 }).default(30_000),
        /** Random extra TTL, as a fraction of ttl, so entries filled together do not expire together. */
        jitter: z.number().min(0).max(1).default(0.1),
        /** In-process LRU bound when no Redis is configured. */
        maxEntries: z.number().int().min(1).default(10_000),
        /** Key of user 42 is `${keyPrefix}42`. */
        keyPrefix: z.string().min(1).default('portico:user:'),
        /** Deadline of one background cache fill, independent of the request that caused it. */
        fillTimeout: duration({ min: 1 }).default(5000),
        /** Cache failures are logged at most once per interval (each one is counted in metrics). */
        errorLogInterval: duration({ min: 1 }).default(30_000),
        /** Redis pub/sub channel on which the owning service publishes user ids to invalidate; empty: off. */
        invalidationChannel: z.string().default(''),
      })
      .prefault({}),
    /** Schema holding the table (and Portico's migrations table). */
    schema: identifier.default('public'),
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
  .prefault({ enabled: false });

export type DatabaseConfig = z.output<typeof databaseSchema>;
export type UserLookupConfig = z.output<typeof userLookupSchema>;
