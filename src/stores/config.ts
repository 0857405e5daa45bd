import { z } from 'zod';
import { duration } from '../config/duration.js';

export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** `host:port` or `[v6]:port`; the port is required (Sentinel and Cluster nodes rarely sit on 6379 alone). */
export function parseRedisNode(text: string): RedisNode | undefined {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[3]);
  if (!match || port < 1 || port > 65535) return undefined;
  return { host: match[1] ?? match[2] ?? '', port };
}

/**
 * A list of `host:port`, as a YAML list or one comma-separated string (so `${REDIS_SENTINELS:-}` can carry it);
 * an empty string is an empty list.
 */
const nodeList = z.union([z.array(z.string()), z.string()]).transform((value, ctx) => {
  const texts = (Array.isArray(value) ? value : value.split(','))
    .map((text) => text.trim())
    .filter((text) => text !== '');
  const nodes: RedisNode[] = [];
  for (const text of texts) {
    const node = parseRedisNode(text);
    if (node) nodes.push(node);
    else ctx.addIssue({ code: 'custom', message: `invalid Redis node "${text}" (use host:port)` });
  }
  return nodes;
});

/** `redis`: one of `url`, `sentinels` + `name`, or `cluster`; none of them means in-process stores. */
export const redisSchema = z
  .strictObject({
    url: z
      .string()
      .default('')
      .describe(
        'One Redis node: `redis://[user:pass@]host:port[/db]`, or `rediss://…` for TLS. Empty (and no `sentinels` or `cluster`): in-process stores, one instance only.',
      ),
    sentinels: nodeList
      .default([])
      .describe(
        'Redis Sentinel addresses (`host:port`, a list or comma-separated); Portico asks them for the current master of `name`.',
      ),
    name: z.string().default('').describe('With `sentinels`: the name of the monitored master set.'),
    cluster: nodeList
      .default([])
      .describe(
        'Redis Cluster seed nodes (`host:port`, a list or comma-separated); the rest of the cluster is discovered from them.',
      ),
    username: z
      .string()
      .default('')
      .describe('With `sentinels` or `cluster`: ACL user on the data nodes (with `url`, put it in the URL).'),
    password: z
      .string()
      .default('')
      .describe('With `sentinels` or `cluster`: password on the data nodes (with `url`, put it in the URL).'),
    sentinelPassword: z
      .string()
      .default('')
      .describe('With `sentinels`: password of the Sentinel processes themselves, when they require one.'),
    db: z
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('With `sentinels`: database number (a cluster only has database 0).'),
    tls: z
      .boolean()
      .default(false)
      .describe('With `sentinels` or `cluster`: connect to the data nodes over TLS (with `url`, use `rediss://`).'),
    commandTimeout: duration({ min: 1 })
      .default(250)
      .describe(
        'Bound on any single command; past it the caller gets a store error (never a hang). On a cluster a command redirected during a failover may take up to 3 of these.',
      ),
    connectTimeout: duration({ min: 1 })
      .default(1000)
      .describe('Bound on opening a connection (and, with Sentinel or Cluster, on asking for the topology).'),
    socketTimeout: duration()
      .default(1000)
      .describe(
        'A connection that sends nothing back for this long while commands wait is dropped and reconnected, so a hung Redis turns into fast failures instead of one commandTimeout per request. 0 disables.',
      ),
    maxReconnectDelay: duration({ min: 50 })
      .default(2000)
      .describe('Reconnect back-off: exponential from 50ms, jittered, never above this.'),
  })
  .prefault({})
  .superRefine((redis, ctx) => {
    const forms = [
      redis.url !== '' && 'url',
      redis.sentinels.length > 0 && 'sentinels',
      redis.cluster.length > 0 && 'cluster',
    ].filter((form) => form !== false);
    if (forms.length > 1)
      ctx.addIssue({
        code: 'custom',
        path: [forms[1] as string],
        message: `use one of redis.url, redis.sentinels, redis.cluster (found ${forms.join(' and ')})`,
      });
    const form = forms[0];
    if (form === 'sentinels' && redis.name === '')
      ctx.addIssue({
        code: 'custom',
        path: ['name'],
        message: 'redis.sentinels needs redis.name, the master set to ask for',
      });
    const misplaced: Array<[keyof typeof redis, boolean, string]> = [
      ['name', redis.name !== '' && form !== 'sentinels', 'only applies with redis.sentinels'],
      ['sentinelPassword', redis.sentinelPassword !== '' && form !== 'sentinels', 'only applies with redis.sentinels'],
      [
        'db',
        redis.db !== 0 && form !== 'sentinels',
        form === 'cluster'
          ? 'a cluster only has database 0'
          : 'only applies with redis.sentinels (put the database in redis.url)',
      ],
      ['username', redis.username !== '' && form === 'url', 'put the user in redis.url (redis://user:pass@host:port)'],
      [
        'password',
        redis.password !== '' && form === 'url',
        'put the password in redis.url (redis://user:pass@host:port)',
      ],
      ['tls', redis.tls && form === 'url', 'use a rediss:// url for TLS'],
    ];
    for (const [key, wrong, message] of misplaced) if (wrong) ctx.addIssue({ code: 'custom', path: [key], message });
  })
  .describe(
    'Shared stores for rate limits and the user cache: one Redis node (`url`), a Sentinel-managed master (`sentinels` + `name`) or a Cluster (`cluster`); none of them: in-process stores, one instance only. See deploy/README.md, "Redis deployments".',
  );

export type RedisConfig = z.output<typeof redisSchema>;

export type RedisMode = 'memory' | 'single' | 'sentinel' | 'cluster';

/** Which deployment a validated `redis` section describes. */
export function redisMode(config: RedisConfig): RedisMode {
  if (config.cluster.length > 0) return 'cluster';
  if (config.sentinels.length > 0) return 'sentinel';
  return config.url === '' ? 'memory' : 'single';
}
