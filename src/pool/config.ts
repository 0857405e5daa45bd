import { z } from 'zod';
import { duration } from '../config/duration.js';

/** `workerPool`: the in-process pool that runs background work (cache fills, mirrored requests). */
export const workerPoolSchema = z
  .strictObject({
    /** Workers kept alive however idle; the pool never shrinks below this. */
    min: z.number().int().min(0).default(2),
    /** Concurrent tasks at most; further work waits in the queue. */
    max: z.number().int().min(1).default(32),
    /** Tasks that may wait for a worker; a submit beyond it is refused at once (PORTICO_QUEUE_FULL). */
    queue: z.number().int().min(0).default(1000),
    /** A worker above `min` that sits idle this long stops. */
    idleTimeout: duration().default(30_000),
    /** Default per-task timeout when the submitter gives none. */
    taskTimeout: duration({ min: 1 }).default(10_000),
    /** First retry delay; each further retry doubles it (with jitter), capped at `maxBackoff`. */
    backoff: duration().default(100),
    maxBackoff: duration().default(10_000),
  })
  .prefault({})
  .refine((pool) => pool.min <= pool.max, { message: 'workerPool.min must not exceed workerPool.max', path: ['min'] });

export type WorkerPoolConfig = z.output<typeof workerPoolSchema>;
