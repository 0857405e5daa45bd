/**
 * Rate limits when Redis fails, against a real redis-server of our own: killed (SIGKILL) and hung (SIGSTOP).
 * Every request is answered within the configured bound with the policy's onStoreError behaviour; the outage is
 * logged once; after Redis returns, limits are enforced in Redis again and nothing is counted twice.
 */
import { noopMetrics, type Metrics, type RateLimitOutcome } from '../../src/telemetry/metrics.js';
import type { Portico } from '../../src/main.js';
import { redisSchema } from '../../src/stores/config.js';
import { createStores, type Stores } from '../../src/stores/stores.js';
import { request, type RawResponse } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';
import { startTestPortico } from '../helpers/portico.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { START_TIMEOUT_MS, waitFor } from '../helpers/wait.js';

const COMMAND_TIMEOUT = 200;
/**
 * The bound a request may wait on a failing Redis, plus generous slack for a busy machine: without the command
 * bound a request waits for Redis to come back (seconds here, forever when hung), far past it.
 */
const BOUND = COMMAND_TIMEOUT + 3000;

interface LogLine {
  msg: string;
  reqId?: string;
  client?: string;
  policy?: string;
  fallback?: string;
}

let redis: RedisServer;
let up: TestUpstream;
let stores: Stores;
let portico: Portico;
const { logger, lines } = captureLogs<LogLine>();
const decisions: Array<[string, RateLimitOutcome]> = [];
const metrics: Metrics = { ...noopMetrics, rateLimitDecision: (policy, outcome) => decisions.push([policy, outcome]) };

beforeAll(async () => {
  redis = await startRedisServer();
  up = await startUpstream();
  stores = await createStores(
    redisSchema.parse({
      url: redis.url,
      commandTimeout: COMMAND_TIMEOUT,
      connectTimeout: '500ms',
      socketTimeout: '600ms',
      maxReconnectDelay: '200ms',
    }),
    logger,
  );
  const route = (name: string, policy: string): string =>
    `  - name: ${name}\n    match: { pathPrefix: /${name} }\n    upstream: ${up.url}\n    middleware:\n      - rateLimit: ${policy}\n`;
  const yaml =
    `rateLimits:\n` +
    `  open: { limit: 100000, window: 1m, onStoreError: allow }\n` +
    `  closed: { limit: 100000, window: 1m, onStoreError: deny }\n` +
    `  shared: { limit: 10, window: 1m, onStoreError: local, localShare: 0.5 }\n` +
    `  strict: { limit: 3, window: 1m, onStoreError: deny }\n` +
    // `plain` has no limiter: the control for how long a request takes on this machine right now.
    `routes:\n  - name: plain\n    match: { pathPrefix: /plain }\n    upstream: ${up.url}\n` +
    `${route('open', 'open')}${route('closed', 'closed')}${route('shared', 'shared')}${route('strict', 'strict')}`;
  portico = await startTestPortico(yaml, { stores, metrics, logger });
}, START_TIMEOUT_MS); // starts a redis-server of its own

afterAll(async () => {
  redis.resume();
  await portico.shutdown();
  await stores.close();
  await redis.kill();
  await up.close();
});

async function timed(path: string): Promise<RawResponse & { ms: number }> {
  const started = performance.now();
  const res = await request(`${portico.proxyUrl}${path}`);
  return { ...res, ms: performance.now() - started };
}

const degradedLogs = (): number =>
  lines.filter((l) => l.msg.startsWith('redis degraded') && l.client === 'limit').length;
const recoveredLogs = (): number =>
  lines.filter((l) => l.msg.startsWith('redis recovered') && l.client === 'limit').length;

test('Redis killed under traffic, then restarted: bounded answers, configured fallbacks, limits back in Redis', async () => {
  // Healthy: counted in Redis.
  for (let i = 0; i < 2; i++) expect((await timed('/shared')).status).toBe(200);
  expect((await timed('/closed')).status).toBe(200);
  expect(stores.health().healthy).toBe(true);

  // Traffic keeps flowing while Redis is killed.
  const seen: Array<RawResponse & { ms: number; path: string }> = [];
  let flowing = true;
  const worker = async (path: string): Promise<void> => {
    for (let i = 0; flowing && i < 2000; i++) seen.push({ ...(await timed(path)), path });
  };
  const workers = [worker('/open'), worker('/closed'), worker('/open'), worker('/closed')];
  await waitFor(() => seen.length >= 20, { message: 'traffic before the kill' });
  await redis.kill();
  await waitFor(() => !stores.health().healthy, { message: 'degraded store health' });
  const degradedAt = seen.length;
  await waitFor(() => seen.length >= degradedAt + 40, { message: 'traffic during the outage' });
  flowing = false;
  await Promise.all(workers);

  for (const res of seen) expect(res.ms).toBeLessThan(BOUND);
  const during = seen.slice(degradedAt + 8); // requests already in flight at the transition may still have passed
  expect(during.filter((r) => r.path === '/open').every((r) => r.status === 200)).toBe(true);
  const denied = during.filter((r) => r.path === '/closed');
  expect(denied.length).toBeGreaterThan(5);
  for (const res of denied) {
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(JSON.parse(res.body)).toMatchObject({ code: 'PORTICO_STORE_UNAVAILABLE', policy: 'closed' });
  }
  expect(seen.some((r) => r.status === 429)).toBe(false); // a store error is never a 429

  // onStoreError local: an in-memory limiter enforces localShare (0.5 × 10 = 5) of the limit.
  const local = [];
  for (let i = 0; i < 7; i++) local.push(await timed('/shared'));
  expect(local.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 429, 429]);
  expect(local[5]?.headers['retry-after']).toBeDefined();
  expect(decisions.filter(([policy, outcome]) => policy === 'shared' && outcome === 'store_error_local')).toHaveLength(
    7,
  );
  expect(decisions.some(([policy, outcome]) => policy === 'open' && outcome === 'store_error_allow')).toBe(true);
  expect(decisions.some(([policy, outcome]) => policy === 'closed' && outcome === 'store_error_deny')).toBe(true);

  // Visible in readiness and logged once for the whole outage, not once per request.
  const ready = await request(`${portico.adminUrl}/readyz`);
  expect(ready.body).toMatch(/degraded/);
  expect(degradedLogs()).toBe(1);
  const policyLogs = (msg: string): LogLine[] => lines.filter((l) => l.msg.startsWith(msg));
  expect(
    policyLogs('rate-limit store failing')
      .map((l) => [l.policy, l.fallback])
      .sort(),
  ).toEqual([
    ['closed', 'deny'],
    ['open', 'allow'],
    ['shared', 'local (50%)'],
  ]);
  // each was logged through the request that met the failure: its id is on the line
  for (const line of policyLogs('rate-limit store failing')) expect(line.reqId).toEqual(expect.any(String));

  // Redis returns (empty: no persistence). Recovery is automatic and logged once.
  await redis.restart();
  await waitFor(() => stores.health().healthy, { message: 'recovered store health' });
  expect(recoveredLogs()).toBe(1);
  const before = decisions.length;
  const strict = [];
  for (let i = 0; i < 4; i++) strict.push((await timed('/strict')).status);
  expect(strict).toEqual([200, 200, 200, 429]);
  expect(decisions.slice(before).map(([, outcome]) => outcome)).toEqual(['allowed', 'allowed', 'allowed', 'limited']);
  // Counted in Redis exactly once per request: nothing in flight at the kill was re-sent on reconnect.
  expect(await stores.limitClient?.get('portico:rl:{strict:127.0.0.1}')).toBe('4');
  expect(await stores.limitClient?.get('portico:rl:{open:127.0.0.1}')).toBeNull(); // no /open since the restart
  expect((await timed('/shared')).headers.ratelimit).toBe('"shared";r=9;t=60');
  expect((await timed('/closed')).status).toBe(200);
  expect(policyLogs('rate-limit store answering again').map((l) => l.policy)).toEqual(['shared', 'closed']);
});

test('a hung Redis (SIGSTOP): each request waits at most the command timeout, then the socket is dropped', async () => {
  await waitFor(() => stores.health().healthy, { message: 'healthy store' });
  redis.pause();
  const answers: Array<RawResponse & { ms: number }> = [];
  for (let i = 0; i < 12; i++) answers.push(await timed('/closed'));
  for (const res of answers) {
    expect(res.status).toBe(503);
    expect(res.ms).toBeLessThan(BOUND);
  }
  // After socketTimeout the connection is dropped: later requests fail fast instead of waiting the timeout. A
  // request without a limiter, sent alongside, takes the machine's own delays; the difference is Redis' share.
  const [last, control] = await Promise.all([timed('/closed'), timed('/plain')]);
  expect(last.status).toBe(503);
  expect(last.ms - control.ms).toBeLessThan(COMMAND_TIMEOUT / 2);
  expect(stores.health().healthy).toBe(false);
  redis.resume();
  await waitFor(() => stores.health().healthy, { message: 'recovered store health' });
  expect((await timed('/closed')).status).toBe(200);
});
