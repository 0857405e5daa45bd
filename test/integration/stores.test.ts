import pino from 'pino';
import { Redis } from 'ioredis';
import { redisSchema } from '../../src/stores/config.js';
import { clientOptions, reconnectDelay } from '../../src/stores/redis.js';
import { createStores, type Stores } from '../../src/stores/stores.js';
import { closedPort } from '../helpers/upstream.js';
import { captureLogs, type CapturedLogs } from '../helpers/logs.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { settlesAtOnce, waitFor } from '../helpers/wait.js';

interface LogLine {
  level: number;
  msg: string;
  client?: string;
  cause?: string;
}

const capturingLogger = (): CapturedLogs<LogLine> => captureLogs<LogLine>();

const opened: Stores[] = [];
const servers: RedisServer[] = [];
afterEach(async () => {
  for (const stores of opened.splice(0)) await stores.close();
  for (const server of servers.splice(0)) await server.kill();
});

async function stores(config: Record<string, unknown>, logger = pino({ level: 'silent' })): Promise<Stores> {
  const created = await createStores(redisSchema.parse(config), logger);
  opened.push(created);
  return created;
}

const count = (lines: LogLine[], msg: string, client: string): number =>
  lines.filter((line) => line.msg.startsWith(msg) && line.client === client).length;

/** Counts the connection attempts (the first and each reconnect) a client makes from now on. */
function attempts(client: Stores['limitClient']): () => number {
  let made = 0;
  client?.on('connecting', () => made++);
  return () => made;
}

describe('redis client options', () => {
  test('every command fails fast and is never re-sent: no offline queue, no retries, bounded times', () => {
    const options = clientOptions(
      redisSchema.parse({ url: 'redis://127.0.0.1:6379', commandTimeout: '100ms' }),
      'limit',
    );
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: 100,
      connectTimeout: 1000,
      socketTimeout: 1000,
      connectionName: 'portico-limit',
    });
    expect(
      clientOptions(redisSchema.parse({ url: 'redis://x', socketTimeout: 0 }), 'cache').socketTimeout,
    ).toBeUndefined();
  });

  test('reconnect delay grows exponentially, is jittered, and is capped', () => {
    expect(reconnectDelay(1, 2000, () => 0)).toBe(25);
    expect(reconnectDelay(1, 2000, () => 1)).toBe(50);
    expect(reconnectDelay(3, 2000, () => 1)).toBe(200);
    expect(reconnectDelay(50, 2000, () => 1)).toBe(2000);
    expect(reconnectDelay(50, 2000, () => 0)).toBe(1000);
    const delays = new Set(Array.from({ length: 20 }, () => reconnectDelay(10, 2000)));
    expect(delays.size).toBeGreaterThan(1);
    for (const delay of delays) expect(delay).toBeLessThanOrEqual(2000);
  });

  test('the redis section defaults to no url (in-process stores)', () => {
    expect(redisSchema.parse({}).url).toBe('');
  });
});

describe('createStores', () => {
  test('an empty url gives in-process stores, always healthy', async () => {
    const created = await stores({});
    expect(created.kind).toBe('memory');
    expect(created.limitClient).toBeUndefined();
    expect(created.health()).toEqual({ kind: 'memory', healthy: true });
  });

  test('closing while Redis is down returns at once and stops reconnecting', async () => {
    const config = {
      url: `redis://127.0.0.1:${await closedPort()}`,
      connectTimeout: '100ms',
      maxReconnectDelay: '50ms',
    };
    const created = await createStores(redisSchema.parse(config), pino({ level: 'silent' }));
    // At once: no QUIT and no wait for one, only microtasks (an order, not a duration).
    expect(await settlesAtOnce(created.close())).toBe('first');
    const closedAttempts = attempts(created.limitClient);
    // A control on the same dead port with the same reconnect settings, left open: once it has tried three more
    // times, a reconnect strategy still alive in the closed client would have tried too.
    const control = attempts((await stores(config)).limitClient);
    await waitFor(() => control() >= 3, { message: 'the control client to reconnect three times' });
    expect(closedAttempts()).toBe(0);
  });

  test('a redis url gives two ready clients, healthy, closed cleanly', async () => {
    const created = await createStores(redisSchema.parse({ url: 'redis://127.0.0.1:6379' }), pino({ level: 'silent' }));
    expect(created.kind).toBe('redis');
    expect(created.limitClient?.status).toBe('ready');
    expect(created.cacheClient?.status).toBe('ready');
    expect(created.limitClient).not.toBe(created.cacheClient);
    expect(await created.limitClient?.ping()).toBe('PONG');
    expect(created.health()).toEqual({ kind: 'redis', healthy: true });
    await created.close();
    expect(created.limitClient?.status).toBe('end');
  });

  test('a Redis down at start: startup is bounded, commands fail at once, degraded logged once, recovery logged once', async () => {
    const port = await closedPort();
    const { logger, lines } = capturingLogger();
    const started = Date.now();
    const created = await stores(
      { url: `redis://127.0.0.1:${port}`, connectTimeout: '300ms', maxReconnectDelay: '100ms' },
      logger,
    );
    // Bounded by connectTimeout (300 ms) + slack for a busy machine; unbounded it would wait for Redis forever.
    expect(Date.now() - started).toBeLessThan(300 + 3000);
    const health = created.health();
    expect(health.healthy).toBe(false);
    expect(health.detail).toMatch(/limit: .*ECONNREFUSED/);

    // At once: rejected without a timer or a round trip (an order, not a duration).
    const command = (created.limitClient as Redis).get('x');
    expect(await settlesAtOnce(command)).toBe('first');
    await expect(command).rejects.toThrow();

    // Several reconnect attempts happen (100ms cap); the transition is still logged once per client.
    const limitAttempts = attempts(created.limitClient);
    const cacheAttempts = attempts(created.cacheClient);
    await waitFor(() => limitAttempts() >= 3 && cacheAttempts() >= 3, { message: 'three reconnects per client' });
    expect(count(lines, 'redis degraded', 'limit')).toBe(1);
    expect(count(lines, 'redis degraded', 'cache')).toBe(1);

    servers.push(await startRedisServer(port));
    await waitFor(() => created.health().healthy, { message: 'stores to recover' });
    expect(await created.limitClient?.ping()).toBe('PONG');
    expect(count(lines, 'redis recovered', 'limit')).toBe(1);
    expect(count(lines, 'redis recovered', 'cache')).toBe(1);
  });

  test('command failures reported by users degrade health once; the next success recovers it', async () => {
    const { logger, lines } = capturingLogger();
    const created = await stores({ url: 'redis://127.0.0.1:6379' }, logger);
    created.reportFailure('limit', new Error('Command timed out'));
    created.reportFailure('limit', new Error('Command timed out'));
    expect(created.health()).toEqual({ kind: 'redis', healthy: false, detail: 'limit: Command timed out' });
    created.reportSuccess('limit');
    created.reportSuccess('limit');
    expect(created.health().healthy).toBe(true);
    expect(count(lines, 'redis degraded', 'limit')).toBe(1);
    expect(count(lines, 'redis recovered', 'limit')).toBe(1);
    expect(count(lines, 'redis connected', 'limit')).toBe(1);
  });

  test('a client failing and answering by turns (a partly failed cluster) logs a flapping notice, not a pair of lines per call', async () => {
    const { logger, lines } = capturingLogger();
    const created = await stores({ url: 'redis://127.0.0.1:6379' }, logger);
    for (let i = 0; i < 200; i++) {
      created.reportFailure('limit', new Error(`CLUSTERDOWN The cluster is down (${i})`));
      expect(created.health().healthy).toBe(false); // readiness still follows every call
      created.reportSuccess('limit');
      expect(created.health().healthy).toBe(true);
    }
    expect(count(lines, 'redis degraded', 'limit')).toBe(1);
    expect(count(lines, 'redis recovered', 'limit')).toBe(1);
    expect(count(lines, 'redis flapping', 'limit')).toBe(1);
    expect(lines.filter((line) => line.client === 'limit').length).toBeLessThanOrEqual(4); // + 'redis connected'
  });

  test('a Redis killed while connected: degraded, then back after a restart on its own', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const created = await stores({ url: server.url, maxReconnectDelay: '100ms' });
    expect(created.health().healthy).toBe(true);
    await server.kill();
    const both = (): boolean => /limit: .*cache: /.test(created.health().detail ?? '');
    await waitFor(both, { message: 'both clients degraded' });
    expect(created.health().healthy).toBe(false);
    await server.restart();
    await waitFor(() => created.health().healthy, { message: 'recovered health' });
    expect(await created.limitClient?.ping()).toBe('PONG');
  });
});
