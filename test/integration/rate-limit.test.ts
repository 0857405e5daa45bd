/**
 * The rateLimit kind end to end on the in-process store: responses, headers, shadow mode, several policies,
 * keys, and config errors. Redis behaviour lives in rate-limit-redis.test.ts and rate-limit-failure.test.ts.
 */
import { noopMetrics, type Metrics, type RateLimitOutcome } from '../../src/telemetry/metrics.js';
import type { Portico } from '../../src/main.js';
import { request, type RawResponse } from '../helpers/http.js';
import { captureLogs } from '../helpers/logs.js';
import { startTestPortico, testConfig } from '../helpers/portico.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';

const running: Array<{ close?: () => Promise<void>; shutdown?: () => Promise<void> }> = [];
afterEach(async () => {
  for (const item of running.splice(0)) await (item.shutdown ?? item.close)?.call(item);
});

let up: TestUpstream;
beforeEach(async () => {
  up = await startUpstream();
  running.push(up);
});

function recordingMetrics(): Metrics & { decisions: Array<[string, RateLimitOutcome]> } {
  const decisions: Array<[string, RateLimitOutcome]> = [];
  return { ...noopMetrics, decisions, rateLimitDecision: (policy, outcome) => decisions.push([policy, outcome]) };
}

async function portico(yaml: string, options: Parameters<typeof startTestPortico>[1] = {}): Promise<Portico> {
  const started = await startTestPortico(yaml, options);
  running.push(started);
  return started;
}

const route = (name: string, prefix: string, middleware: string): string =>
  `  - name: ${name}\n    match: { pathPrefix: ${prefix} }\n    upstream: ${up.url}\n    middleware:\n${middleware}`;

async function get(p: Portico, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return request(`${p.proxyUrl}${path}`, { headers });
}

describe('rateLimit on the in-process store', () => {
  test('admits the limit, then 429 problem+json naming the policy with Retry-After; the upstream never sees it', async () => {
    const metrics = recordingMetrics();
    const p = await portico(
      `rateLimits:\n  per-client: { key: ip, limit: 3, window: 1m }\nroutes:\n${route('api', '/api', '      - rateLimit: per-client\n')}`,
      { metrics },
    );
    const passed: RawResponse[] = [];
    const sent = Date.now();
    for (let i = 0; i < 3; i++) passed.push(await get(p, '/api/x'));
    const answered = Date.now();
    expect(passed.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(passed[0]?.headers['ratelimit-policy']).toBe('"per-client";q=3;w=60');
    // t is whole seconds left, rounded up: 59 once a second has passed since the first request (a busy machine).
    expect(passed.map((r) => String(r.headers.ratelimit).replace(/t=(59|60)$/, 't=60'))).toEqual([
      '"per-client";r=2;t=60',
      '"per-client";r=1;t=60',
      '"per-client";r=0;t=60',
    ]);
    expect(passed[0]?.headers['x-ratelimit-limit']).toBe('3');
    expect(passed[0]?.headers['x-ratelimit-remaining']).toBe('2');
    const reset = Number(passed[0]?.headers['x-ratelimit-reset']);
    // The window opened between sending and the answer (however long that took), and lasts 60 s.
    expect(reset).toBeGreaterThanOrEqual(Math.floor(sent / 1000) + 59);
    expect(reset).toBeLessThanOrEqual(Math.ceil(answered / 1000) + 60);

    const limited = await get(p, '/api/x');
    expect(limited.status).toBe(429);
    expect(limited.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(limited.body)).toMatchObject({
      code: 'PORTICO_RATE_LIMITED',
      status: 429,
      policy: 'per-client',
      route: 'api',
    });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(59);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.headers.ratelimit).toMatch(/^"per-client";r=0;t=(59|60)$/);
    expect(limited.headers['x-ratelimit-remaining']).toBe('0');
    expect(up.received).toHaveLength(3);
    expect(metrics.decisions).toEqual([
      ['per-client', 'allowed'],
      ['per-client', 'allowed'],
      ['per-client', 'allowed'],
      ['per-client', 'limited'],
    ]);
  });

  test('legacy X-RateLimit-* headers are switchable per policy', async () => {
    const p = await portico(
      `rateLimits:\n  quiet: { limit: 5, window: 10s, legacyHeaders: false }\nroutes:\n${route('api', '/', '      - rateLimit: quiet\n')}`,
    );
    const res = await get(p, '/');
    expect(res.headers.ratelimit).toBe('"quiet";r=4;t=10');
    expect(res.headers['x-ratelimit-limit']).toBeUndefined();
    expect(res.headers['x-ratelimit-remaining']).toBeUndefined();
  });

  test('shadow mode counts, reports headers, logs and metrics, but never rejects', async () => {
    const metrics = recordingMetrics();
    const { logger, lines } = captureLogs<{ msg: string; policy?: string }>();
    const p = await portico(
      `rateLimits:\n  trial: { limit: 1, window: 1m, shadow: true }\nroutes:\n${route('api', '/', '      - rateLimit: trial\n')}`,
      { metrics, logger },
    );
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await get(p, '/')).status);
    expect(statuses).toEqual([200, 200, 200]);
    expect((await get(p, '/')).headers.ratelimit).toBe('"trial";r=0;t=60');
    expect(metrics.decisions.map(([, outcome]) => outcome)).toEqual([
      'allowed',
      'shadow_limited',
      'shadow_limited',
      'shadow_limited',
    ]);
    expect(lines.filter((line) => line.msg.includes('shadow mode') && line.policy === 'trial')).toHaveLength(3);
    expect(up.received).toHaveLength(4);
  });

  test('global and route policies: one RateLimit-Policy member each, RateLimit of the strictest, which decides', async () => {
    const p = await portico(
      `rateLimits:\n  loose: { limit: 100, window: 1m }\n  strict: { limit: 2, window: 10s }\nmiddleware:\n  - rateLimit: loose\nroutes:\n${route('api', '/', '      - rateLimit: strict\n')}`,
    );
    const first = await get(p, '/');
    expect(first.headers['ratelimit-policy']).toBe('"loose";q=100;w=60, "strict";q=2;w=10');
    expect(first.headers.ratelimit).toBe('"strict";r=1;t=10');
    expect(first.headers['x-ratelimit-limit']).toBe('2');
    await get(p, '/');
    const limited = await get(p, '/');
    expect(limited.status).toBe(429);
    expect(JSON.parse(limited.body)).toMatchObject({ policy: 'strict' });
    expect(limited.headers['ratelimit-policy']).toBe('"loose";q=100;w=60, "strict";q=2;w=10');
  });

  test('a list of policies in one entry is decided together; the strictest denial names its policy', async () => {
    const p = await portico(
      `rateLimits:\n  a: { limit: 3, window: 1m }\n  b: { limit: 1, window: 1m }\nroutes:\n${route('api', '/', '      - rateLimit: [a, b]\n')}`,
    );
    const first = await get(p, '/');
    expect(first.status).toBe(200);
    expect(first.headers['ratelimit-policy']).toBe('"a";q=3;w=60, "b";q=1;w=60');
    expect(first.headers.ratelimit).toBe('"b";r=0;t=60');
    const second = await get(p, '/');
    expect(second.status).toBe(429);
    expect(JSON.parse(second.body)).toMatchObject({ policy: 'b' });
  });

  test('a policy applied by both the global and the route chain is counted once per request', async () => {
    const p = await portico(
      `rateLimits:\n  per-client: { limit: 2, window: 1m }\nmiddleware:\n  - rateLimit: per-client\nroutes:\n${route('api', '/', '      - rateLimit: per-client\n')}`,
    );
    expect((await get(p, '/')).headers.ratelimit).toBe('"per-client";r=1;t=60');
    expect((await get(p, '/')).status).toBe(200);
    expect((await get(p, '/')).status).toBe(429);
  });

  test('a global policy keyed on ip is one counter across routes', async () => {
    const p = await portico(
      `rateLimits:\n  per-client: { limit: 2, window: 1m }\nmiddleware:\n  - rateLimit: per-client\nroutes:\n${route('a', '/a', '      - headers: {}\n')}\n${route('b', '/b', '      - headers: {}\n')}`,
    );
    expect((await get(p, '/a')).status).toBe(200);
    expect((await get(p, '/b')).status).toBe(200);
    expect((await get(p, '/a')).status).toBe(429);
  });

  test('a route-keyed policy counts each route apart', async () => {
    const p = await portico(
      `rateLimits:\n  per-route: { key: route, limit: 1, window: 1m }\nmiddleware:\n  - rateLimit: per-route\nroutes:\n${route('a', '/a', '      - headers: {}\n')}\n${route('b', '/b', '      - headers: {}\n')}`,
    );
    expect((await get(p, '/a')).status).toBe(200);
    expect((await get(p, '/b')).status).toBe(200);
    expect((await get(p, '/a')).status).toBe(429);
  });

  test('header keys: each value its own counter; a missing header is rejected or shares the anonymous counter', async () => {
    const p = await portico(
      `rateLimits:\n  keyed: { key: header:X-Api-Key, limit: 1, window: 1m, onMissingKey: reject }\n  anon: { key: header:X-Api-Key, limit: 1, window: 1m }\nroutes:\n${route('strict', '/strict', '      - rateLimit: keyed\n')}\n${route('open', '/open', '      - rateLimit: anon\n')}`,
    );
    const missing = await get(p, '/strict');
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body)).toMatchObject({ code: 'PORTICO_RATE_LIMIT_KEY_MISSING', policy: 'keyed' });
    expect((await get(p, '/strict', { 'x-api-key': 'one' })).status).toBe(200);
    expect((await get(p, '/strict', { 'x-api-key': 'one' })).status).toBe(429);
    expect((await get(p, '/strict', { 'x-api-key': 'two' })).status).toBe(200);
    expect((await get(p, '/open')).status).toBe(200);
    expect((await get(p, '/open')).status).toBe(429);
    expect((await get(p, '/open', { 'x-api-key': 'three' })).status).toBe(200);
  });

  test('X-Forwarded-For from an untrusted peer does not change the key; from a trusted proxy it does', async () => {
    const yaml = (trusted: string): string =>
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  trustedProxies: [${trusted}]\nrateLimits:\n  per-client: { limit: 1, window: 1m }\nroutes:\n${route('api', '/', '      - rateLimit: per-client\n')}`;
    const untrusted = await portico(yaml(''));
    expect((await get(untrusted, '/', { 'x-forwarded-for': '198.51.100.1' })).status).toBe(200);
    expect((await get(untrusted, '/', { 'x-forwarded-for': '198.51.100.2' })).status).toBe(429);
    const behindProxy = await portico(yaml('127.0.0.1/32'));
    expect((await get(behindProxy, '/', { 'x-forwarded-for': '198.51.100.1' })).status).toBe(200);
    expect((await get(behindProxy, '/', { 'x-forwarded-for': '198.51.100.2' })).status).toBe(200);
    expect((await get(behindProxy, '/', { 'x-forwarded-for': '203.0.113.9, 198.51.100.1' })).status).toBe(429);
  });

  test('a reload that keeps the policy keeps its counts', async () => {
    const yaml = `rateLimits:\n  per-client: { limit: 1, window: 1m }\nroutes:\n${route('api', '/', '      - rateLimit: per-client\n')}`;
    const p = await portico(yaml);
    expect((await get(p, '/')).status).toBe(200);
    await p.reload(testConfig(yaml));
    expect((await get(p, '/')).status).toBe(429);
  });

  test('an unknown policy name is a config error with its location', () => {
    const yaml = `rateLimits:\n  per-client: { limit: 1, window: 1m }\nroutes:\n  - name: api\n    upstream: http://127.0.0.1:1\n    middleware:\n      - rateLimit: per-clinet\n`;
    expect(() => testConfig(yaml)).toThrow(
      /unknown rate-limit policy "per-clinet" \(defined under rateLimits: per-client\)/,
    );
    expect(() => testConfig(`rateLimits:\n  p: { limit: 1, window: 1500ms }\n`)).toThrow(/whole number of seconds/);
  });
});
