/**
 * The narrow SQL seam both backends satisfy: PostgreSQL through a `pg` pool, or the embedded PGlite. The
 * repository and the migrations speak only this, so both run the same SQL text with the same `$n` parameters.
 */
import type { DatabaseConfig } from './config.js';
import { openEmbedded } from './embedded.js';
import { openPostgres } from './postgres.js';

export interface Queryable {
  /** Rows of one parameterised statement. Rejects on any database or timeout failure. */
  query<Row>(text: string, params?: readonly unknown[]): Promise<Row[]>;
}

export interface Database extends Queryable {
  readonly kind: 'postgres' | 'embedded';
  /** Runs `work` in one transaction on one connection; commits when it resolves, rolls back when it throws. */
  transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Opens the configured backend: `pg` when `database.url` is set, the embedded database otherwise. */
export async function openDatabase(config: DatabaseConfig, onIdleError?: (err: Error) => void): Promise<Database> {
  return config.url !== '' ? openPostgres(config, onIdleError) : openEmbedded(config);
}
