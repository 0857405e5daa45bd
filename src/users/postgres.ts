/**
 * PostgreSQL through a `pg` pool. Every wait is bounded: acquiring a connection (`connectionTimeoutMillis`; pg's
 * default waits forever), the statement on the server (`statement_timeout`) and the client's wait for the answer
 * (`query_timeout`, a little longer, so a dead peer that never answers is still bounded).
 */
import pg from 'pg';
import type { DatabaseConfig } from './config.js';
import type { Database, Queryable } from './database.js';

/** Slack between the server's statement timeout and the client's, so the server's error normally wins. */
const CLIENT_SLACK_MS = 500;

export function openPostgres(config: DatabaseConfig, onIdleError?: (err: Error) => void): Database {
  const pool = new pg.Pool({
    connectionString: config.url,
    max: config.poolSize,
    connectionTimeoutMillis: config.connectTimeout,
    statement_timeout: config.statementTimeout,
    query_timeout: config.statementTimeout + CLIENT_SLACK_MS,
    idle_in_transaction_session_timeout: config.statementTimeout * 5,
    idleTimeoutMillis: 30_000,
    application_name: 'portico',
    allowExitOnIdle: true,
  });
  // An idle client's connection dying (database restart) is reported here; unhandled it would crash the process.
  pool.on('error', (err) => onIdleError?.(err));

  const query = async <Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> => {
    const result = await pool.query(text, params as unknown[]);
    return result.rows as Row[];
  };

  return {
    kind: 'postgres',
    query,
    async transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const tx: Queryable = {
          query: async <Row>(text: string, params: readonly unknown[] = []) =>
            (await client.query(text, params as unknown[])).rows as Row[],
        };
        const value = await work(tx);
        await client.query('COMMIT');
        return value;
      } catch (err) {
        await client.query('ROLLBACK').catch((rollbackErr: unknown) => {
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        });
        throw err;
      } finally {
        // A connection whose rollback failed is in an unknown state: destroy it rather than pool it.
        client.release(broken);
      }
    },
    close: () => pool.end(),
  };
}
