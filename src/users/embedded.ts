/**
 * The embedded database: PGlite, PostgreSQL compiled to WebAssembly and run in-process, so `npm start` needs no
 * server. It runs one statement at a time and cannot cancel one, so the statement timeout is enforced on the
 * caller's side: the caller gets its error in time even if the engine is still busy.
 */
import { PGlite } from '@electric-sql/pglite';
import type { DatabaseConfig } from './config.js';
import type { Database, Queryable } from './database.js';

function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`embedded database: statement exceeded ${ms}ms`)), ms);
    timer.unref();
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function openEmbedded(config: DatabaseConfig): Promise<Database> {
  const db = new PGlite(config.embeddedDataDir === '' ? undefined : config.embeddedDataDir);
  await db.waitReady;
  const limit = config.statementTimeout;

  return {
    kind: 'embedded',
    query: async <Row>(text: string, params: readonly unknown[] = []) => (await bounded(db.query<Row>(text, params as unknown[]), limit)).rows,
    transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
      return db.transaction(async (tx) => work({
        query: async <Row>(text: string, params: readonly unknown[] = []) => (await tx.query<Row>(text, params as unknown[])).rows,
      }));
    },
    close: () => db.close(),
  };
}
