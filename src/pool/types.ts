/** The pool's public contract and its internal records. */
import type { Logger } from 'pino';
import type { Attempt, Task } from './attempt.js';
import type { WorkerPoolConfig } from './config.js';

export type { Task } from './attempt.js';

export interface SubmitOptions {
  /** Deadline of each attempt in ms; defaults to `taskTimeout`. `Infinity` disables it. */
  readonly timeout?: number;
  /** Further attempts after a failure or timeout (never after an abort). Default 0. */
  readonly retries?: number;
  /** The submitter's cancellation: a waiting task is removed, a running one aborted; either rejects with the reason. */
  readonly signal?: AbortSignal;
}

/** What callers depend on; the users' cache fill and the mirror take this, not the class. */
export interface TaskRunner {
  submit<T>(task: Task<T>, options?: SubmitOptions): Promise<T>;
}

export interface WorkerPoolOptions extends WorkerPoolConfig {
  readonly logger?: Logger;
  /** Jitter source in [0, 1); tests pass a fixed one. */
  readonly random?: () => number;
}

export interface PoolEvents {
  workerStart: [workers: number];
  workerStop: [workers: number];
}

export interface ShutdownReport {
  /** Tasks that finished (either way) while draining. */
  readonly finished: number;
  /** Tasks aborted or never started because the drain timeout passed. */
  readonly dropped: number;
}

export interface Job {
  readonly task: Task<unknown>;
  readonly timeout: number;
  readonly submittedAt: number;
  readonly resolve: (value: unknown) => void;
  readonly reject: (err: unknown) => void;
  state: 'queued' | 'running' | 'backoff' | 'settled';
  retriesLeft: number;
  retry: number;
  attempt?: Attempt;
  backoffTimer?: NodeJS.Timeout;
  unlink?: () => void;
}

export interface Worker {
  idleTimer: NodeJS.Timeout | undefined;
  job: Job | undefined;
}
