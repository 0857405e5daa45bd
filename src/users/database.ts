/**
 * The narrow SQL seam both backends satisfy: PostgreSQL through a `pg` pool, or the embedded SQLite (`node:sqlite`).
 * The repository and the migrations speak only this, with `$n` parameters; the few statements whose SQL differs
 * between the two come from sql.ts by `kind`.
 */
import type { DatabaseConfig } from './config.js';
import { openEmbedded } from './embedded.js';
import { openPostgres } from './postgres.js';

export type DatabaseKind = 'postgres' | 'embedded';

export interface Queryable {
  /** Rows of one parameterised statement. Rejects on any database or timeout failure. */
  query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

export interface Database extends Queryable {
  readonly kind: DatabaseKind;
  /**
   * Makes `schema` addressable before the first statement that names it. Embedded only: a schema there is an
   * attached database, and SQLite cannot attach inside a transaction. PostgreSQL's migration creates the schema.
   */
  useSchema?(schema: string): Promise<void>;
  /** Runs `work` in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Opens the configured backend: `pg` when `database.url` is set, the embedded database otherwise. */
export async function openDatabase(config: DatabaseConfig, onIdleError?: (err: Error) => void): Promise<Database> {
  return config.url !== '' ? openPostgres(config, onIdleError) : openEmbedded(config);
}
