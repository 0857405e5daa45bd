/**
 * Every SQL statement the lookup runs, built once from the configured schema, table and column names. Names are
 * validated plain identifiers (config.ts) and quoted here, so they keep their case; values are always `$n`
 * parameters. Both backends run exactly these strings.
 */
import type { UserLookupConfig } from './config.js';

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
}

const q = (identifier: string): string => `"${identifier}"`;

export function userSql(config: Pick<UserLookupConfig, 'schema' | 'table' | 'columns'>): UserSql {
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
      `SELECT g, 'User ' || g, 'user' || g || '@example.com', timestamptz '2024-01-01T00:00:00Z' + g * interval '1 hour' ` +
      `FROM generate_series(1, $1::integer) AS g ON CONFLICT (${q(id)}) DO NOTHING`,
    migrationsTable: `${q(config.schema)}.${q('portico_migrations')}`,
    migrations: [
      {
        version: 1,
        name: 'create users',
        sql:
          `CREATE TABLE IF NOT EXISTS ${table} (${q(id)} bigint PRIMARY KEY, ${q(name)} text NOT NULL, ` +
          `${q(email)} text NOT NULL, ${q(createdAt)} timestamptz NOT NULL DEFAULT now())`,
      },
    ],
  };
}
