import { z } from 'zod';
import { duration } from '../config/duration.js';

/** `redis`: empty url means in-process stores (one instance only). */
export const redisSchema = z
  .strictObject({
    /** `redis://[user:pass@]host:port[/db]` or `rediss://…` (TLS). */
    url: z.string().default(''),
    /** Bound on any single command; past it the caller gets a store error (never a hang). */
    commandTimeout: duration({ min: 1 }).default(250),
    connectTimeout: duration({ min: 1 }).default(1000),
    /**
     * A connection that sends nothing back for this long while commands wait is dropped and reconnected, so a
     * hung Redis turns into fast failures instead of one commandTimeout per request. 0 disables.
     */
    socketTimeout: duration().default(1000),
    /** Reconnect back-off: exponential from 50ms, jittered, never above this. */
    maxReconnectDelay: duration({ min: 50 }).default(2000),
  })
  .prefault({});

export type RedisConfig = z.output<typeof redisSchema>;
