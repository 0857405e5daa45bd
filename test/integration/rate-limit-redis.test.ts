/**
 * Exactness across instances: three Portico apps share one real Redis (127.0.0.1:6379); 3×N concurrent requests
 * spread over them admit exactly N.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { request } from '../helpers/http.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { testConfig } from '../helpers/portico.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const policy = `exact-${randomUUID().slice(0, 8)}`;
const N = 50;
const WINDOW_S = 60;
let up: TestUpstream;
let instances: Instances;

beforeAll(async () => {
  up = await startUpstream();
  // Generous command bounds: this is about exactness under concurrency, and on a busy machine the default 250 ms
  // bound would turn slow replies into store errors (onStoreError: deny) and fewer than N admitted.
  const yaml = `redis:\n  url: redis://127.0.0.1:6379\n  commandTimeout: 10s\n  socketTimeout: 10s\nrateLimits:\n  ${policy}: { key: ip, limit: ${N}, window: ${WINDOW_S}s, onStoreError: deny }\nroutes:\n  - name: api\n    upstream: ${up.url}\n    middleware:\n      - rateLimit: ${policy}\n`;
  instances = await startInstances(testConfig(yaml), 3);
});

afterAll(async () => {
  const client = instances?.list[0]?.stores.limitClient;
  const keys = (await client?.keys(`portico:rl*{${policy}:*`)) ?? [];
  if (keys.length > 0) await client?.del(...keys);
  await instances?.close();
  await up?.close();
});

test(`3 instances on one Redis, ${3 * N} concurrent requests: exactly ${N} pass`, async () => {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 3 * N });
  const responses = await Promise.all(
    Array.from({ length: 3 * N }, (_, i) => request(`${instances.portico(i).proxyUrl}/x`, { agent })),
  );
  agent.destroy();
  const passed = responses.filter((r) => r.status === 200);
  const limited = responses.filter((r) => r.status === 429);
  expect(passed).toHaveLength(N);
  expect(limited).toHaveLength(2 * N);
  expect(up.received).toHaveLength(N);
  // Every unit was handed out once: the remaining counts seen across instances are exactly N-1 … 0.
  const remaining = passed.map((r) => Number(/;r=(\d+);/.exec(String(r.headers.ratelimit))?.[1])).sort((a, b) => a - b);
  expect(remaining).toEqual(Array.from({ length: N }, (_, i) => i));
  for (const r of limited) {
    expect(JSON.parse(r.body)).toMatchObject({ code: 'PORTICO_RATE_LIMITED', policy });
    expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  }
});

test('the counter lives in Redis under portico:rl:{<policy>:<client ip>} and expires with the window', async () => {
  const client = instances.list[0]?.stores.limitClient;
  const key = `portico:rl:{${policy}:127.0.0.1}`;
  expect(Number(await client?.get(key))).toBe(3 * N);
  const ttl = (await client?.pttl(key)) ?? 0;
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(WINDOW_S * 1000);
});
