/**
 * Portico on a real Sentinel set: a master, one replica and one sentinel on spare ports, killed by pid after.
 * Two instances find the master through the sentinel and share exact limits; after a failover they follow the
 * new master within a bounded time, and requests in between get the policy's onStoreError, never a hang.
 */
import http from 'node:http';
import { Redis } from 'ioredis';
import type { Config } from '../../src/config/schema.js';
import { redisSchema } from '../../src/stores/config.js';
import type { Portico } from '../../src/main.js';
import { createStores, type Stores } from '../../src/stores/stores.js';
import { request, type RawResponse } from '../helpers/http.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { silentLogger, testConfig } from '../helpers/portico.js';
import { startRedisSentinels, type Deployment, type NodeProcess } from '../helpers/redis-cluster.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { START_TIMEOUT_MS, waitFor } from '../helpers/wait.js';

const N = 30;
const NAME = 'portico-test';
const COMMAND_TIMEOUT = 200;
let set: Deployment & { sentinels: readonly NodeProcess[] };
let up: TestUpstream;
let instances: Instances;

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
    '  - name: plain', // no Redis on the way: the control for how long a request takes on this machine right now
    '    match: { pathPrefix: /plain }',
    `    upstream: ${up.url}`,
  ].join('\n');
  const config: Config = testConfig(yaml);
  instances = await startInstances(config, 2);
}, START_TIMEOUT_MS);

afterAll(async () => {
  await instances?.close();
  await up?.close();
  await set?.close();
});

/** The port the client's socket is connected to (a Sentinel client's options keep no master address). */
function connectedPort(client: Stores['limitClient']): number | undefined {
  return (client as Redis).stream?.remotePort;
}

const portico = (i: number): Portico => instances.portico(i);

/** A request and how long it took (ms). */
async function timed(url: string): Promise<RawResponse & { ms: number }> {
  const started = Date.now();
  const res = await request(url);
  return { ...res, ms: Date.now() - started };
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
      instances.list.every(
        ({ stores }) => stores.limitClient?.status === 'ready' && stores.cacheClient?.status === 'ready',
      ),
    { message: 'clients ready' },
  );
  expect(master).toBe(set.nodes[0]?.port);
  for (const { stores } of instances.list) {
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
    let answer = '';
    await waitFor(
      async () => {
        answer = String(await admin.call('SENTINEL', 'failover', NAME).catch((err: Error) => err.message));
        return answer === 'OK' || !answer.startsWith('NOGOODSLAVE');
      },
      { intervalMs: 100, message: () => `the sentinel to accept a failover (last: ${answer})` },
    );
    expect(answer).toBe('OK');
  } finally {
    admin.disconnect();
  }
  const statuses = new Set<number>();
  let slowest = 0;
  await waitFor(
    async () => {
      // A request on a route without Redis, sent alongside, takes the machine's own delays: the difference is
      // what the failover cost the request.
      const [res, control] = await Promise.all([
        timed(`${portico(0).proxyUrl}/after`),
        timed(`${portico(0).proxyUrl}/plain`),
      ]);
      slowest = Math.max(slowest, res.ms - control.ms);
      statuses.add(res.status);
      const master = await currentMaster().catch(() => before);
      return (
        master !== before &&
        instances.list.every(
          ({ stores }) => connectedPort(stores.limitClient) === master && stores.limitClient?.status === 'ready',
        )
      );
    },
    { timeoutMs: 20_000, intervalMs: 20, message: 'the instances to follow the new master' },
  );
  expect([...statuses]).toEqual([200]); // onStoreError: allow while the master moves
  // A request never waits on the failover beyond the bounds: one command timeout, plus slack for the two
  // requests' own scheduling (the control takes the machine's stalls).
  expect(slowest).toBeLessThan(COMMAND_TIMEOUT + 800);
  // Counting happens in the new master again: the shared counter moves with each request.
  const first = await request(`${portico(0).proxyUrl}/after`);
  const second = await request(`${portico(1).proxyUrl}/after`);
  const remaining = (res: { headers: http.IncomingHttpHeaders }): number =>
    Number(/;r=(\d+);/.exec(String(res.headers.ratelimit))?.[1]);
  expect(remaining(second)).toBe(remaining(first) - 1);
}, 60_000);

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
    await waitFor(async () => (await clients()) > baseline, {
      message: 'the failover detector to subscribe to the sentinel',
    });
    await stores.close();
    let last = 0;
    await waitFor(async () => (last = await clients()) === baseline, {
      message: () => `sentinel connections back to ${baseline} (still ${last})`,
    });
  } finally {
    sentinel.disconnect();
  }
});
