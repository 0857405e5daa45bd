/**
 * Async routes on Redis Streams, on the shared Redis with a key prefix of each test's own: two instances share one
 * consumer group; 1,000 tasks against an upstream failing 30% of attempts all succeed once; status and dead-letter
 * calls work from either instance; an Idempotency-Key is honoured across instances.
 */
import { randomBytes } from 'node:crypto';
import { request, waitFor } from '../helpers/http.js';
import { testConfig } from '../helpers/portico.js';
import { startInstances, type Instances } from '../helpers/instances.js';
import { deleteKeys, idempotentUpstream, type IdempotentUpstream } from '../helpers/tasks.js';

const REDIS_URL = 'redis://127.0.0.1:6379';

function yaml(upstream: string, prefix: string, async: string): string {
  return `
redis:
  url: ${REDIS_URL}
workerPool: { max: 32, queue: 1000 }
routes:
  - name: hooks
    match: { pathPrefix: /hooks }
    upstream: ${upstream}
    async: { keyPrefix: "${prefix}", ${async} }
`;
}

async function post(base: string, path: string, headers: Record<string, string> = {}) {
  const res = await request(`${base}${path}`, { method: 'POST', headers, body: '{"x":1}' });
  return { status: res.status, headers: res.headers, body: res.body };
}

async function statusAt(base: string, location: string): Promise<{ status?: string; attempts?: number }> {
  const res = await request(`${base}${location}`);
  return JSON.parse(res.body) as { status?: string; attempts?: number };
}

/** Runs `count` calls of `call(i)`, `concurrency` at a time. */
async function bounded<T>(count: number, concurrency: number, call: (i: number) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await call(i);
      }
    }),
  );
  return results;
}

describe('async route on Redis', () => {
  let prefix: string;
  let instances: Instances | undefined;
  let up: IdempotentUpstream | undefined;
  beforeEach(() => {
    prefix = `test:async:${randomBytes(6).toString('hex')}:`;
  });
  afterEach(async () => {
    await instances?.close();
    await up?.upstream.close();
    instances = undefined;
    up = undefined;
    await deleteKeys(REDIS_URL, prefix);
  });

  it('delivers 1,000 tasks accepted by two instances exactly once by key, with 30% of attempts failing', async () => {
    let faults = 0;
    up = await idempotentUpstream((_req, res) => {
      const roll = Math.random();
      if (roll >= 0.3) return false;
      faults++;
      if (roll < 0.1) res.writeHead(503).end();
      else if (roll < 0.2)
        res.socket?.destroy(); // reset
      else setTimeout(() => res.socket?.destroy(), 2000).unref(); // hangs past attemptTimeout
      return true;
    });
    const config = testConfig(
      yaml(
        up.upstream.url,
        prefix,
        'maxAttempts: 40, backoff: 5ms, maxBackoff: 40ms, attemptTimeout: 1s, claimIdle: 3s',
      ),
    );
    instances = await startInstances(config, 2);
    const list = instances;
    // Each client sends an Idempotency-Key and sends again on a 503 (a Redis call past its commandTimeout on this
    // busy process), as the README tells clients to: the key makes the second send return the first task.
    const keys = Array.from({ length: 1000 }, (_, i) => `${prefix}${i}`);
    const accepted = await bounded(1000, 16, async (i) => {
      const res = await waitFor(async () => {
        const answer = await post(list.portico(i).proxyUrl, `/hooks/${i}`, { 'idempotency-key': keys[i] as string });
        return answer.status === 202 ? answer : undefined;
      });
      return JSON.parse(res.body) as { id: string; location: string };
    });
    expect(new Set(accepted.map((a) => a.id)).size).toBe(1000);
    const ids = keys; // what the upstream receives as Idempotency-Key
    const target = up;
    await waitFor(() => ids.every((id) => target.applied.has(id)), {
      timeoutMs: 60_000,
      message: () => `${ids.filter((id) => !target.applied.has(id)).length} tasks still undelivered`,
    });
    expect(faults).toBeGreaterThan(100); // the faults really happened
    expect([...target.applied.keys()].sort()).toEqual([...ids].sort()); // nothing unknown, nothing lost
    // At least once: an attempt that timed out on a busy loop after the upstream answered is sent again; the key
    // makes the repeat harmless (applied once above). Such repeats stay rare.
    const repeats = [...target.succeeded.values()].filter((n) => n > 1).length;
    expect(repeats).toBeLessThan(100);
    const statuses = await bounded(1000, 16, (i) =>
      statusAt(list.portico(i + 1).proxyUrl, (accepted[i] as { location: string }).location),
    );
    await waitFor(async () => {
      const again = await bounded(1000, 16, (i) =>
        statusAt(list.portico(i).proxyUrl, (accepted[i] as { location: string }).location),
      );
      return again.every((s) => s.status === 'succeeded');
    });
    expect(statuses.filter((s) => s.status === 'failed')).toEqual([]);
    const dead = await request(`${list.portico(0).adminUrl}/tasks/dead`);
    expect(JSON.parse(dead.body)).toEqual({ deadLetters: [] });
  }, 120_000);

  it('dead-letters a 400 at once; either instance lists, retries and deletes it; Idempotency-Key holds across instances', async () => {
    let accept400 = true;
    up = await idempotentUpstream((req, res) => {
      if (accept400 && req.url === '/hooks/bad') {
        res.writeHead(400).end();
        return true;
      }
      return false;
    });
    instances = await startInstances(testConfig(yaml(up.upstream.url, prefix, 'maxAttempts: 3, backoff: 5ms')), 2);
    const [a, b] = [instances.portico(0), instances.portico(1)];
    const bad = await post(a.proxyUrl, '/hooks/bad');
    const badTask = JSON.parse(bad.body) as { id: string; location: string };
    await waitFor(async () => (await statusAt(b.proxyUrl, badTask.location)).status === 'failed');
    expect(await statusAt(b.proxyUrl, badTask.location)).toMatchObject({ attempts: 1, lastStatus: 400 });
    const listed = JSON.parse((await request(`${b.adminUrl}/tasks/dead`)).body) as {
      deadLetters: Array<{ id: string }>;
    };
    expect(listed.deadLetters.map((l) => l.id)).toEqual([badTask.id]);
    accept400 = false;
    expect((await request(`${b.adminUrl}/tasks/dead/retry`, { method: 'POST' })).body).toBe('{"retried":1}');
    await waitFor(async () => (await statusAt(a.proxyUrl, badTask.location)).status === 'succeeded');
    expect(up.applied.get(badTask.id)).toBe(1);

    const first = await post(a.proxyUrl, '/hooks/pay', { 'idempotency-key': `k-${prefix}` });
    const second = await post(b.proxyUrl, '/hooks/pay', { 'idempotency-key': `k-${prefix}` });
    expect(second.status).toBe(202);
    expect(JSON.parse(second.body)).toMatchObject({
      id: (JSON.parse(first.body) as { id: string }).id,
      duplicate: true,
    });
    const target = up;
    await waitFor(() => target.applied.has(`k-${prefix}`));
    expect(target.attempts.filter((k) => k === `k-${prefix}`)).toHaveLength(1);

    accept400 = true;
    const again = JSON.parse((await post(a.proxyUrl, '/hooks/bad')).body) as { id: string; location: string };
    await waitFor(async () => (await statusAt(a.proxyUrl, again.location)).status === 'failed');
    expect((await request(`${a.adminUrl}/tasks/dead/${again.id}`, { method: 'DELETE' })).status).toBe(204);
    expect((await request(`${b.proxyUrl}${again.location}`)).status).toBe(404);
  }, 60_000);
});
