/**
 * The process logger: pino writing JSON lines to an asynchronous sonic-boom destination (stdout, or a file opened
 * for append), secrets redacted. Built once by the composition root and handed down; tests pass their own stream.
 *
 * Cost: lines are batched into writes of at least `MIN_WRITE` bytes, and whatever is buffered is written at least
 * every `FLUSH_EVERY_MS`. One `fs.write` per line costs ~12 µs of CPU (thread-pool hand-off and syscall, measured
 * on the bench machine at one line per event-loop turn); batched, ~7 µs. Before sonic-boom, the lines of one
 * event-loop turn are joined and handed over as one string (`TurnBatch`): sonic-boom measures its pending buffer
 * with `Buffer.byteLength` on every write, which flattens the growing string each time (~2.3 µs of CPU per
 * 376-byte line written one at a time, ~1.2 µs batched per turn; 200k lines to /dev/null).
 *
 * Flushing, and the pino / sonic-boom pitfalls it steers around:
 * - `flush()` kicks the destination and waits until its buffer is empty, re-kicking after each write (a batched
 *   destination keeps a remainder below `minLength` otherwise). It does not rely on `SonicBoom.flush(cb)`, which
 *   with `minLength` 0 calls back at once even while a write is in flight.
 * - `flushSync()` throws "sonic boom is not ready yet" while a file is still being opened asynchronously
 *   (pinojs/pino#871, #2326). The file is opened synchronously here, so the descriptor exists from the start.
 * - `flushSync()` does not wait for a chunk already handed to an async `fs.write` (pinojs/sonic-boom#101): it writes
 *   the later lines first, so the in-flight chunk lands after them (or is lost if the process exits). pino calls
 *   `flushSync()` after every `fatal()` line, which reorders a busy log exactly when it matters. While the event
 *   loop runs, a synchronous flush is therefore skipped if a write is in flight: SIGTERM and fatal paths use the
 *   async `flush()` and then exit. At `exit` (pino's exit hook) it always runs: out of order beats lost.
 * - sonic-boom's `flushSync` retries forever on a write error other than EAGAIN/EBUSY (ENOSPC, EBADF): its catch
 *   only rethrows retryable codes. A destination that failed is therefore not flushed synchronously until a write
 *   succeeds again, so a full disk cannot hang the exit hook. EPIPE already turns the stream into a no-op (pino).
 * - The async buffer is bounded (`maxLength`): a reader that stops draining stdout cannot grow memory without
 *   limit; lines beyond it are dropped and counted.
 */
import { mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import pino, { type DestinationStream, type Logger } from 'pino';
import type { TelemetryConfig } from './config.js';
import { flatLineWriter, type FlatLineWriter } from './flat-line.js';

/** Header names whose values never reach a log line, on the request and the response side. */
const SECRET_HEADERS = ['authorization', 'cookie', 'set-cookie', 'proxy-authorization'];
export const DEFAULT_REDACT: readonly string[] = ['req', 'res'].flatMap((side) =>
  SECRET_HEADERS.map((name) => `${side}.headers["${name}"]`),
);

/** Bytes buffered for the destination before lines are dropped (a stalled stdout reader). */
const MAX_BUFFERED = 32 * 1024 * 1024;
/** Smallest write while lines keep coming; a quiet logger's remainder waits at most FLUSH_EVERY_MS. */
const MIN_WRITE = 4096;
const FLUSH_EVERY_MS = 100;

export interface ProcessLogger {
  readonly logger: Logger;
  /** Resolves true once every line logged so far reached the destination; false if `timeoutMs` passed first. */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Synchronous best effort for an `exit` handler; prefer `flush()` wherever the event loop still runs. */
  flushSync(): void;
  /** Lines dropped because the destination fell `MAX_BUFFERED` bytes behind. */
  dropped(): number;
}

export interface LoggerOptions {
  /** Replaces the configured destination (tests capture lines this way). Flushing it is the caller's concern. */
  readonly stream?: DestinationStream;
}

/**
 * The sonic-boom state the guards read: bytes not yet written, a write in flight, the open descriptor. `_len` and
 * `_writing` are private: test/contracts/sonic-boom.test.ts checks what is assumed of them.
 */
interface SonicState {
  readonly _len: number;
  readonly _writing: boolean;
  readonly fd: number;
  readonly destroyed: boolean;
}

type Destination = ReturnType<typeof pino.destination>;

/** Set first thing on `exit`, before pino's exit hook runs its synchronous flush. */
let exiting = false;
/** Every file or stdout logger's batch: handed to sonic-boom on `exit` before pino's hook flushes it. */
const batches = new Set<TurnBatch>();
process.prependOnceListener('exit', () => {
  exiting = true;
  for (const batch of batches) batch.drain();
});

/**
 * The destination pino writes to: collects the lines of one event-loop turn and hands them to sonic-boom as one
 * string at the end of the turn (`setImmediate`), or at once when flushed. pino calls `flush` and, after a fatal
 * line, `flushSync` on it; both pass the lines on first.
 */
class TurnBatch {
  private lines: string[] = [];
  private scheduled = false;

  constructor(readonly target: Destination) {}

  write(line: string): void {
    this.lines.push(line);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.drain);
    }
  }

  /** Hands the collected lines to sonic-boom (which writes them on its own schedule). */
  readonly drain = (): void => {
    this.scheduled = false;
    const lines = this.lines;
    if (lines.length === 0) return;
    this.lines = [];
    // A destination ended at exit throws on write; from an end-of-turn callback that would be an uncaught exception.
    if ((this.target as unknown as SonicState).destroyed) return;
    this.target.write(lines.length === 1 ? (lines[0] as string) : lines.join(''));
  };

  flush(cb?: (err?: Error) => void): void {
    this.drain();
    this.target.flush(cb);
  }

  flushSync(): void {
    this.drain();
    this.target.flushSync();
  }
}

function openDestination(path: string): Destination {
  const options = { sync: false, minLength: MIN_WRITE, periodicFlush: FLUSH_EVERY_MS, maxLength: MAX_BUFFERED };
  if (path === 'stdout') return pino.destination({ ...options, dest: 1 });
  mkdirSync(dirname(path), { recursive: true });
  return pino.destination({ ...options, dest: openSync(path, 'a') });
}

/** The flat-line writer of each logger createLogger made (not of its children: callers look up the root). */
const flatWriters = new WeakMap<Logger, FlatLineWriter>();

/**
 * The writer of flat lines in this logger's exact format (./flat-line.ts), for a logger createLogger made without
 * redaction paths of the user's own: those may name any field of a line, and only pino applies them.
 */
export function flatLinesOf(logger: Logger): FlatLineWriter | undefined {
  return flatWriters.get(logger);
}

/** Creates the logger from the `telemetry` section. Throws on an unwritable file (a startup error). */
export function createLogger(telemetry: TelemetryConfig, options: LoggerOptions = {}): ProcessLogger {
  const destination = options.stream === undefined ? openDestination(telemetry.logs.destination) : undefined;
  const batch = destination === undefined ? undefined : new TurnBatch(destination);
  if (batch !== undefined) batches.add(batch);
  const base = { service: telemetry.serviceName, pid: process.pid };
  const stream = options.stream ?? (batch as TurnBatch);
  const logger = pino(
    {
      level: telemetry.logs.level,
      base,
      ...(telemetry.logs.levelFormat === 'label'
        ? { formatters: { level: (label: string) => ({ level: label }) } }
        : {}),
      serializers: { err: pino.stdSerializers.errWithCause },
      redact: { paths: [...DEFAULT_REDACT, ...telemetry.logs.redact], censor: '[Redacted]' },
    },
    stream,
  );
  if (telemetry.logs.redact.length === 0)
    flatWriters.set(
      logger,
      flatLineWriter(logger, stream, { labels: telemetry.logs.levelFormat === 'label', bindings: base }),
    );
  if (batch === undefined) return { logger, flush: () => Promise.resolve(true), flushSync: () => {}, dropped: () => 0 };
  return { logger, ...guard(batch) };
}

function guard(batch: TurnBatch): Omit<ProcessLogger, 'logger'> {
  const destination = batch.target;
  const state = destination as unknown as SonicState;
  let failed = false;
  let dropped = 0;
  destination.on('error', (err: Error) => {
    // The logger cannot report its own failure; stderr gets one line per outage.
    if (!failed) process.stderr.write(`portico: log destination failed: ${err.message}\n`);
    failed = true;
  });
  destination.on('write', () => {
    failed = false;
  });
  destination.on('drop', (data: string) => {
    dropped += countLines(data); // a turn's lines arrive, and are dropped, together
  });
  const flushSync = destination.flushSync.bind(destination);
  // pino's fatal() and exit hook call this property. A failed destination would spin forever; an in-flight write
  // would be overtaken by the lines after it.
  destination.flushSync = () => {
    if (failed || state.fd < 0 || state.destroyed || (state._writing && !exiting)) return;
    flushSync();
  };

  const flush = (timeoutMs = 5000): Promise<boolean> =>
    new Promise((resolve) => {
      batch.drain();
      if (state._len === 0 || state.destroyed) {
        resolve(true);
        return;
      }
      const finish = (flushed: boolean): void => {
        clearTimeout(timer);
        destination.off('drain', onDrain);
        destination.off('close', onClose);
        resolve(flushed);
      };
      const onDrain = (): void => {
        if (state._len === 0) finish(true);
        else destination.flush();
      };
      const onClose = (): void => finish(state._len === 0);
      const timer = setTimeout(() => finish(false), timeoutMs);
      destination.on('drain', onDrain);
      destination.on('close', onClose);
      destination.flush(); // writes the remainder below minLength now (a no-op while a write is in flight)
    });

  return { flush, flushSync: () => batch.flushSync(), dropped: () => dropped };
}

function countLines(text: string): number {
  let lines = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines++;
  return Math.max(lines, 1);
}

/**
 * For `uncaughtException` / `unhandledRejection` handlers: logs the error at fatal, waits (bounded) until the line and
 * everything before it are written, then exits with code 1.
 */
export function logFatalAndExit(
  log: ProcessLogger,
  err: unknown,
  origin: string,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  log.logger.fatal({ err, origin }, 'fatal error, exiting');
  const exitNow = (): void => exit(1);
  // Both outcomes exit: nothing is left to reject.
  void log.flush(2000).then(exitNow, exitNow);
}
