import { z } from 'zod';
import { duration } from '../config/duration.js';

/** `workerPool`: the in-process pool that runs background work (cache fills, mirrored requests). */
export const workerPoolSchema = z
  .strictObject({
    min: z
      .number()
      .int()
      .min(0)
      .default(2)
      .describe('Workers kept alive however idle; the pool never shrinks below this.'),
    max: z.number().int().min(1).default(32).describe('Concurrent tasks at most; further work waits in the queue.'),
    queue: z
      .number()
      .int()
      .min(0)
      .default(1000)
      .describe('Tasks that may wait for a worker; a submit beyond it is refused at once (PORTICO_QUEUE_FULL).'),
    idleTimeout: duration().default(30_000).describe('A worker above `min` that sits idle this long stops.'),
    taskTimeout: duration({ min: 1 })
      .default(10_000)
      .describe(
        'Timeout of a task whose submitter gives none; every task has one (a task that never ends must not hold a worker forever).',
      ),
  })
  .prefault({})
  .refine((pool) => pool.min <= pool.max, { message: 'workerPool.min must not exceed workerPool.max', path: ['min'] })
  .describe('The in-process pool that runs background work (cache fills, mirrored requests, async route deliveries).');

export type WorkerPoolConfig = z.output<typeof workerPoolSchema>;
