import { z } from 'zod';
import { duration } from '../config/duration.js';

/** `redis`: empty url means in-process stores (one instance only). */
export const redisSchema = z
  .strictObject({
    url: z.string().default(''),
    /** Bound on any single command; past it the caller gets a store error (never a hang). */
    commandTimeout: duration({ min: 1 }).default(250),
    connectTimeout: duration({ min: 1 }).default(1000),
  })
  .prefault({});

export type RedisConfig = z.output<typeof redisSchema>;
