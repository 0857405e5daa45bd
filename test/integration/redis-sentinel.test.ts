/**
 * Portico on a real Sentinel set: a master, one replica and one sentinel on spare ports, killed by pid after.
 * Two instances find the master through the sentinel and share exact limits; after a failover they follow the
 * new master within a bounded time, and requests in between get the policy's onStoreError, never a hang.
 */
import http from 'node:http';
import { Redis } from 'ioredis';
import type { Config } from '../../src/config/schema.js';
import { redisSchema } from '../../src/stores/config.js';
import { startPortico, type Portico } from '../../src/main.js';
import { createStores, type Stores } from '../../src/stores/stores.js';
import { request, waitFor } from '../helpers/http.js';
import { silentLogger, testConfig } from '../helpers/portico.js';
import { startRedisSentinels, type Deployment, type NodeProcess } from '../helpers/redis-cluster.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const N = 30;
const NAME = 'portico-test';
const COMMAND_TIMEOUT = 200;
let set: Deployment & { sentinels: readonly NodeProcess[] };
let up: TestUpstream;
const instances: Array<{ portico: Portico; stores: Stores }> = [];

beforeAll(async () => {
  set = await startRedisSentinels({ name: NAME, replicas: 1, sentinels: 1 });
  up = await startUpstream();
  const yaml = [
    'redis:',
    `  sentinels: ${set.sentinels.map((s) => s.address).join(',')}`,
    `  name: ${NAME}`,
    `  commandTimeout: ${COMMAND_TIMEOUT}ms`,
    '  maxReconnectDelay: 200ms',
    'rateLimits:',
    `  exact: { key: ip, limit: ${N}, window: 60s, onStoreError: deny }`,
    `  after: { key: ip, limit: 1000, window: 60s, onStoreError: allow }`,
    'routes:',
    '  - name: exact',
    '    match: { pathPrefix: /exact }',
    `    upstream: ${up.url}`,
    '    middleware: [{ rateLimit: exact }]',
    '  - name: after',
    '    match: { pathPrefix: /after }',
    `    upstream: ${up.url}`,
    '    middleware: [{ rateLimit: after }]',
  ].join('\n');
  const config: Config = testConfig(yaml);
  for (let i = 0; i < 2; i++) {
    const stores = await createStores(config.redis, silentLogger);
    instances.push({ stores, portico: await startPortico({ config, logger: silentLogger, stores }) });
  }
}, 60_000);

afterAll(async () => {
  for (const { portico, stores } of instances) {
    await portico.shutdown();
    await stores.close();
  }
  await up?.close();
  await set?.close();
});

/** The port the client's socket is connected to (a Sentinel client's options keep no master address). */
function connectedPort(client: Stores['limitClient']): number | undefined {
  return (client as Redis).stream?.remotePort;
}

function portico(i: number): Portico {
  return instances[i % 2]?.portico as Portico;
}

async function currentMaster(): Promise<number> {
  const sentinel = new Redis({ port: set.sentinels[0]?.port as number, host: '127.0.0.1', lazyConnect: true });
  try {
    const reply = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', NAME)) as [string, string];
    return Number(reply[1]);
  } finally {
    sentinel.disconnect();
  }
}

test('the instances connect to the master the sentinel names', async () => {
  const master = await currentMaster();
  // createStores waits connectTimeout at most; on a loaded machine the sentinel round trip can take longer.
  await waitFor(
    () =>
      instances.every(({ stores }) => stores.limitClient?.status === 'ready' && stores.cacheClient?.status === 'ready'),
    5000,
    'clients ready',
  );
  expect(master).toBe(set.nodes[0]?.port);
  for (const { stores } of instances) {
    expect(stores.health()).toEqual({ kind: 'redis', healthy: true });
    expect(connectedPort(stores.limitClient)).toBe(master);
    expect(connectedPort(stores.cacheClient)).toBe(master);
  }
});

test(`two instances, ${3 * N} concurrent requests: exactly ${N} pass`, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 * N });
  const responses = await Promise.all(
    Array.from({ length: 3 * N }, (_, i) => request(`${portico(i).proxyUrl}/exact`, { agent })),
  );
  agent.destroy();
  expect(responses.filter((r) => r.status === 200)).toHaveLength(N);
  expect(responses.filter((r) => r.status === 429)).toHaveLength(2 * N);
});

test('after a failover the instances follow the new master; requests in between are answered without waiting', async () => {
  const before = await currentMaster();
  const admin = new Redis({ port: set.sentinels[0]?.port as number, host: '127.0.0.1' });
  try {
    // The sentinel may still be refreshing what it knows of the replica (NOGOODSLAVE): asked again, bounded.
    const asked = Date.now();
    let answer: unknown;
    do {
      answer = await admin.call('SENTINEL', 'failover', NAME).catch((err: Error) => err.message);
      if (answer === 'OK' || !String(answer).startsWith('NOGOODSLAVE')) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    } while (Date.now() - asked < 10_000);
    expect(answer).toBe('OK');
  } finally {
    admin.disconnect();
  }
  const deadline = Date.now() + 20_000;
  let slowest = 0;
  let moved = false;
  while (!moved && Date.now() < deadline) {
    const started = Date.now();
    const res = await request(`${portico(0).proxyUrl}/after`);
    slowest = Math.max(slowest, Date.now() - started);
    expect(res.status).toBe(200); // onStoreError: allow while the master moves
    const master = await currentMaster().catch(() => before);
    moved =
      master !== before &&
      instances.every(
        ({ stores }) => connectedPort(stores.limitClient) === master && stores.limitClient?.status === 'ready',
      );
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  expect(moved).toBe(true);
  // A request never waits on the failover beyond the bounds: one command timeout, plus scheduling slack on a
  // loaded 2-core machine (measured: a few ms).
  expect(slowest).toBeLessThan(COMMAND_TIMEOUT + 800);
  // Counting happens in the new master again: the shared counter moves with each request.
  const first = await request(`${portico(0).proxyUrl}/after`);
  const second = await request(`${portico(1).proxyUrl}/after`);
  const remaining = (res: { headers: http.IncomingHttpHeaders }): number =>
    Number(/;r=(\d+);/.exec(String(res.headers.ratelimit))?.[1]);
  expect(remaining(second)).toBe(remaining(first) - 1);
}, 30_000);

test("closing the stores ends every connection, the failover detector's subscriptions to the sentinels included", async () => {
  const sentinel = new Redis({ port: set.sentinels[0]?.port as number, host: '127.0.0.1' });
  try {
    const clients = async (): Promise<number> =>
      String(await sentinel.call('CLIENT', 'LIST'))
        .trim()
        .split('\n').length;
    const baseline = await clients();
    const stores = await createStores(
      redisSchema.parse({ sentinels: set.sentinels.map((s) => s.address), name: NAME }),
      silentLogger,
    );
    expect(stores.health().healthy).toBe(true);
    const deadline = Date.now() + 5000;
    while ((await clients()) <= baseline && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await clients()).toBeGreaterThan(baseline); // subscribed for +switch-master
    await stores.close();
    while ((await clients()) > baseline && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await clients()).toBe(baseline);
  } finally {
    sentinel.disconnect();
  }
});
