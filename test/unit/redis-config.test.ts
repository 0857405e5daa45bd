/**
 * The `redis` section's three forms (url, Sentinel, Cluster), the errors for mixing them, and the ioredis options
 * each form gets: the same failure bounds everywhere.
 */
import { loadConfigText } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/config-error.js';
import { defaultRegistry } from '../../src/middleware/registry.js';
import { parseRedisNode, redisMode, redisSchema } from '../../src/stores/config.js';
import { CLUSTER_MAX_REDIRECTIONS, clusterOptions, sentinelOptions } from '../../src/stores/connect.js';

function errorOf(text: string, env: Record<string, string> = {}): string {
  try {
    loadConfigText(text, 'redis.yaml', { registry: defaultRegistry, env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('loaded without error');
}

describe('redis forms', () => {
  test('nothing configured: in-process stores', () => {
    expect(redisMode(redisSchema.parse({}))).toBe('memory');
  });

  test('url, sentinels + name, cluster', () => {
    expect(redisMode(redisSchema.parse({ url: 'redis://127.0.0.1:6379' }))).toBe('single');
    const sentinel = redisSchema.parse({ sentinels: ['10.0.0.1:26379', '[::1]:26380'], name: 'main' });
    expect(redisMode(sentinel)).toBe('sentinel');
    expect(sentinel.sentinels).toEqual([
      { host: '10.0.0.1', port: 26379 },
      { host: '::1', port: 26380 },
    ]);
    const cluster = redisSchema.parse({ cluster: ['redis-0.redis:6379', 'redis-1.redis:6379'] });
    expect(redisMode(cluster)).toBe('cluster');
    expect(cluster.cluster.map((node) => node.host)).toEqual(['redis-0.redis', 'redis-1.redis']);
  });

  test('a node list can come from one environment variable, comma-separated; empty means none', () => {
    const text = 'redis:\n  cluster: ${REDIS_CLUSTER:-}\n';
    const load = (env: Record<string, string>) =>
      loadConfigText(text, 'redis.yaml', { registry: defaultRegistry, env }).redis;
    expect(load({ REDIS_CLUSTER: 'a:7000, b:7001,c:7002' }).cluster).toEqual([
      { host: 'a', port: 7000 },
      { host: 'b', port: 7001 },
      { host: 'c', port: 7002 },
    ]);
    expect(redisMode(load({}))).toBe('memory');
  });

  test('node addresses need a host and a valid port', () => {
    expect(parseRedisNode('redis:6379')).toEqual({ host: 'redis', port: 6379 });
    for (const bad of ['redis', ':6379', 'redis:0', 'redis:70000', 'a b:1', 'redis://x:1'])
      expect(parseRedisNode(bad)).toBeUndefined();
  });
});

describe('redis errors name the key and the fix', () => {
  test.each([
    [
      'redis:\n  url: redis://a:6379\n  cluster: [b:7000]\n',
      'redis.yaml:3:12: redis.cluster: use one of redis.url, redis.sentinels, redis.cluster (found url and cluster)',
    ],
    [
      'redis:\n  sentinels: [a:26379]\n',
      'redis.yaml:2:3: redis.name: redis.sentinels needs redis.name, the master set to ask for',
    ],
    ['redis:\n  cluster: [a:7000]\n  name: main\n', 'redis.yaml:3:9: redis.name: only applies with redis.sentinels'],
    ['redis:\n  cluster: [a:7000]\n  db: 2\n', 'redis.yaml:3:7: redis.db: a cluster only has database 0'],
    [
      'redis:\n  url: redis://a:6379\n  password: secret\n',
      'redis.yaml:3:13: redis.password: put the password in redis.url (redis://user:pass@host:port)',
    ],
    ['redis:\n  url: redis://a:6379\n  tls: true\n', 'redis.yaml:3:8: redis.tls: use a rediss:// url for TLS'],
    [
      'redis:\n  cluster: [a:7000, nope]\n',
      'redis.yaml:2:12: redis.cluster: invalid Redis node "nope" (use host:port)',
    ],
  ])('%j', (text, expected) => {
    expect(errorOf(text)).toBe(expected);
  });
});

describe('every form keeps the failure bounds', () => {
  const bounds = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: 100,
    connectTimeout: 300,
  };

  test('Sentinel: bounded questions to the sentinels, capped back-off, READONLY reconnects without re-sending', () => {
    const options = sentinelOptions(
      redisSchema.parse({
        sentinels: 'a:26379',
        name: 'main',
        commandTimeout: '100ms',
        connectTimeout: '300ms',
        password: 'p',
        db: 3,
      }),
      'limit',
    );
    expect(options).toMatchObject({
      ...bounds,
      name: 'main',
      role: 'master',
      sentinels: [{ host: 'a', port: 26379 }],
      password: 'p',
      db: 3,
      sentinelCommandTimeout: 300,
      failoverDetector: true,
    });
    expect(options.sentinelRetryStrategy?.(100)).toBeLessThanOrEqual(2000);
    expect(options.reconnectOnError?.(new Error("READONLY You can't write against a read only replica."))).toBe(1);
    expect(options.reconnectOnError?.(new Error('ERR other'))).toBe(false);
  });

  test('Cluster: no offline queue, no retry of a command a lost connection may have applied, bounded redirections', () => {
    const options = clusterOptions(
      redisSchema.parse({ cluster: 'a:7000', commandTimeout: '100ms', connectTimeout: '300ms', tls: true }),
      'cache',
    );
    expect(options).toMatchObject({
      enableOfflineQueue: false,
      scaleReads: 'master',
      maxRedirections: CLUSTER_MAX_REDIRECTIONS,
      retryDelayOnFailover: 0,
      retryDelayOnClusterDown: 0,
      slotsRefreshTimeout: 300,
      redisOptions: { ...bounds, connectionName: 'portico-cache', tls: {} },
    });
    expect(options.clusterRetryStrategy?.(100, new Error('x'))).toBeLessThanOrEqual(2000);
  });
});
