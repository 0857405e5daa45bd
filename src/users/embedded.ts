/**
 * The embedded database: SQLite through Node's built-in `node:sqlite` (no native addon, nothing to install), so
 * `npm start` needs no server. Chosen over PGlite (PostgreSQL compiled to WebAssembly) by measurement, README
 * "Embedded database": it opens in milliseconds instead of 5-7 s (over 20 s on a busy machine) and costs a few MB
 * instead of ~450 MB of resident memory.
 *
 * `node:sqlite` runs a statement synchronously on the thread that calls it, so the database lives in a worker
 * thread: a slow statement never stalls the proxy's event loop. It has one session: statements run one at a time,
 * and a transaction holds the session until it ends. A running statement cannot be cancelled from outside, so the
 * statement timeout bounds the caller's wait (queue included) and the engine finishes the statement on its own.
 *
 * The SQL is the repository's, written for PostgreSQL; the few statements that differ come from sql.ts per
 * dialect. Here `$n` parameters become SQLite's `?n`, a schema is an attached database (`ATTACH ... AS "public"`,
 * in memory or a file under `embeddedDataDir`), and SQLite's errors carry the SQLSTATE PostgreSQL would give for
 * the same mistake where the repository reports it (missing table or column, timeout).
 */
import { Worker } from 'node:worker_threads';
import type { DatabaseConfig } from './config.js';
import type { Database, Queryable } from './database.js';

/**
 * Plain CommonJS, evaluated by the worker. Prepared statements are kept per SQL text (the lookup runs one text
 * over and over), bounded so that arbitrary text cannot grow the map. On Node 22 the first `require('node:sqlite')`
 * emits an ExperimentalWarning (Node 24 does not): the worker drops that one warning only, so a default start
 * prints nothing alarming.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { join } = require('node:path');
const { mkdirSync } = require('node:fs');
const message = (err) => String((err && err.message) || err);
const emitWarning = process.emitWarning;
process.emitWarning = (warning, ...rest) => {
  if (/SQLite/.test(String(warning && warning.message || warning))) return;
  emitWarning.call(process, warning, ...rest);
};
const { DatabaseSync } = require('node:sqlite');
process.emitWarning = emitWarning;
const dir = workerData.dataDir;
const fileOf = (name) => (dir ? join(dir, name + '.sqlite') : ':memory:');
const SQLSTATE = [
  [/no such column/, '42703'],
  [/no such table/, '42P01'],
  [/constraint failed/, '23000'],
  [/syntax error/, '42601'],
];
const sqlState = (err) => (SQLSTATE.find(([pattern]) => pattern.test(message(err))) || [])[1];
let db;
try {
  if (dir) mkdirSync(dir, { recursive: true });
  db = new DatabaseSync(fileOf('portico'), { timeout: workerData.busyTimeout });
  parentPort.postMessage({ ready: true });
} catch (err) {
  parentPort.postMessage({ fatal: message(err) });
}
const statements = new Map();
const prepared = (text) => {
  let statement = statements.get(text);
  if (statement === undefined) {
    if (statements.size >= 64) statements.clear();
    statement = db.prepare(text.replace(/\\$(\\d+)/g, '?$1'));
    statements.set(text, statement);
  }
  return statement;
};
const attach = (schema) => {
  const known = db.prepare('SELECT 1 FROM pragma_database_list WHERE name = ?').all(schema);
  if (known.length === 0) db.prepare('ATTACH DATABASE ? AS "' + schema.replace(/"/g, '""') + '"').run(fileOf(schema));
  return [];
};
parentPort.on('message', (msg) => {
  if (msg.close) {
    try { db && db.close(); } catch {}
    parentPort.close();
    return;
  }
  try {
    const rows = msg.attach !== undefined ? attach(msg.attach) : prepared(msg.text).all(...msg.params);
    parentPort.postMessage({ id: msg.id, rows });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: { message: message(err), code: sqlState(err) } });
  }
});`;

/** How long close waits, beyond the statement timeout, for a running statement before terminating the worker. */
const CLOSE_GRACE_MS = 1000;

type Reply = { id: number; rows?: unknown[]; error?: { message: string; code?: string } } & {
  ready?: boolean;
  fatal?: string;
};

/** Error thrown for a failed statement; `code` is the SQLSTATE PostgreSQL would give, when one applies. */
class EmbeddedError extends Error {
  constructor(
    message: string,
    readonly code: string | undefined,
  ) {
    super(message);
  }
}

function bounded<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new EmbeddedError(`embedded database: no answer within ${ms}ms`, '57014')), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

export async function openEmbedded(config: DatabaseConfig): Promise<Database> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    // A file another process holds locked is waited for up to the statement timeout, then reported.
    workerData: { dataDir: config.embeddedDataDir, busyTimeout: config.statementTimeout },
  });
  const pending = new Map<number, { resolve: (rows: unknown[]) => void; reject: (err: Error) => void }>();
  let stopped: Error | undefined;
  let nextId = 1;
  const fail = (err: Error): void => {
    stopped ??= err;
    for (const waiter of pending.values()) waiter.reject(err);
    pending.clear();
  };

  let started: { resolve: () => void; reject: (err: Error) => void } | undefined;
  const ready = new Promise<void>((resolve, reject) => (started = { resolve, reject }));
  worker.on('error', (err: Error) => {
    started?.reject(err);
    fail(err);
  });
  worker.on('exit', (code) => {
    started?.reject(new Error(`embedded database exited during start (code ${code})`));
    fail(new Error('embedded database stopped'));
  });
  // One listener for the worker's whole life: a port with no 'message' listener stops delivering.
  worker.on('message', (reply: Reply) => {
    if (reply.ready) started?.resolve();
    if (reply.fatal !== undefined) started?.reject(new Error(`embedded database failed to start: ${reply.fatal}`));
    const waiter = pending.get(reply.id);
    if (waiter === undefined) return;
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref(); // idle: do not hold the process open
    if (reply.error) waiter.reject(new EmbeddedError(reply.error.message, reply.error.code));
    else waiter.resolve(reply.rows ?? []);
  });
  await ready;
  started = undefined;
  worker.unref();

  const post = <Row>(message: { text: string; params: readonly unknown[] } | { attach: string }): Promise<Row[]> => {
    if (stopped) return Promise.reject(stopped);
    const id = nextId++;
    if (pending.size === 0) worker.ref();
    return new Promise<Row[]>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (rows: unknown[]) => void, reject });
      worker.postMessage({ id, ...message });
    });
  };
  const send = <Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> => post<Row>({ text, params });

  // One session: each caller waits for the previous one to finish (a transaction counts as one caller).
  let session: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(work: () => Promise<T>): Promise<T> => {
    const turn = session.then(work, work);
    session = turn.catch(() => undefined);
    return turn;
  };
  const limit = config.statementTimeout;
  const timed = <Row>(text: string, params?: readonly unknown[]): Promise<Row[]> =>
    bounded(send<Row>(text, params), limit);

  return {
    kind: 'embedded',
    query: <Row>(text: string, params?: readonly unknown[]) =>
      bounded(
        exclusive(() => send<Row>(text, params)),
        limit,
      ),
    async useSchema(schema: string): Promise<void> {
      if (schema === 'main') return;
      await bounded(
        exclusive(() => post({ attach: schema })),
        limit,
      );
    },
    transaction<T>(work: (tx: Queryable) => Promise<T>): Promise<T> {
      return exclusive(async () => {
        await timed('BEGIN');
        try {
          const value = await work({ query: timed });
          await timed('COMMIT');
          return value;
        } catch (err) {
          await timed('ROLLBACK').catch(() => undefined);
          throw err;
        }
      });
    },
    async close() {
      if (stopped) return;
      const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
      worker.ref();
      worker.postMessage({ close: true });
      // A statement still running delays the close message; past this bound the worker is stopped outright.
      // Cannot reject: Worker#terminate() returns a promise that is only fulfilled, with the exit code, on 'exit'.
      const timer = setTimeout(() => void worker.terminate(), limit + CLOSE_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
