/**
 * The ioredis client for a `redis` section, in each of its forms: one node (`url`), the master of a Sentinel set,
 * or a Cluster. Every form gets the same failure bounds: no offline queue, a command never re-sent, a bounded
 * command and connect time, a capped jittered reconnect. ioredis does the topology work (asking the sentinels,
 * following MOVED/ASK, refreshing slots); the options here only bound how long anything may wait on it.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisMode, type RedisConfig } from './config.js';

/** Both client classes answer the same commands; pub/sub and duplication differ (see `subscriberOf`). */
export type RedisClient = Redis | Cluster;

const FIRST_RECONNECT_DELAY = 50;
const DISCONNECT_TIMEOUT = 500;
/**
 * Cluster: how many MOVED/ASK/TRYAGAIN hops one command may take. After a failover the first hop finds the
 * slot moved; a second covers a migration in progress. Each hop is bounded by commandTimeout.
 */
export const CLUSTER_MAX_REDIRECTIONS = 3;
/** Cluster: pause before retrying a multi-key command on a slot being migrated (TRYAGAIN; never executed). */
const TRYAGAIN_DELAY = 50;

/**
 * Delay before reconnect attempt `attempt` (1-based): exponential from 50ms, capped at `maxDelay`, with equal
 * jitter (half fixed, half random) so instances that lost Redis together do not reconnect in lockstep.
 */
export function reconnectDelay(attempt: number, maxDelay: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxDelay, FIRST_RECONNECT_DELAY * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** ioredis options for one Portico connection to a data node; every line is a failure bound. */
export function clientOptions(config: RedisConfig, name: string): RedisOptions {
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
    // A closing socket that does not finish its FIN handshake is destroyed after this (ioredis default: 2s).
    disconnectTimeout: DISCONNECT_TIMEOUT,
    socketTimeout: config.socketTimeout > 0 ? config.socketTimeout : undefined,
    retryStrategy: (attempt: number) => reconnectDelay(attempt, config.maxReconnectDelay),
    reconnectOnError: () => false,
    // ioredis 6 registers for Redis Enterprise maintenance notices by default, and during a maintenance window
    // relaxes command and socket timeouts to 10 s: that would lift the bounds above exactly when nodes move.
    maintNotifications: 'disabled',
  };
}

/** Credentials and TLS for data nodes reached through Sentinel or Cluster (a `url` carries its own). */
function nodeAuth(config: RedisConfig): RedisOptions {
  return {
    ...(config.username !== '' && { username: config.username }),
    ...(config.password !== '' && { password: config.password }),
    ...(config.tls && { tls: {} }),
  };
}

/** Sentinel: the client asks the sentinels for the master, and asks again on every reconnect. */
export function sentinelOptions(config: RedisConfig, name: string): RedisOptions {
  const backoff = (attempt: number): number => reconnectDelay(attempt, config.maxReconnectDelay);
  return {
    ...clientOptions(config, name),
    ...nodeAuth(config),
    sentinels: config.sentinels.map(({ host, port }) => ({ host, port })),
    name: config.name,
    role: 'master',
    db: config.db,
    ...(config.sentinelPassword !== '' && { sentinelPassword: config.sentinelPassword }),
    enableTLSForSentinelMode: config.tls,
    // Bound on one question to one sentinel; an unanswered sentinel is skipped for the next.
    sentinelCommandTimeout: config.connectTimeout,
    // No sentinel answered: try them all again after the same capped back-off as a lost connection.
    sentinelRetryStrategy: backoff,
    sentinelReconnectStrategy: backoff,
    // Subscribes to +switch-master so a failover moves the connection at once, not at the next failed command.
    failoverDetector: true,
    // A demoted master answers writes with READONLY: reconnect (asking the sentinels again), never re-send.
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 1 : false),
  };
}

/** Cluster: MOVED/ASK are followed; a connection lost mid-command and CLUSTERDOWN fail the command at once. */
export function clusterOptions(config: RedisConfig, name: string): ClusterOptions {
  // The Cluster client reconnects its nodes itself and never registers them for maintenance notices.
  const {
    retryStrategy: _nodesNeverReconnect,
    maintNotifications: _clusterDisablesNotices,
    ...perNode
  } = clientOptions(config, name);
  return {
    enableOfflineQueue: false,
    scaleReads: 'master',
    maxRedirections: CLUSTER_MAX_REDIRECTIONS,
    retryDelayOnMoved: 0,
    // 0 disables the retry: the command may have been applied before the connection dropped (no double count).
    retryDelayOnFailover: 0,
    // The slot has no master right now: the policy's onStoreError applies instead of waiting for one.
    retryDelayOnClusterDown: 0,
    retryDelayOnTryAgain: TRYAGAIN_DELAY,
    // The whole cluster unreachable: rediscover it from the seed nodes with the capped back-off.
    clusterRetryStrategy: (attempt: number) => reconnectDelay(attempt, config.maxReconnectDelay),
    slotsRefreshTimeout: config.connectTimeout,
    redisOptions: { ...perNode, ...nodeAuth(config) },
    // TLS certificates name hosts, not the addresses a lookup returns (managed clusters announce hostnames).
    ...(config.tls && {
      dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address),
    }),
  };
}

/** A new client for `config` (not `memory`); `name` tags its connections (`CLIENT LIST` shows portico-<name>). */
export function connectRedis(config: RedisConfig, name: string): RedisClient {
  const mode = redisMode(config);
  if (mode === 'cluster')
    return new Cluster(
      config.cluster.map(({ host, port }) => ({ host, port })),
      clusterOptions(config, name),
    );
  if (mode === 'sentinel') return new Redis(sentinelOptions(config, name));
  if (mode === 'single') return new Redis(config.url, clientOptions(config, name));
  throw new Error('connectRedis: the redis section configures no Redis');
}

/**
 * A dedicated connection for SUBSCRIBE (a subscribed connection can do nothing else), to the same deployment:
 * offline queue on and no command timeout, so a subscribe waits for the connection instead of failing.
 */
export function subscriberOf(client: RedisClient): RedisClient {
  if (client instanceof Cluster) {
    return client.duplicate([], {
      enableOfflineQueue: true,
      redisOptions: { ...client.options.redisOptions, commandTimeout: undefined },
    });
  }
  return client.duplicate({
    enableOfflineQueue: true,
    commandTimeout: undefined,
    autoResubscribe: false,
    lazyConnect: false,
  });
}
