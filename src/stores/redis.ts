/**
 * Redis-backed stores: one dedicated ioredis client for rate limits and one for the user cache, both built so that
 * a dead or hung Redis fails fast and is never waited on: no offline queue, no per-request retries, bounded
 * command and connect times, a capped jittered reconnect. Health changes are logged once per transition.
 */
import { Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisConfig } from './config.js';
import { connectRedis, type RedisClient } from './connect.js';
import { Episode } from './episode.js';
import type { StoreClientName, StoreHealth, Stores } from './stores.js';

export { clientOptions, reconnectDelay } from './connect.js';

/** Bound on a graceful QUIT at shutdown before the socket is simply dropped. */
const QUIT_TIMEOUT = 500;

function describe(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}

/**
 * Health of one client: healthy, or degraded with the reason of the latest failure. Changes are logged through an
 * Episode (./episode.ts): one line when it degrades and one when it recovers, and for a client that fails and
 * answers by turns (a Cluster with one master lost) a "flapping" notice at most every 30 s instead of a pair of
 * lines per request.
 */
class ClientHealth {
  healthy = false;
  reason = 'connecting';
  /** When the episode began, and the failure that began it: for the recovery line. */
  private since = Date.now();
  private cause = '';
  private closing = false;
  private readonly episode = new Episode();

  constructor(
    readonly name: StoreClientName,
    private readonly logger: Logger,
  ) {}

  /** A call answered, or the connection became ready. Cheap when nothing is or was wrong. */
  recover(): void {
    if (this.healthy && this.episode.flaps === 0) return;
    if (this.reason === 'connecting') {
      this.healthy = true;
      this.reason = '';
      this.logger.info({ client: this.name }, 'redis connected');
      return;
    }
    this.healthy = true;
    if (this.episode.success() !== 'recovered') return;
    const flaps = this.episode.reported;
    this.logger.info(
      { client: this.name, downMs: Date.now() - this.since, cause: this.cause, ...(flaps > 0 ? { flaps } : {}) },
      'redis recovered',
    );
  }

  degrade(err: unknown): void {
    if (this.closing) return;
    if (!this.healthy && this.reason !== 'connecting') {
      this.episode.failure(); // still failing: only the time of the latest failure moves
      return;
    }
    this.healthy = false;
    this.reason = describe(err);
    const change = this.episode.failure();
    if (change === 'degraded') {
      this.since = Date.now();
      this.cause = this.reason;
      this.logger.warn(
        { client: this.name, cause: this.reason },
        'redis degraded: users of this client run on their fallback',
      );
    } else if (change === 'flapping') {
      this.logger.warn(
        { client: this.name, cause: this.reason, flaps: this.episode.reported },
        'redis flapping: calls fail and answer by turns (a partly failed cluster?); failing calls run on their fallback',
      );
    }
  }

  /** Flapping, and not yet quiet for long enough: answers must still be reported to end it. */
  get flapping(): boolean {
    return this.episode.flaps > 0;
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
export function statusReady(client: RedisClient, ms: number): Promise<void> {
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
  await Promise.all([
    readyWithin(limit.client, config.connectTimeout),
    readyWithin(cache.client, config.connectTimeout),
  ]);
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
      if (!health.healthy || health.flapping) health.recover();
    },
    async close() {
      await Promise.all([closeClient(limit), closeClient(cache)]);
    },
  };
}
