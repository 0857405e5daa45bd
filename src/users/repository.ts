/**
 * Reads users through the Database seam, so PostgreSQL and the embedded database share one implementation and
 * one set of statements. Any failure (unreachable, pool exhausted, statement timeout, missing table) surfaces as
 * PORTICO_DATABASE_UNAVAILABLE with the driver error as `cause`; "absent" is a value (undefined), not an error.
 */
import { PorticoError } from '../errors.js';
import type { Database } from './database.js';
import { migrate } from './migrations.js';
import type { UserSql } from './sql.js';
import type { User } from './user.js';

export interface UserRepository {
  findById(id: string): Promise<User | undefined>;
}

interface UserRow {
  readonly name: string;
  readonly email: string;
  readonly created_at: Date | string;
}

/** Dates may come from another realm (the embedded database's worker), so no `instanceof Date`. */
function isoTime(value: Date | string): string {
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? String(value) : time.toISOString();
}

function unavailable(err: unknown, action: string, context: Record<string, string>): PorticoError {
  const detail = err instanceof Error ? err.message : String(err);
  const sqlState = (err as { code?: unknown } | null)?.code;
  return new PorticoError('PORTICO_DATABASE_UNAVAILABLE', `${action}: ${detail}`, {
    cause: err,
    context: { ...context, ...(typeof sqlState === 'string' ? { sqlState } : {}) },
  });
}

export class SqlUserRepository implements UserRepository {
  constructor(
    readonly db: Database,
    private readonly sql: UserSql,
  ) {}

  async findById(id: string): Promise<User | undefined> {
    let rows: UserRow[];
    try {
      rows = await this.db.query<UserRow>(this.sql.select, [id]);
    } catch (err) {
      throw unavailable(err, 'user query failed', { userId: id, table: this.sql.target });
    }
    const row = rows[0];
    if (row === undefined) return undefined;
    return { id: Number(id), name: row.name, email: row.email, createdAt: isoTime(row.created_at) };
  }

  /** Applies pending migrations; returns the versions applied now. */
  async migrate(): Promise<number[]> {
    try {
      return await migrate(this.db, this.sql);
    } catch (err) {
      throw unavailable(err, 'migration failed', { table: this.sql.target });
    }
  }

  /** Fails fast at start when the table or a configured column does not exist. */
  async verify(): Promise<void> {
    try {
      await this.db.useSchema?.(this.sql.schema); // embedded, migrations off: the schema's file is not attached yet
      await this.db.query(this.sql.verify);
    } catch (err) {
      throw unavailable(err, 'users table check failed', { table: this.sql.target });
    }
  }

  async isEmpty(): Promise<boolean> {
    try {
      return (await this.db.query(this.sql.any)).length === 0;
    } catch (err) {
      throw unavailable(err, 'users table check failed', { table: this.sql.target });
    }
  }

  /** Inserts sample users 1..count (ids already present are kept); returns how many rows were added. */
  async seed(count: number): Promise<number> {
    try {
      const rows = await this.db.query<{ id: unknown }>(`${this.sql.seed} RETURNING 1 AS id`, [count]);
      return rows.length;
    } catch (err) {
      throw unavailable(err, 'seed failed', { table: this.sql.target });
    }
  }
}
