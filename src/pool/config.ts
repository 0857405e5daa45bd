import { z } from 'zod';
import { duration } from '../config/duration.js';

/** `workerPool`: the in-process pool that runs background work (cache fills, mirrored requests). */
export const workerPoolSchema = z
  .strictObject({
    min: z.number().int().min(0).default(2),
    max: z.number().int().min(1).default(32),
    queue: z.number().int().min(0).default(1000),
    idleTimeout: duration().default(30_000),
    /** Default per-task timeout when the submitter gives none. */
    taskTimeout: duration({ min: 1 }).default(10_000),
  })
  .prefault({})
  .refine((pool) => pool.min <= pool.max, { message: 'workerPool.min must not exceed workerPool.max', path: ['min'] });

export type WorkerPoolConfig = z.output<typeof workerPoolSchema>;
