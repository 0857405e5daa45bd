/**
 * Versioned, idempotent migrations: one transaction under an advisory lock (so instances starting together apply
 * each version once), recorded per target table in `<schema>.portico_migrations`. The embedded SQLite has one
 * session per process and its schemas are attached databases: no lock, and the schema is attached (before the
 * transaction: SQLite cannot attach inside one) instead of created.
 */
import type { Database } from './database.js';
import { NOW, type UserSql } from './sql.js';

/** Applies the pending migrations; returns the versions applied now (empty when already up to date). */
export async function migrate(db: Database, sql: UserSql): Promise<number[]> {
  const postgres = sql.kind === 'postgres';
  if (!postgres) await db.useSchema?.(sql.schema);
  return db.transaction(async (tx) => {
    if (postgres) {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`portico:migrate:${sql.target}`]);
      // Checked first: CREATE SCHEMA IF NOT EXISTS needs the CREATE privilege even when the schema exists.
      const found = await tx.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [sql.schema]);
      if (found.length === 0) await tx.query(`CREATE SCHEMA "${sql.schema}"`);
    }
    await tx.query(
      `CREATE TABLE IF NOT EXISTS ${sql.migrationsTable} (target text NOT NULL, version integer NOT NULL, ` +
        `name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT ${NOW[sql.kind]}, PRIMARY KEY (target, version))`,
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
