/**
 * Redis-backed stores: one dedicated ioredis client for rate limits and one for the user cache, both built so that
 * a dead or hung Redis fails fast and is never waited on: no offline queue, no per-request retries, bounded
 * command and connect times, a capped jittered reconnect. Health changes are logged once per transition.
 */
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from './config.js';
import type { StoreClientName, StoreHealth, Stores } from './stores.js';

const FIRST_RECONNECT_DELAY = 50;
/** Bound on a graceful QUIT at shutdown before the socket is simply dropped. */
const QUIT_TIMEOUT = 500;

/**
 * Delay before reconnect attempt `attempt` (1-based): exponential from 50ms, capped at `maxDelay`, with equal
 * jitter (half fixed, half random) so instances that lost Redis together do not reconnect in lockstep.
 */
export function reconnectDelay(attempt: number, maxDelay: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelay, FIRST_RECONNECT_DELAY * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** ioredis options for one Portico client; every line is a failure bound. */
export function clientOptions(config: RedisConfig, name: StoreClientName): RedisOptions {
  return {
    connectionName: `portico-${name}`,
    // A command issued while disconnected fails at once instead of waiting for a reconnect.
    enableOfflineQueue: false,
    // A command in flight when the connection drops fails; it is never sent again...
    maxRetriesPerRequest: 0,
    // ...because re-sending an INCR that Redis may already have applied would count it twice.
    autoResendUnfulfilledCommands: false,
    commandTimeout: config.commandTimeout,
    connectTimeout: config.connectTimeout,
    socketTimeout: config.socketTimeout > 0 ? config.socketTimeout : undefined,
    retryStrategy: (attempt: number) => reconnectDelay(attempt, config.maxReconnectDelay),
    reconnectOnError: () => false,
  };
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/** Health of one client: healthy, or degraded with the reason that started the episode. */
class ClientHealth {
  healthy = false;
  reason = 'connecting';
  private since = Date.now();
  private closing = false;

  constructor(
    readonly name: StoreClientName,
    private readonly logger: Logger,
  ) {}

  recover(): void {
    if (this.healthy) return;
    const first = this.reason === 'connecting';
    this.healthy = true;
    if (first) this.logger.info({ client: this.name }, 'redis connected');
    else this.logger.info({ client: this.name, downMs: Date.now() - this.since, cause: this.reason }, 'redis recovered');
    this.reason = '';
  }

  degrade(err: unknown): void {
    if (this.closing || (!this.healthy && this.reason !== 'connecting')) return;
    this.healthy = false;
    this.reason = describe(err);
    this.since = Date.now();
    this.logger.warn({ client: this.name, cause: this.reason }, 'redis degraded: users of this client run on their fallback');
  }

  close(): void {
    this.closing = true;
  }
}

interface OpenClient {
  readonly client: Redis;
  readonly health: ClientHealth;
}

function openClient(config: RedisConfig, name: StoreClientName, logger: Logger): OpenClient {
  const client = new Redis(config.url, clientOptions(config, name));
  const health = new ClientHealth(name, logger);
  client.on('ready', () => health.recover());
  // The listener is required: an unhandled 'error' event would crash the process.
  client.on('error', (err: unknown) => health.degrade(err));
  client.on('close', () => health.degrade(new Error('connection closed')));
  return { client, health };
}

/** Resolves when the client is ready or `ms` passed, whichever comes first; never rejects. */
function readyWithin(client: Redis, ms: number): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      client.off('ready', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    client.once('ready', done);
  });
}

/**
 * QUIT when connected, else drop the socket and cancel any pending reconnect. Bounded by QUIT_TIMEOUT: a client
 * between reconnect attempts never emits 'end', so the wait cannot rely on it alone.
 */
async function closeClient({ client, health }: OpenClient): Promise<void> {
  health.close();
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      client.disconnect();
      resolve();
    }, QUIT_TIMEOUT);
    timer.unref();
    // Not events.once: it would reject on an 'error' emitted while closing.
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    client.quit().catch(() => client.disconnect());
  });
}

export async function createRedisStores(config: RedisConfig, logger: Logger): Promise<Stores> {
  const log = logger.child({ component: 'stores' });
  const limit = openClient(config, 'limit', log);
  const cache = openClient(config, 'cache', log);
  const byName: Readonly<Record<StoreClientName, ClientHealth>> = { limit: limit.health, cache: cache.health };
  await Promise.all([readyWithin(limit.client, config.connectTimeout), readyWithin(cache.client, config.connectTimeout)]);
  return {
    kind: 'redis',
    limitClient: limit.client,
    cacheClient: cache.client,
    health(): StoreHealth {
      const degraded = [limit.health, cache.health].filter((h) => !h.healthy);
      if (degraded.length === 0) return { kind: 'redis', healthy: true };
      return { kind: 'redis', healthy: false, detail: degraded.map((h) => `${h.name}: ${h.reason}`).join('; ') };
    },
    reportFailure(client, err) {
      byName[client].degrade(err);
    },
    reportSuccess(client) {
      const health = byName[client];
      if (!health.healthy) health.recover();
    },
    async close() {
      await Promise.all([closeClient(limit), closeClient(cache)]);
    },
  };
}
