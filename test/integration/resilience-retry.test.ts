/**
 * Retries on another upstream, on real sockets: only when safe (a refused connection before the body left, an
 * idempotent bodiless request), never past the retry budget; and the circuit breaker that fails fast and recovers.
 */
import http from 'node:http';
import { request, type RawResponse } from '../helpers/http.js';
import { sparePort } from '../helpers/ports.js';
import { closedAfterEach } from '../helpers/fleet.js';
import { staleOnSecondRequest, startUpstream } from '../helpers/upstream.js';
import { waitFor } from '../helpers/wait.js';
import type { Portico } from '../../src/main.js';

const { fleet, portico, track } = closedAfterEach();

/** One client connection, so Portico's requests reuse one upstream socket (the stale case needs a reuse). */
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
afterAll(() => agent.destroy());

async function metric(p: Portico, name: string): Promise<string[]> {
  const text = (await request(`${p.adminUrl}/metrics`)).body;
  return text.split('\n').filter((line) => line.startsWith(name));
}

describe('retry on another upstream', () => {
  it('retries a POST with a body on another upstream when the first refused the connection (nothing was sent)', async () => {
    const [b] = await fleet(1);
    const dead = `http://127.0.0.1:${await sparePort()}`;
    const p = await portico(
      `routes:\n  - name: orders\n    upstream: [${dead}, ${b?.url}]\n    retry: { attempts: 2, on: [connect-failure] }\n`,
    );
    const body = 'x'.repeat(20_000);
    const res = await request(`${p.proxyUrl}/orders`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'text/plain' },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-portico-attempts']).toBe('2');
    expect(b?.hits).toEqual([{ method: 'POST', url: '/orders', bodyBytes: 20_000 }]);
    expect(await metric(p, 'portico_upstream_retries_total')).toEqual([
      'portico_upstream_retries_total{route="orders",reason="connect-failure"} 1',
    ]);
  });

  it('does not retry a POST whose body reached an upstream that then reset the connection', async () => {
    const [a, b] = await fleet(2);
    if (a) a.mode = { kind: 'reset' };
    const p = await portico(
      `routes:\n  - name: orders\n    upstream: [${a?.url}, ${b?.url}]\n    retry: { attempts: 2, on: [connect-failure, reset, 502] }\n`,
    );
    const res = await request(`${p.proxyUrl}/orders`, { method: 'POST', body: 'hello' });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(a?.hits).toEqual([{ method: 'POST', url: '/orders', bodyBytes: 5 }]);
    expect(b?.hits).toEqual([]);
  });

  it('retries a GET answered 503 on another upstream; the client sees only the second answer', async () => {
    const [a, b] = await fleet(2);
    if (a) a.mode = { kind: 'status', status: 503 };
    const p = await portico(
      `routes:\n  - name: orders\n    upstream: [${a?.url}, ${b?.url}]\n    retry: { attempts: 2 }\n`,
    );
    const res = await request(`${p.proxyUrl}/x`);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ name: 'b' });
    expect(res.headers['x-portico-attempts']).toBe('2');
    expect(a?.hits.length).toBe(1);
  });

  it('relays the last answer when every try failed, and never retries a POST answered 503', async () => {
    const [a, b] = await fleet(2);
    for (const member of [a, b]) if (member) member.mode = { kind: 'status', status: 503 };
    const p = await portico(
      `routes:\n  - name: orders\n    upstream: [${a?.url}, ${b?.url}]\n    retry: { attempts: 3 }\n`,
    );
    const get = await request(`${p.proxyUrl}/x`);
    expect(get.status).toBe(503);
    expect(get.headers['x-portico-attempts']).toBe('2'); // two upstreams: each tried once
    const post = await request(`${p.proxyUrl}/x`, { method: 'POST', body: 'once' });
    expect(post.status).toBe(503);
    expect(post.headers['x-portico-attempts']).toBeUndefined();
    expect((a?.hits.length ?? 0) + (b?.hits.length ?? 0)).toBe(3);
  });

  it('holds a retry storm to the budget: retries in flight stay within 20% of the requests in flight', async () => {
    const [a, b] = await fleet(2);
    for (const member of [a, b]) if (member) member.mode = { kind: 'hold' };
    const p = await portico(
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\nroutes:\n  - name: storm\n    upstream: [${a?.url}, ${b?.url}]\n    retry: { attempts: 2, on: [503], budget: 20%, minRetries: 0 }\n`,
    );
    const total = 50;
    const answers: Array<Promise<RawResponse>> = [];
    let answered = 0;
    for (let i = 0; i < total; i++)
      answers.push(
        request(`${p.proxyUrl}/s/${i}`).then((res) => {
          answered++;
          return res;
        }),
      );
    const held = (): number => (a?.held() ?? 0) + (b?.held() ?? 0);
    await waitFor(() => held() === total, { message: () => `all ${total} first tries to arrive (held ${held()})` });
    // Every first try fails at once; the retries that start are held upstream, so they all stay in flight.
    a?.release(503);
    b?.release(503);
    const retried = (): number => (a?.hits.length ?? 0) + (b?.hits.length ?? 0) - total;
    await waitFor(() => answered + retried() === total && held() === retried(), {
      message: () => `answers plus retries to cover the ${total} requests (answered ${answered}, retries ${retried()})`,
    });
    expect(retried()).toBeGreaterThan(0);
    expect(retried()).toBeLessThanOrEqual(total * 0.2);
    a?.release(503);
    b?.release(503);
    const all = await Promise.all(answers);
    expect(all.every((one) => one.status === 503)).toBe(true);
    expect(all.filter((one) => one.headers['x-portico-attempts'] === '2').length).toBe(retried());
  });
});

describe('the stale keep-alive replay on a resilient route', () => {
  it('replays a GET that met a stale pooled socket on a fresh connection to the same upstream, not as a failure', async () => {
    const up = await startUpstream(staleOnSecondRequest());
    track(up);
    const p = await portico(
      `routes:\n  - name: orders\n    upstream: ${up.url}\n    retry: { attempts: 2 }\n    outlierDetection: { consecutiveFailures: 1 }\n`,
    );
    for (let i = 0; i < 3; i++) expect((await request(`${p.proxyUrl}/k${i}`, { agent })).status).toBe(200);
    expect(up.received.filter((r) => r.url === '/k1')).toHaveLength(2); // the stale try and its replay
    expect(await metric(p, 'portico_upstream_ejections_total')).toEqual([]);
    expect(await metric(p, 'portico_upstream_retries_total')).toEqual([]);
  });
});

describe('circuit breaker', () => {
  it('fails fast with 503 problem+json and Retry-After beyond maxRequests, and recovers when requests finish', async () => {
    const [a] = await fleet(1);
    if (a) a.mode = { kind: 'hold' };
    const p = await portico(
      `routes:\n  - name: orders\n    upstream: ${a?.url}\n    circuitBreaker: { maxRequests: 2, maxPending: 10 }\n`,
    );
    const first = [request(`${p.proxyUrl}/1`), request(`${p.proxyUrl}/2`)];
    await waitFor(() => a?.held() === 2, { message: 'two requests held upstream' });
    const rejected = await request(`${p.proxyUrl}/3`);
    expect(rejected.status).toBe(503);
    expect(rejected.headers['content-type']).toBe('application/problem+json');
    expect(rejected.headers['retry-after']).toBe('1');
    expect(JSON.parse(rejected.body)).toMatchObject({ code: 'PORTICO_UPSTREAM_OVERLOADED', route: 'orders' });
    expect(a?.hits.length).toBe(2);
    a?.release(200);
    expect((await Promise.all(first)).map((res) => res.status)).toEqual([200, 200]);
    if (a) a.mode = { kind: 'ok' };
    expect((await request(`${p.proxyUrl}/4`)).status).toBe(200);
    expect(await metric(p, 'portico_upstream_circuit_breaker_rejections_total')).toEqual([
      'portico_upstream_circuit_breaker_rejections_total{route="orders"} 1',
    ]);
  });

  it('fails fast beyond maxPending requests waiting for a connection', async () => {
    const [a] = await fleet(1);
    if (a) a.mode = { kind: 'hold' };
    const p = await portico(
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  upstreamMaxSockets: 1\nroutes:\n  - name: orders\n    upstream: ${a?.url}\n    circuitBreaker: { maxPending: 1 }\n`,
    );
    const first = request(`${p.proxyUrl}/1`); // takes the one socket, held upstream
    await waitFor(() => a?.held() === 1, { message: 'one request held upstream' });
    // Two more at once: whichever comes first waits for the socket, the other finds the wait full.
    const more = [request(`${p.proxyUrl}/2`), request(`${p.proxyUrl}/3`)];
    const refused = await Promise.race(more);
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'PORTICO_UPSTREAM_OVERLOADED' });
    a?.release(200);
    await waitFor(() => a?.held() === 1, { message: 'the waiting request to reach the upstream' });
    a?.release(200);
    expect((await first).status).toBe(200);
    expect((await Promise.all(more)).map((res) => res.status).sort()).toEqual([200, 503]);
  });

  it('sends the request to another upstream with room before failing', async () => {
    const [a, b] = await fleet(2);
    if (a) a.mode = { kind: 'hold' };
    const p = await portico(
      `routes:\n  - name: orders\n    upstream: [${a?.url}, ${b?.url}]\n    circuitBreaker: { maxRequests: 1 }\n`,
    );
    const held = request(`${p.proxyUrl}/1`); // round robin: a, and held there
    await waitFor(() => a?.held() === 1, { message: 'a holding one request' });
    for (let i = 0; i < 4; i++) expect((await request(`${p.proxyUrl}/n${i}`)).status).toBe(200);
    expect(b?.hits.length).toBe(4);
    a?.release(200);
    expect((await held).status).toBe(200);
  });
});

describe('balance', () => {
  /** Closed-loop load: `workers` clients each sending requests back to back, `total` in all. */
  async function load(url: string, total: number, workers: number): Promise<number[]> {
    const statuses: number[] = [];
    let next = 0;
    const agent = new http.Agent({ keepAlive: true, maxSockets: workers });
    await Promise.all(
      Array.from({ length: workers }, async () => {
        while (next < total) {
          next++;
          statuses.push((await request(`${url}/l`, { agent })).status);
        }
      }),
    );
    agent.destroy();
    return statuses;
  }

  it('least-request sends less traffic to a slow upstream than round robin', async () => {
    const counts: Record<string, number> = {};
    for (const balance of ['round-robin', 'least-request']) {
      const [fast, slow] = await fleet(2);
      if (slow) slow.mode = { kind: 'slow', ms: 60 };
      const p = await portico(
        `routes:\n  - name: lb\n    upstream: [${fast?.url}, ${slow?.url}]\n    balance: ${balance}\n`,
      );
      const statuses = await load(p.proxyUrl, 80, 8);
      expect(statuses.filter((status) => status !== 200)).toEqual([]);
      counts[balance] = slow?.hits.length ?? 0;
    }
    expect(counts['round-robin']).toBe(40);
    expect(counts['least-request']).toBeLessThan(40 * 0.6);
  });

  it('spreads by weight with round robin', async () => {
    const [a, b] = await fleet(2);
    const p = await portico(`routes:\n  - name: w\n    upstream: [{ url: "${a?.url}", weight: 3 }, ${b?.url}]\n`);
    for (let i = 0; i < 8; i++) expect((await request(`${p.proxyUrl}/w`)).status).toBe(200);
    expect([a?.hits.length, b?.hits.length]).toEqual([6, 2]);
  });
});
