/** The task records and the narrow store interface both backends (store-memory.ts, store-redis.ts) implement. */

export type TaskState = 'queued' | 'running' | 'succeeded' | 'failed';

/** The stored request: what a delivery sends, as it was when accepted. */
export interface TaskRecord {
  readonly id: string;
  readonly method: string;
  /** Path and query as forwarded (after `stripPrefix`). */
  readonly path: string;
  /** End-to-end headers (hop-by-hop already stripped at the edge); framing headers are recomputed at delivery. */
  readonly headers: Readonly<Record<string, string | readonly string[]>>;
  readonly body: Buffer;
  readonly requestId: string;
  /** W3C traceparent of the accepting request's span, or ''. */
  readonly traceparent: string;
  /** What the upstream receives as `Idempotency-Key`: the client's key, else the task id. */
  readonly key: string;
  /** The client's `Idempotency-Key`, or '' (the store deduplicates accepts by it). */
  readonly clientKey: string;
  /** Epoch ms. */
  readonly createdAt: number;
}

/** The status document (`GET <statusPath>/<id>`). */
export interface TaskStatus {
  readonly id: string;
  readonly status: TaskState;
  readonly attempts: number;
  readonly lastStatus: number | null;
  readonly lastError: string | null;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A task taken for one attempt; `attempt` counts this one (1 for the first). */
export interface Claim {
  readonly task: TaskRecord;
  readonly attempt: number;
  /** The backend's handle of this delivery (the Redis stream entry id); opaque to callers. */
  readonly handle: string;
}

/** How an attempt ended, as the store records it. */
export type Finish =
  | { readonly kind: 'succeeded'; readonly status: number }
  | { readonly kind: 'retry'; readonly delayMs: number; readonly status: number | null; readonly error: string | null }
  | { readonly kind: 'failed'; readonly status: number | null; readonly error: string | null };

export interface Accepted {
  readonly id: string;
  /** True when the client's `Idempotency-Key` named a task accepted before (its id is returned). */
  readonly duplicate: boolean;
}

export interface DeadLetter extends TaskStatus {
  readonly route: string;
  readonly method: string;
  readonly path: string;
}

/**
 * One route's tasks. Every method that resolves has done its write: `accept` resolves only once the task is stored
 * (Redis: the script holding XADD answered). A backend failure rejects (PORTICO_STORE_UNAVAILABLE); a full
 * in-process queue rejects with PORTICO_QUEUE_FULL.
 */
export interface TaskStore {
  readonly kind: 'memory' | 'redis';
  accept(task: TaskRecord): Promise<Accepted>;
  /**
   * Up to `max` tasks to attempt now, each marked running with the attempt counted; waits up to `waitMs` when none
   * is ready. Resolves [] when nothing came.
   */
  take(max: number, waitMs: number): Promise<Claim[]>;
  finish(claim: Claim, result: Finish): Promise<void>;
  status(id: string): Promise<TaskStatus | undefined>;
  deadLetters(limit: number): Promise<DeadLetter[]>;
  /** Puts a dead letter back in the queue with its attempts reset; false when there is no such dead letter. */
  retryDead(id: string): Promise<boolean>;
  deleteDead(id: string): Promise<boolean>;
  /** Tasks accepted and not finished that this process holds (in-process store), for the shutdown report. */
  unfinished(): number;
  close(): Promise<void>;
}
