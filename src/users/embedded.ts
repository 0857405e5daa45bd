/**
 * The embedded database: PGlite (PostgreSQL compiled to WebAssembly), so `npm start` needs no server. PGlite runs
 * a statement synchronously on the thread that owns it, so it lives in a worker thread: a slow statement never
 * stalls the proxy's event loop. It has one session: statements run one at a time, and a transaction holds the
 * session until it ends. It cannot cancel a statement, so the statement timeout bounds the caller's wait (queue
 * included) and the engine finishes the statement on its own.
 */
import { Worker } from 'node:worker_threads';
import type { DatabaseConfig } from './config.js';
import type { Database, Queryable } from './database.js';

/** Plain CommonJS, evaluated by the worker; loads PGlite with Node's own loader. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { PGlite } = require(workerData.module);
const db = new PGlite(workerData.dataDir || undefined);
const message = (err) => String((err && err.message) || err);
db.waitReady.then(() => parentPort.postMessage({ ready: true }), (err) => parentPort.postMessage({ fatal: message(err) }));
parentPort.on('message', async (msg) => {
  if (msg.close) {
    await db.close().catch(() => undefined);
    parentPort.close();
    return;
  }
  try {
    const result = await db.query(msg.text, msg.params);
    parentPort.postMessage({ id: msg.id, rows: result.rows });
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: { message: message(err), code: err && err.code } });
  }
});`;

/** How long close waits, beyond the statement timeout, for a running statement before terminating the worker. */
const CLOSE_GRACE_MS = 1000;

type Reply = { id: number; rows?: unknown[]; error?: { message: string; code?: string } } & {
  ready?: boolean;
  fatal?: string;
};

/** Error thrown for a failed statement; `code` is the SQLSTATE, as with `pg`. */
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
    workerData: { module: require.resolve('@electric-sql/pglite'), dataDir: config.embeddedDataDir },
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

  const send = <Row>(text: string, params: readonly unknown[] = []): Promise<Row[]> => {
    if (stopped) return Promise.reject(stopped);
    const id = nextId++;
    if (pending.size === 0) worker.ref();
    return new Promise<Row[]>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (rows: unknown[]) => void, reject });
      worker.postMessage({ id, text, params });
    });
  };

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
