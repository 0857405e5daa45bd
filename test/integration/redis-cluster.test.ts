/**
 * Portico on a real Redis Cluster: three masters on spare ports, created in the setup with
 * `redis-cli --cluster create` and killed by pid after. Two Portico instances share it: rate limits stay exact for
 * clients whose counters live on different masters, and the user cache (entry, version, fill script,
 * invalidation transaction, pub/sub) works across slots.
 */
import http from 'node:http';
import { Cluster } from 'ioredis';
import type { Config } from '../../src/config/schema.js';
import type { Portico } from '../../src/main.js';
import { shortHash } from '../../src/middleware/rate-limit/keys.js';
import { seedUsers } from '../../src/users/index.js';
import { request, type RawResponse } from '../helpers/http.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { silentLogger, testConfig } from '../helpers/portico.js';
import { startRedisCluster, type Deployment } from '../helpers/redis-cluster.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { START_TIMEOUT_MS, waitFor } from '../helpers/wait.js';
import { dropSchema, PG_URL, sql, uniqueName } from './users-fixtures.js';

const N = 20;
const API_KEYS = Array.from({ length: 8 }, (_, i) => `key-${i}`);
const policy = 'per-key';
const schema = uniqueName('users_cluster');
const prefix = 'portico:user:';
const channel = 'portico:users:invalidate';

let cluster: Deployment;
let up: TestUpstream;
let inspect: Cluster;
let instances: Instances;

function yaml(nodes: readonly string[]): string {
  return [
    'redis:',
    `  cluster: [${nodes.join(', ')}]`,
    // Generous bounds: exactness is the point here, and a busy machine must not turn slow replies into store errors.
    '  commandTimeout: 10s',
    '  socketTimeout: 10s',
    'database:',
    `  url: ${PG_URL}`,
    'rateLimits:',
    `  ${policy}: { key: "header:X-Api-Key", limit: ${N}, window: 60s, onStoreError: deny }`,
    'routes:',
    '  - name: api',
    '    match: { pathPrefix: /api }',
    `    upstream: ${up.url}`,
    '    middleware:',
    `      - rateLimit: ${policy}`,
    'userLookup:',
    `  schema: ${schema}`,
    '  cache:',
    '    jitter: 0',
    `    invalidationChannel: "${channel}"`,
  ].join('\n');
}

beforeAll(async () => {
  cluster = await startRedisCluster({ masters: 3 });
  up = await startUpstream();
  const config: Config = testConfig(yaml(cluster.nodes.map((node) => node.address)));
  expect(await seedUsers(config, silentLogger, 20)).toBe(20);
  instances = await startInstances(config, 2);
  inspect = new Cluster([{ host: '127.0.0.1', port: cluster.nodes[0]?.port as number }]);
}, START_TIMEOUT_MS);

afterAll(async () => {
  await instances?.close();
  inspect?.disconnect();
  await up?.close();
  await cluster?.close();
  await dropSchema(schema);
});

const portico = (i: number): Portico => instances.portico(i);
const nameOf = (res: RawResponse): unknown => (JSON.parse(res.body) as { name?: unknown }).name;

/** Polls `path` on one instance until its Cache-Status is `wanted` (the cache write happens off the request path). */
async function untilCacheStatus(instance: number, path: string, wanted: string): Promise<RawResponse> {
  let last = '';
  return waitFor(
    async () => {
      const res = await request(`${portico(instance).proxyUrl}${path}`);
      last = String(res.headers['cache-status']);
      return last === wanted && res;
    },
    { message: () => `${path}: Cache-Status ${wanted} (still ${last})` },
  );
}

test('both instances run on Cluster clients', async () => {
  // createStores waits connectTimeout at most; on a loaded machine discovering the cluster can take longer.
  await waitFor(
    () => instances.list.every(({ stores }) => stores.limitClient?.status === 'ready' && stores.health().healthy),
    { message: 'clusters ready' },
  );
  for (const { stores } of instances.list) {
    expect(stores.kind).toBe('redis');
    expect(stores.limitClient).toBeInstanceOf(Cluster);
    expect(stores.limitClient?.status).toBe('ready');
    expect(stores.health()).toEqual({ kind: 'redis', healthy: true });
  }
});

test(`${API_KEYS.length} clients × ${2 * N} concurrent requests over two instances: exactly ${N} pass per client`, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const sent = API_KEYS.flatMap((key) => Array.from({ length: 2 * N }, (_, i) => ({ key, i })));
  const responses = await Promise.all(
    sent.map(({ key, i }) =>
      request(`${portico(i).proxyUrl}/api/x`, { agent, headers: { 'x-api-key': key } }).then((res) => ({ key, res })),
    ),
  );
  agent.destroy();
  for (const key of API_KEYS) {
    const mine = responses.filter((r) => r.key === key).map((r) => r.res);
    expect(mine.filter((r) => r.status === 200)).toHaveLength(N);
    expect(mine.filter((r) => r.status === 429)).toHaveLength(N);
  }
  expect(up.received).toHaveLength(N * API_KEYS.length);
});

test('each counter sits under its hash tag, and the clients are spread over more than one master', async () => {
  const counters = API_KEYS.map((key) => `portico:rl:{${policy}:${shortHash(key)}}`);
  for (const counter of counters) expect(Number(await inspect.get(counter))).toBe(2 * N);
  const masters = new Set<string>();
  for (const counter of counters) {
    const slot = Number(await inspect.cluster('KEYSLOT', counter));
    const owner = (inspect.slots[slot] ?? [])[0];
    if (owner !== undefined) masters.add(owner);
  }
  expect(masters.size).toBeGreaterThan(1);
});

test('user lookup: a miss fills the cluster cache; the other instance hits it', async () => {
  const miss = await request(`${portico(0).proxyUrl}/users/7`);
  expect(miss.status).toBe(200);
  expect(miss.headers['cache-status']).toBe('portico; fwd=miss; stored');
  const hit = await untilCacheStatus(1, '/users/7', 'portico; hit');
  expect(hit.body).toBe(miss.body);
  expect(await inspect.get(`${prefix}7`)).toBe(miss.body);
});

test('user lookup: invalidation over the admin port (a transaction on entry and version) serves the new row', async () => {
  await untilCacheStatus(0, '/users/8', 'portico; hit');
  await sql(`UPDATE "${schema}".users SET name = 'Renamed' WHERE id = 8`);
  expect(nameOf(await request(`${portico(1).proxyUrl}/users/8`))).toBe('User 8');
  const deleted = await request(`${portico(1).adminUrl}/cache/users/8`, { method: 'DELETE' });
  expect(deleted.status).toBe(204);
  expect(Number(await inspect.get(`{${prefix}8}:v`))).toBeGreaterThanOrEqual(1);
  expect(nameOf(await request(`${portico(0).proxyUrl}/users/8`))).toBe('Renamed');
});

test('user lookup: a PUBLISH on the invalidation channel reaches the instances through the cluster', async () => {
  await untilCacheStatus(0, '/users/9', 'portico; hit');
  await sql(`UPDATE "${schema}".users SET name = 'Published' WHERE id = 9`);
  // The subscription may not be live yet: publish again until one invalidation lands.
  await waitFor(
    async () => {
      await inspect.publish(channel, '9');
      return nameOf(await request(`${portico(1).proxyUrl}/users/9`)) === 'Published';
    },
    { message: 'the published invalidation to take effect' },
  );
});
