/**
 * Versioned, idempotent migrations: one transaction under an advisory lock (so instances starting together apply
 * each version once), recorded per target table in `<schema>.portico_migrations`.
 */
import type { Database } from './database.js';
import type { UserSql } from './sql.js';

/** Applies the pending migrations; returns the versions applied now (empty when already up to date). */
export async function migrate(db: Database, sql: UserSql): Promise<number[]> {
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`portico:migrate:${sql.target}`]);
    // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
    const found = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [sql.schema]);
    if (found.length === 0) await tx.query(`CREATE SCHEMA "${sql.schema}"`);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${sql.migrationsTable} (target text NOT NULL, version integer NOT NULL, ` +
        'name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (target, version))',
    );
    const rows = await tx.query<{ version: number }>(`SELECT version FROM ${sql.migrationsTable} WHERE target = $1`, [
      sql.target,
    ]);
    const done = new Set(rows.map((row) => Number(row.version)));
    const applied: number[] = [];
    for (const migration of sql.migrations) {
      if (done.has(migration.version)) continue;
      await tx.query(migration.sql);
      await tx.query(`INSERT INTO ${sql.migrationsTable} (target, version, name) VALUES ($1, $2, $3)`, [
        sql.target,
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    return applied;
  });
}
