/**
 * ioredis, as src/middleware/rate-limit/redis-limiter.ts uses it: the per-command timer of `commandTimeout` is armed
 * from the client's options as each command is sent, so lifting the option while a turn's commands are issued leaves
 * them to the coalescing limiter's one deadline. Against a redis-server of the test's own, paused (SIGSTOP) so that
 * no reply comes.
 */
import { Redis } from 'ioredis';
import { startRedisServer, type RedisServer } from '../helpers/redis-server';
import { START_TIMEOUT_MS } from '../helpers/wait';
import { assumption } from './support';

const TIMEOUT_MS = 50;
let redis: RedisServer;
let client: Redis;

beforeAll(async () => {
  redis = await startRedisServer();
  client = new Redis({ port: redis.port, host: '127.0.0.1', lazyConnect: true, commandTimeout: TIMEOUT_MS });
  await client.connect();
}, START_TIMEOUT_MS);

afterAll(async () => {
  redis.resume();
  client.disconnect();
  await redis.kill();
});

assumption(
  "ioredis arms a command's `commandTimeout` timer from `client.options.commandTimeout` when the command is sent: a command sent while the option is undefined gets none",
  'src/middleware/rate-limit/redis-limiter.ts groupFor(): lifts the option while a turn of rate-limit commands is issued and bounds the turn with one timer instead (coalesce.ts)',
  async () => {
    redis.pause();
    const { options } = client;
    options.commandTimeout = undefined;
    let liftedOutcome = 'pending';
    const lifted = client.get('lifted').then(
      () => (liftedOutcome = 'resolved'),
      (err: Error) => (liftedOutcome = err.message),
    );
    options.commandTimeout = TIMEOUT_MS;
    // Sent after the first with the same timeout: a timer of the first would have fired before this one's.
    await expect(client.get('bounded')).rejects.toThrow('Command timed out');
    await new Promise((resolve) => setImmediate(resolve));
    expect(liftedOutcome).toBe('pending');
    redis.resume();
    await lifted;
    expect(liftedOutcome).toBe('resolved');
  },
);
