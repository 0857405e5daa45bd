/**
 * Health checks, outlier ejection, readiness and the panic policy, on real upstreams on 127.0.0.1: an upstream that
 * dies is taken out without a client error, gets no traffic while out, and comes back after the healthy threshold.
 */
import { testConfig } from '../helpers/portico.js';
import { request } from '../helpers/http.js';
import { closedAfterEach, type Member } from '../helpers/fleet.js';
import { waitFor } from '../helpers/wait.js';
import type { Portico } from '../../src/main.js';

const { fleet, portico } = closedAfterEach();

interface Readiness {
  status: number;
  checks: Record<string, { ok: boolean; detail?: string }>;
}

async function retriesOf(p: Portico): Promise<number> {
  const text = (await request(`${p.adminUrl}/metrics`)).body;
  const line = text.split('\n').find((one) => one.startsWith('portico_upstream_retries_total{route="orders"'));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

async function readyz(p: Portico): Promise<Readiness> {
  const res = await request(`${p.adminUrl}/readyz`);
  const body = JSON.parse(res.body) as { checks: Readiness['checks'] };
  return { status: res.status, checks: body.checks };
}

const FAST_CHECKS = '{ path: /health, interval: 50ms, timeout: 40ms, healthyThreshold: 2, unhealthyThreshold: 2 }';

function route(members: readonly Member[], extra: string): string {
  return `routes:\n  - name: orders\n    upstream: [${members.map((m) => m.url).join(', ')}]\n${extra}`;
}

describe('an upstream that dies mid-run', () => {
  it('is taken out with no client error for GETs, gets no traffic while out, and is put back after the healthy threshold', async () => {
    const [a, b, c] = await fleet(3);
    const members = [a, b, c] as Member[];
    const p = await portico(
      route(
        members,
        `    healthCheck: ${FAST_CHECKS}\n    outlierDetection: { consecutiveFailures: 1, baseEjection: 300ms }\n    retry: { attempts: 3 }\n`,
      ),
    );
    for (let i = 0; i < 9; i++) expect((await request(`${p.proxyUrl}/before/${i}`)).status).toBe(200);
    expect(c?.hits.length).toBeGreaterThan(0);

    await c?.kill();
    const statuses: number[] = [];
    // Bounded: 30 GETs while the dead upstream is found out (retried on another, then ejected and unhealthy).
    for (let i = 0; i < 30; i++) statuses.push((await request(`${p.proxyUrl}/during/${i}`)).status);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    await waitFor(async () => (await readyz(p)).checks['upstreams:orders']?.detail?.includes('unhealthy'), {
      message: 'the dead upstream to fail its health checks',
    });
    const metrics = (await request(`${p.adminUrl}/metrics`)).body;
    // Ejected at least once (an ejection of 300ms may end and be renewed while the GETs run).
    expect(metrics).toMatch(
      new RegExp(`^portico_upstream_ejections_total\\{route="orders",upstream="${c?.url}"\\} [1-9]`, 'm'),
    );
    expect(metrics).toContain(`portico_upstream_healthy{route="orders",upstream="${c?.url}"} 0`);
    expect(metrics).toContain(`portico_upstream_healthy{route="orders",upstream="${a?.url}"} 1`);
    // Out of the balance: no try goes to it, so no request needs a retry (a try on it would be refused).
    const retries = await retriesOf(p);
    for (let i = 0; i < 30; i++) expect((await request(`${p.proxyUrl}/out/${i}`)).status).toBe(200);
    expect(await retriesOf(p)).toBe(retries);

    await c?.revive();
    const hitsAtRevive = c?.hits.length ?? 0;
    await waitFor(async () => (await readyz(p)).checks['upstreams:orders']?.detail?.startsWith('3/3'), {
      message: 'the revived upstream to pass its health checks again',
    });
    await waitFor(
      async () => {
        expect((await request(`${p.proxyUrl}/back`)).status).toBe(200);
        return (c?.hits.length ?? 0) > hitsAtRevive;
      },
      { message: 'the revived upstream to take requests again' },
    );
  });

  it('without outlier detection, comes back into the balance after the healthy threshold and takes traffic again', async () => {
    const [a, b, c] = await fleet(3);
    const members = [a, b, c] as Member[];
    const p = await portico(route(members, `    healthCheck: ${FAST_CHECKS}\n    retry: { attempts: 3 }\n`));
    await c?.kill();
    await waitFor(async () => (await readyz(p)).checks['upstreams:orders']?.detail?.includes('unhealthy'), {
      message: 'the killed upstream to be unhealthy',
    });
    for (let i = 0; i < 12; i++) expect((await request(`${p.proxyUrl}/x/${i}`)).status).toBe(200);
    const before = c?.hits.length ?? 0;
    expect(before).toBe(0);
    await c?.revive();
    const checksAtRevive = c?.checks() ?? 0;
    await waitFor(async () => (await readyz(p)).checks['upstreams:orders']?.detail?.startsWith('3/3'), {
      message: 'all three upstreams up again',
    });
    expect((c?.checks() ?? 0) - checksAtRevive).toBeGreaterThanOrEqual(2); // the healthy threshold
    await waitFor(
      async () => {
        await request(`${p.proxyUrl}/back`);
        return (c?.hits.length ?? 0) > before;
      },
      { message: 'the revived upstream to take requests' },
    );
  });
});

describe('readiness', () => {
  it('a critical route turns the pod unready when all its upstreams are down, and ready when one returns', async () => {
    const [a, b] = await fleet(2);
    const p = await portico(route([a, b] as Member[], `    healthCheck: ${FAST_CHECKS}\n    critical: true\n`));
    expect((await readyz(p)).status).toBe(200);
    await a?.kill();
    await b?.kill();
    await waitFor(async () => (await readyz(p)).status === 503, { message: 'readiness to turn 503' });
    const unready = await readyz(p);
    expect(unready.checks['upstreams:orders']).toMatchObject({ ok: false });
    expect(unready.checks['upstreams:orders']?.detail).toMatch(/^0\/2 upstreams up/);
    await b?.revive();
    await waitFor(async () => (await readyz(p)).status === 200, { message: 'readiness to return to 200' });
  });

  it('a route that is not critical reports its upstreams without making the pod unready', async () => {
    const [a] = await fleet(1);
    const p = await portico(route([a] as Member[], `    healthCheck: ${FAST_CHECKS}\n`));
    await a?.kill();
    await waitFor(async () => (await readyz(p)).checks['upstreams:orders']?.detail?.startsWith('0/1'), {
      message: 'the upstream to be reported down',
    });
    expect((await readyz(p)).status).toBe(200);
  });
});

describe('every upstream unhealthy (panic)', () => {
  it('still sends requests to every upstream rather than failing them, and says so in readiness', async () => {
    const [a, b] = await fleet(2);
    for (const member of [a, b]) if (member) member.healthy = false; // health checks fail, requests still work
    const p = await portico(route([a, b] as Member[], `    healthCheck: ${FAST_CHECKS}\n`));
    await waitFor(async () => (await readyz(p)).checks['upstreams:orders']?.detail?.includes('panic'), {
      message: 'both upstreams unhealthy',
    });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await request(`${p.proxyUrl}/p/${i}`)).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    expect(a?.hits.length).toBe(3);
    expect(b?.hits.length).toBe(3);
  });
});

describe('an upstream listed by two routes', () => {
  it('is checked once, by the first route that checks it', async () => {
    const [m, w] = await fleet(2);
    const slow = '{ path: /health, interval: 10m, timeout: 1s }';
    await portico(
      `routes:\n  - name: one\n    match: { pathPrefix: /one }\n    upstream: ${m?.url}\n    healthCheck: ${slow}\n  - name: two\n    match: { pathPrefix: /two }\n    upstream: [${m?.url}, ${w?.url}]\n    healthCheck: ${slow}\n`,
    );
    // Both routes' first checks leave in the same turn at start; the witness's arriving means the second route's did.
    await waitFor(() => w?.checks() === 1 && m?.checks() === 1, { message: 'the first checks of both upstreams' });
    await waitFor(async () => (await request(`${m?.url}/ping`)).status === 200, { message: 'a round trip to m' });
    expect(m?.checks()).toBe(1);
  });
});

describe('hot reload', () => {
  it('keeps the health of upstreams that stay in the list', async () => {
    const [a, b, c] = await fleet(3);
    if (c) c.healthy = false;
    const p = await portico(route([a, b, c] as Member[], `    healthCheck: ${FAST_CHECKS}\n`));
    await waitFor(async () => (await readyz(p)).checks['upstreams:orders']?.detail?.includes(`${c?.url} unhealthy`), {
      message: 'c unhealthy',
    });
    // The new plan checks every 10 minutes: only its first check runs, and it cannot reach the healthy threshold.
    const slow = '{ path: /health, interval: 10m, timeout: 40ms, healthyThreshold: 2, unhealthyThreshold: 2 }';
    await p.reload(testConfig(route([a, b, c] as Member[], `    healthCheck: ${slow}\n    retry: { attempts: 2 }\n`)));
    if (c) c.healthy = true; // one pass at most from here on: below the healthy threshold
    const after = await readyz(p);
    expect(after.checks['upstreams:orders']?.detail).toContain(`${c?.url} unhealthy`);
    for (let i = 0; i < 6; i++) expect((await request(`${p.proxyUrl}/r/${i}`)).status).toBe(200);
    expect(c?.hits.length).toBe(0);
  });
});
