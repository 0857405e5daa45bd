/**
 * Redis-backed stores: one dedicated ioredis client for rate limits and one for the user cache, both built so that
 * a dead or hung Redis fails fast and is never waited on: no offline queue, no per-request retries, bounded
 * command and connect times, a capped jittered reconnect. Health changes are logged once per transition.
 */
import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from './config.js';
import { connectRedis, type RedisClient } from './connect.js';
import type { StoreClientName, StoreHealth, Stores } from './stores.js';

export { clientOptions, reconnectDelay } from './connect.js';

/** Bound on a graceful QUIT at shutdown before the socket is simply dropped. */
const QUIT_TIMEOUT = 500;

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
  readonly client: RedisClient;
  readonly health: ClientHealth;
}

function openClient(config: RedisConfig, name: StoreClientName, logger: Logger): OpenClient {
  const client = connectRedis(config, name);
  const health = new ClientHealth(name, logger);
  client.on('ready', () => health.recover());
  // The listener is required: an unhandled 'error' event would crash the process.
  client.on('error', (err: unknown) => health.degrade(err));
  client.on('close', () => health.degrade(new Error('connection closed')));
  // Cluster: one node failing leaves the client 'ready' (other slots still answer); the node's error is the news.
  client.on('node error', (err: unknown, node: string) => health.degrade(new Error(`${node}: ${describe(err)}`)));
  return { client, health };
}

/** Resolves when the client is ready or `ms` passed, whichever comes first; never rejects. */
function statusReady(client: RedisClient, ms: number): Promise<void> {
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
 * As `statusReady`, and for a Cluster also opens every master connection: ioredis opens them lazily, and while
 * one is still in its handshake, commands for its slots fail at once (no offline queue), so the first burst of
 * traffic would meet the fallback. Each ping is bounded by commandTimeout.
 */
async function readyWithin(client: RedisClient, ms: number): Promise<void> {
  await statusReady(client, ms);
  if (client instanceof Cluster && client.status === 'ready') {
    await Promise.all(client.nodes('master').map((node) => node.ping().catch(() => undefined)));
  }
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
      // QUIT leaves a Sentinel client's failover-detector connections open (and reconnecting); this ends them.
      if (!(client instanceof Cluster)) client.disconnect();
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
