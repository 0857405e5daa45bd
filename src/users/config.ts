import { z } from 'zod';
import { duration } from '../config/duration.js';
import { middlewareEntrySchema } from '../config/middleware-entry.js';

/** `database`: empty url means the embedded database (SQLite, `node:sqlite`), migrated and seeded at start. */
export const databaseSchema = z
  .strictObject({
    url: z
      .string()
      .default('')
      .describe('PostgreSQL URL (`postgres://user:pass@host:5432/db`); empty: the embedded database.'),
    connectTimeout: duration({ min: 1 })
      .default(2000)
      .describe('Bound on acquiring a pooled connection (pg `connectionTimeoutMillis`); the pg default waits forever.'),
    statementTimeout: duration({ min: 1 })
      .default(2000)
      .describe('Server-side `statement_timeout`; the client gives up (`query_timeout`) shortly after.'),
    poolSize: z.number().int().min(1).max(100).default(10).describe('Connections in the pool at most.'),
    migrate: z
      .boolean()
      .default(true)
      .describe('Run the versioned migrations at start. Turn off when pointing at a table another service owns.'),
    embeddedDataDir: z
      .string()
      .default('')
      .describe(
        'Embedded database only: directory to persist to (SQLite files `portico.sqlite` and `<schema>.sqlite`); empty keeps it in memory (and seeds it at start).',
      ),
  })
  .prefault({})
  .describe(
    "The users database: PostgreSQL, or with no url an embedded database (SQLite through Node's built-in `node:sqlite`), migrated and seeded at start.",
  );

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a plain SQL identifier');

/** `userLookup`: the built-in GET /users/:id endpoint. */
export const userLookupSchema = z
  .strictObject({
    enabled: z
      .boolean()
      .default(true)
      .describe(
        'On when the section is present; a config without `userLookup` serves no lookup (and opens no database).',
      ),
    path: z
      .string()
      .regex(/^\/[^:]*:id$/, 'must end with the :id parameter, e.g. /users/:id')
      .default('/users/:id')
      .describe('Path Portico answers itself (GET and HEAD), ending in `:id`.'),
    retryAfter: duration({ min: 1000 })
      .default(5000)
      .describe('`Retry-After` sent with 503 when the database is down or slower than its statement timeout.'),
    cache: z
      .strictObject({
        enabled: z
          .boolean()
          .default(true)
          .describe('Cache-aside in front of the database: Redis when configured, else an in-process LRU.'),
        ttl: duration({ min: 1 }).default(300_000).describe('How long a found user is cached.'),
        negativeTtl: duration({ min: 0 })
          .default(30_000)
          .describe('How long an absent user is remembered; 0 turns negative caching off.'),
        jitter: z
          .number()
          .min(0)
          .max(1)
          .default(0.1)
          .describe('Random extra TTL, as a fraction of ttl, so entries filled together do not expire together.'),
        maxEntries: z
          .number()
          .int()
          .min(1)
          .default(10_000)
          .describe('In-process LRU bound when no Redis is configured.'),
        keyPrefix: z.string().min(1).default('portico:user:').describe('Key of user 42 is `${keyPrefix}42`.'),
        fillTimeout: duration({ min: 1 })
          .default(5000)
          .describe('Deadline of one background cache fill, independent of the request that caused it.'),
        errorLogInterval: duration({ min: 1 })
          .default(30_000)
          .describe('Cache failures are logged at most once per interval (each one is counted in metrics).'),
        invalidationChannel: z
          .string()
          .default('')
          .describe('Redis pub/sub channel on which the owning service publishes user ids to invalidate; empty: off.'),
      })
      .prefault({})
      .describe('The user cache.'),
    schema: identifier.default('public').describe("Schema holding the table (and Portico's migrations table)."),
    table: identifier.default('users').describe('Table of users.'),
    columns: z
      .strictObject({
        id: identifier.default('id').describe('Integer primary key column.'),
        name: identifier.default('name').describe('Name column.'),
        email: identifier.default('email').describe('Email column.'),
        createdAt: identifier.default('created_at').describe('Creation timestamp column.'),
      })
      .prefault({})
      .describe('Column names, for a table another service owns.'),
    middleware: z
      .array(middlewareEntrySchema)
      .default([])
      .describe('Chain run before the lookup, after the global `middleware`.'),
  })
  .prefault({ enabled: false })
  .describe('The built-in `GET /users/:id` endpoint: cache-aside in front of SQL, answered by Portico itself.');

export type DatabaseConfig = z.output<typeof databaseSchema>;
export type UserLookupConfig = z.output<typeof userLookupSchema>;
