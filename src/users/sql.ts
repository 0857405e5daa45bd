/**
 * Every SQL statement the lookup runs, built once from the configured schema, table and column names. Names are
 * validated plain identifiers (config.ts) and quoted here, so they keep their case; values are always `$n`
 * parameters. The lookup itself (select, verify, any) is the same text on both backends; the sample-data insert and
 * the table's DDL differ between PostgreSQL and the embedded SQLite (no generate_series, no interval arithmetic, no
 * now()), so they are built for the backend's kind.
 */
import type { UserLookupConfig } from './config.js';
import type { DatabaseKind } from './database.js';

export interface Migration {
  /** Applied in ascending order, each once per target table; never renumber or edit one that shipped. */
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export interface UserSql {
  readonly schema: string;
  /** `schema.table`, unquoted: the migrations' target key and lock name. */
  readonly target: string;
  readonly table: string;
  readonly select: string;
  /** Fails when the table or a configured column is missing; returns no rows. */
  readonly verify: string;
  /** One row when the table holds any user. */
  readonly any: string;
  /** `$1`: how many sample users; existing ids are left alone. */
  readonly seed: string;
  readonly migrationsTable: string;
  readonly migrations: readonly Migration[];
  /** The backend these statements were built for. */
  readonly kind: DatabaseKind;
}

const q = (identifier: string): string => `"${identifier}"`;

/** Sample user g: created at 2024-01-01T00:00:00Z plus g hours, as ISO text on SQLite (which has no timestamptz). */
const SAMPLE_TIME: Record<DatabaseKind, string> = {
  postgres: `timestamptz '2024-01-01T00:00:00Z' + g * interval '1 hour'`,
  embedded: `strftime('%Y-%m-%dT%H:%M:%fZ', '2024-01-01 00:00:00', '+' || g || ' hours')`,
};
/** Rows 1..$1; SQLite's INSERT ... SELECT needs a WHERE before ON CONFLICT to parse the upsert clause. */
const SAMPLE_IDS: Record<DatabaseKind, string> = {
  postgres: 'FROM generate_series(1, $1::integer) AS g',
  embedded:
    'FROM (WITH RECURSIVE s(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM s WHERE g < $1) SELECT g FROM s) WHERE true',
};
/** The current time as a column default: ISO text on SQLite, like the sample data. */
export const NOW: Record<DatabaseKind, string> = {
  postgres: 'now()',
  embedded: "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
};

export function userSql(
  config: Pick<UserLookupConfig, 'schema' | 'table' | 'columns'>,
  kind: DatabaseKind = 'postgres',
): UserSql {
  const { id, name, email, createdAt } = config.columns;
  const table = `${q(config.schema)}.${q(config.table)}`;
  const columns = `${q(name)} AS name, ${q(email)} AS email, ${q(createdAt)} AS created_at`;
  return {
    schema: config.schema,
    target: `${config.schema}.${config.table}`,
    table,
    select: `SELECT ${columns} FROM ${table} WHERE ${q(id)} = $1`,
    verify: `SELECT ${q(id)}, ${columns} FROM ${table} WHERE false`,
    any: `SELECT 1 AS one FROM ${table} LIMIT 1`,
    seed:
      `INSERT INTO ${table} (${q(id)}, ${q(name)}, ${q(email)}, ${q(createdAt)}) ` +
      `SELECT g, 'User ' || g, 'user' || g || '@example.com', ${SAMPLE_TIME[kind]} ` +
      `${SAMPLE_IDS[kind]} ON CONFLICT (${q(id)}) DO NOTHING`,
    migrationsTable: `${q(config.schema)}.${q('portico_migrations')}`,
    kind,
    migrations: [
      {
        version: 1,
        name: 'create users',
        sql:
          `CREATE TABLE IF NOT EXISTS ${table} (${q(id)} bigint PRIMARY KEY, ${q(name)} text NOT NULL, ` +
          `${q(email)} text NOT NULL, ${q(createdAt)} timestamptz NOT NULL DEFAULT ${NOW[kind]})`,
      },
    ],
  };
}
