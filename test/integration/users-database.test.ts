/**
 * The repository and migrations on both backends (real PostgreSQL in a schema of its own, embedded SQLite), then
 * PostgreSQL's failure bounds: a slow statement, a refused connection, a host that never answers.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { databaseSchema, userLookupSchema } from '../../src/users/config.js';
import { openDatabase, type Database } from '../../src/users/database.js';
import { SqlUserRepository } from '../../src/users/repository.js';
import { userSql } from '../../src/users/sql.js';
import { START_TIMEOUT_MS } from '../helpers/wait.js';
import { dropSchema, PG_URL, sparePort, sql, startBlackHole, uniqueName } from './users-fixtures.js';

/*
 * The file opens its databases once, together, in one hook with START_TIMEOUT_MS (the embedded one opens in
 * milliseconds now; PostgreSQL's pool may wait on a busy machine). The bounds below are outcomes (the error code, an
 * order) or generous multiples of the configured timeout, so scheduling delay on a busy machine cannot fail them;
 * only a missing bound can.
 */
const SLACK_MS = 3000;

const schema = uniqueName('users_db');
/** `embeddedQuick` has a 200 ms statement timeout, for the failure bound (its test closes it). */
const opened: Partial<Record<'postgres' | 'embedded' | 'embeddedQuick', Database>> = {};

beforeAll(async () => {
  const [postgres, embedded, embeddedQuick] = await Promise.all([
    openDatabase(databaseSchema.parse({ url: PG_URL, statementTimeout: 5000 })),
    openDatabase(databaseSchema.parse({ statementTimeout: 5000 })),
    openDatabase(databaseSchema.parse({ statementTimeout: 200 })),
  ]);
  Object.assign(opened, { postgres, embedded, embeddedQuick });
}, START_TIMEOUT_MS);

afterAll(async () => {
  await Promise.all([opened.postgres?.close(), opened.embedded?.close(), opened.embeddedQuick?.close()]);
  await dropSchema(schema);
});

function repositoryOn(db: Database, table = 'people'): SqlUserRepository {
  return new SqlUserRepository(db, userSql(userLookupSchema.parse({ schema, table }), db.kind));
}

describe.each(['postgres', 'embedded'] as const)('user repository on %s', (name) => {
  let db: Database;
  beforeAll(() => {
    db = opened[name] as Database;
  });

  it('migrates once, records the version, and is a no-op the second time', async () => {
    const repository = repositoryOn(db);
    expect(await repository.migrate()).toEqual([1]);
    expect(await repository.migrate()).toEqual([]);
    const rows = await db.query<{ target: string; version: number }>(
      `SELECT target, version FROM "${schema}".portico_migrations`,
    );
    expect(rows).toEqual([{ target: `${schema}.people`, version: 1 }]);
    await repository.verify();
  });

  it('seeds sample users idempotently and reads them back', async () => {
    const repository = repositoryOn(db);
    expect(await repository.isEmpty()).toBe(true);
    expect(await repository.seed(20)).toBe(20);
    expect(await repository.seed(25)).toBe(5);
    expect(await repository.findById('7')).toEqual({
      id: 7,
      name: 'User 7',
      email: 'user7@example.com',
      createdAt: '2024-01-01T07:00:00.000Z',
    });
    expect(await repository.findById('26')).toBeUndefined();
  });

  it('fails verify with PORTICO_DATABASE_UNAVAILABLE when a configured column does not exist', async () => {
    const wrong = new SqlUserRepository(
      db,
      userSql(userLookupSchema.parse({ schema, table: 'people', columns: { email: 'mail' } }), db.kind),
    );
    await expect(wrong.verify()).rejects.toMatchObject({
      code: 'PORTICO_DATABASE_UNAVAILABLE',
      context: { sqlState: '42703' },
    });
  });
});

describe('embedded database failure bounds', () => {
  it('answers a caller within statementTimeout while a slow statement runs, without blocking the event loop', async () => {
    const db = opened.embeddedQuick as Database;
    const stalls = monitorEventLoopDelay({ resolution: 10 });
    try {
      // SQLite has no sleep: counting to 3*10^7 in a recursive CTE takes seconds (~1.2 s per 10^7 on an idle core).
      const sleepMs = 3000;
      const started = Date.now();
      const slow = db.query(
        'WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 30000000) SELECT count(*) AS k FROM c',
      );
      stalls.enable();
      await expect(slow).rejects.toMatchObject({ code: '57014' });
      stalls.disable();
      // The caller is answered by the timeout, not by the statement's end (the engine cannot cancel it).
      expect(Date.now() - started).toBeLessThan(sleepMs);
      // The statement runs in the worker: the event loop never stalls for the statement's length (a busy
      // machine delays it by scheduling only, far less than that).
      expect(stalls.max / 1e6).toBeLessThan(sleepMs / 2);
    } finally {
      await db.close(); // the statement still runs: the worker is stopped after the close grace
    }
  });
});

describe('embedded database on disk (embeddedDataDir)', () => {
  it('keeps migrated and seeded users across a close and a reopen', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-embedded-'));
    try {
      const config = databaseSchema.parse({ embeddedDataDir: dir, statementTimeout: 5000 });
      const first = await openDatabase(config);
      try {
        const repository = repositoryOn(first, 'kept');
        expect(await repository.migrate()).toEqual([1]);
        expect(await repository.seed(3)).toBe(3);
      } finally {
        await first.close();
      }
      const second = await openDatabase(config);
      try {
        const repository = repositoryOn(second, 'kept');
        await repository.verify(); // migrations off: verify alone attaches the schema's file
        expect(await repository.migrate()).toEqual([]);
        expect(await repository.findById('3')).toMatchObject({ id: 3, createdAt: '2024-01-01T03:00:00.000Z' });
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('migrations on PostgreSQL', () => {
  it('apply each version once when several instances start together', async () => {
    const dbs = await Promise.all(
      [1, 2, 3].map(() => openDatabase(databaseSchema.parse({ url: PG_URL, statementTimeout: 5000 }))),
    );
    try {
      const applied = await Promise.all(dbs.map((db) => repositoryOn(db, 'racers').migrate()));
      expect(applied.flat()).toEqual([1]);
    } finally {
      await Promise.all(dbs.map((db) => db.close()));
    }
  });
});

describe('PostgreSQL failure bounds', () => {
  it('gives up on a statement past statement_timeout (a table locked by someone else)', async () => {
    const db = await openDatabase(databaseSchema.parse({ url: PG_URL, statementTimeout: 300 }));
    const locker = await openDatabase(databaseSchema.parse({ url: PG_URL, statementTimeout: 10_000 }));
    const repository = repositoryOn(db, 'locked');
    await repository.migrate();
    let unlock: (() => void) | undefined;
    const held = new Promise<void>((resolve) => (unlock = resolve));
    let locked: (() => void) | undefined;
    const lockTaken = new Promise<void>((resolve) => (locked = resolve));
    const holder = locker.transaction(async (tx) => {
      await tx.query(`LOCK TABLE "${schema}"."locked" IN ACCESS EXCLUSIVE MODE`);
      locked?.();
      await held;
    });
    try {
      await lockTaken;
      const started = Date.now();
      await expect(repository.findById('1')).rejects.toMatchObject({
        code: 'PORTICO_DATABASE_UNAVAILABLE',
        context: { sqlState: '57014' },
      });
      expect(Date.now() - started).toBeLessThan(300 + SLACK_MS); // the lock is held until `finally`
    } finally {
      unlock?.();
      await holder;
      await Promise.all([db.close(), locker.close()]);
    }
  });

  it('fails fast when nothing listens on the database port', async () => {
    const port = await sparePort();
    const db = await openDatabase(
      databaseSchema.parse({ url: `postgres://postgres@127.0.0.1:${port}/test`, connectTimeout: 15_000 }),
    );
    try {
      const started = Date.now();
      await expect(repositoryOn(db).findById('1')).rejects.toMatchObject({
        code: 'PORTICO_DATABASE_UNAVAILABLE',
        context: { sqlState: 'ECONNREFUSED' },
      });
      // Refused at once: far inside connectTimeout (a retry loop or a wait for the timeout would not be).
      expect(Date.now() - started).toBeLessThan(SLACK_MS);
    } finally {
      await db.close();
    }
  });

  it('bounds the wait on a host that accepts and never answers by connectTimeout', async () => {
    const hole = await startBlackHole();
    const db = await openDatabase(
      databaseSchema.parse({ url: `postgres://postgres@127.0.0.1:${hole.port}/test`, connectTimeout: 300 }),
    );
    try {
      const started = Date.now();
      await expect(repositoryOn(db).findById('1')).rejects.toMatchObject({ code: 'PORTICO_DATABASE_UNAVAILABLE' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(Date.now() - started).toBeLessThan(300 + SLACK_MS); // the hole never answers: only the bound ends it
    } finally {
      await db.close();
      await hole.close();
    }
  });
});

describe('test schema hygiene', () => {
  it('lives in its own schema', async () => {
    const found = await sql('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    expect(found.rowCount).toBe(1);
  });
});
