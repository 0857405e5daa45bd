/** The pool's public contract and its internal records. */
import type { Logger } from 'pino';
import type { Attempt, Task } from './attempt.js';
import type { WorkerPoolConfig } from './config.js';

export type { Task } from './attempt.js';

export interface SubmitOptions {
  /** Deadline of each attempt in ms; defaults to `taskTimeout`. `Infinity` disables it. */
  readonly timeout?: number;
  /** The submitter's cancellation: a waiting task is removed, a running one aborted; either rejects with the reason. */
  readonly signal?: AbortSignal;
}

/** What callers depend on; the users' cache fill and the mirror take this, not the class. */
export interface TaskRunner {
  submit<T>(task: Task<T>, options?: SubmitOptions): Promise<T>;
}

export interface WorkerPoolOptions extends WorkerPoolConfig {
  readonly logger?: Logger;
  /** Called as each task settles (completed or failed, not dropped), with its submit-to-settle time. */
  readonly onSettle?: (outcome: 'completed' | 'failed' | 'timed_out', seconds: number) => void;
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
  state: 'queued' | 'running' | 'settled';
  attempt?: Attempt;
  unlink?: () => void;
}

export interface Worker {
  idleTimer: NodeJS.Timeout | undefined;
  job: Job | undefined;
}
