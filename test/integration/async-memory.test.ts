/**
 * Async routes on the in-process store: 202 only once stored, delivery with Idempotency-Key and the original
 * request id, retries (Retry-After, maxAttempts), permanent failures to the dead letters, the admin dead-letter
 * calls, idempotent accepts, 413, a full queue, the status endpoint, and the drain at shutdown.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { request, waitFor } from '../helpers/http.js';
import { startTestPortico } from '../helpers/portico.js';
import { startUpstream, type TestUpstream } from '../helpers/upstream.js';
import { captureLogs } from '../helpers/logs.js';
import { sparePort } from '../helpers/ports.js';
import type { Portico } from '../../src/main.js';

interface Seen {
  readonly at: number;
  readonly key: string;
  readonly requestId: string;
  readonly url: string;
  readonly body: string;
  readonly traceparent: string | undefined;
}

/** An upstream whose answer is chosen per attempt; records every attempt. */
async function scriptedUpstream(
  answer: (req: IncomingMessage, res: ServerResponse, attempt: number) => void,
  port?: number,
): Promise<{ upstream: TestUpstream; seen: Seen[] }> {
  const seen: Seen[] = [];
  const upstream = await startUpstream(
    (req, res, body) => {
      seen.push({
        at: performance.now(),
        key: String(req.headers['idempotency-key']),
        requestId: String(req.headers['x-request-id']),
        url: req.url ?? '',
        body: body.toString(),
        traceparent: req.headers.traceparent as string | undefined,
      });
      answer(req, res, seen.length);
    },
    { port },
  );
  return { upstream, seen };
}

const ok = (_req: IncomingMessage, res: ServerResponse): void => {
  res.writeHead(200).end('done');
};

function routeYaml(upstream: string, extra = ''): string {
  return `
routes:
  - name: hooks
    match: { pathPrefix: /hooks }
    upstream: ${upstream}
    stripPrefix: true
    async: { maxAttempts: 3, backoff: 10ms, maxBackoff: 50ms, attemptTimeout: 2s, maxBodySize: 64KiB${extra} }
`;
}

async function post(portico: Portico, path: string, body = '{"n":1}', headers: Record<string, string> = {}) {
  const res = await request(`${portico.proxyUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { ...res, json: res.status === 202 ? (JSON.parse(res.body) as { id: string; location: string }) : undefined };
}

async function statusOf(portico: Portico, location: string): Promise<Record<string, unknown>> {
  const res = await request(`${portico.proxyUrl}${location}`);
  return JSON.parse(res.body) as Record<string, unknown>;
}

describe('async route, in process', () => {
  let portico: Portico | undefined;
  let upstream: TestUpstream | undefined;
  afterEach(async () => {
    await portico?.shutdown();
    await upstream?.close();
    portico = undefined;
    upstream = undefined;
  });

  it('answers 202 with a Location once stored, then delivers with Idempotency-Key and the request id', async () => {
    const up = await scriptedUpstream(ok);
    upstream = up.upstream;
    portico = await startTestPortico(routeYaml(upstream.url));
    // Tracing off: the accepting request's traceparent is what each attempt carries.
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const accepted = await post(portico, '/hooks/order?x=1', '{"order":7}', {
      'x-request-id': 'req-abc-123',
      traceparent,
    });
    expect(accepted.status).toBe(202);
    expect(accepted.json?.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(accepted.headers.location).toBe(`/_portico/tasks/hooks/${accepted.json?.id}`);
    await waitFor(() => up.seen.length === 1);
    expect(up.seen[0]).toMatchObject({
      key: accepted.json?.id,
      requestId: 'req-abc-123',
      url: '/order?x=1',
      body: '{"order":7}',
      traceparent,
    });
    const status = await waitFor(async () => {
      const doc = await statusOf(portico as Portico, accepted.headers.location as string);
      return doc.status === 'succeeded' ? doc : undefined;
    });
    expect(status).toMatchObject({ id: accepted.json?.id, attempts: 1, lastStatus: 200, lastError: null });
    const metrics = await request(`${portico.adminUrl}/metrics`);
    expect(metrics.body).toContain('portico_async_tasks_total{route="hooks",event="accepted"} 1');
    expect(metrics.body).toContain('portico_async_tasks_total{route="hooks",event="succeeded"} 1');
    const missing = await request(`${portico.proxyUrl}/_portico/tasks/hooks/nope`);
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect((await request(`${portico.proxyUrl}/_portico/tasks/hooks/%ZZ`)).status).toBe(404);
  });

  it('retries 5xx with backoff and honours Retry-After', async () => {
    const up = await scriptedUpstream((_req, res, attempt) => {
      if (attempt === 1) res.writeHead(503, { 'retry-after': '1' }).end();
      else ok(_req, res);
    });
    upstream = up.upstream;
    portico = await startTestPortico(routeYaml(upstream.url));
    const accepted = await post(portico, '/hooks/x');
    await waitFor(() => up.seen.length === 2, { timeoutMs: 15_000 });
    const [first, second] = up.seen as [Seen, Seen];
    expect(second.at - first.at).toBeGreaterThanOrEqual(990); // backoff alone would be under 10 ms
    expect(second.key).toBe(first.key);
    await waitFor(
      async () => (await statusOf(portico as Portico, accepted.json?.location as string)).status === 'succeeded',
    );
  });

  it('stops after maxAttempts and keeps a dead letter; a permanent 400 fails at once; admin retry and delete', async () => {
    let healthy = false;
    const up = await scriptedUpstream((req, res) => {
      if (healthy) ok(req, res);
      else if (req.url === '/bad') res.writeHead(400).end();
      else res.writeHead(500).end();
    });
    upstream = up.upstream;
    portico = await startTestPortico(routeYaml(upstream.url));
    const flaky = await post(portico, '/hooks/flaky');
    const bad = await post(portico, '/hooks/bad');
    const flakyDone = await waitFor(async () => {
      const doc = await statusOf(portico as Portico, flaky.json?.location as string);
      return doc.status === 'failed' ? doc : undefined;
    });
    expect(flakyDone).toMatchObject({ attempts: 3, lastStatus: 500 });
    const badDone = await waitFor(async () => {
      const doc = await statusOf(portico as Portico, bad.json?.location as string);
      return doc.status === 'failed' ? doc : undefined;
    });
    expect(badDone).toMatchObject({ attempts: 1, lastStatus: 400 });
    expect(up.seen.filter((s) => s.url === '/flaky')).toHaveLength(3);
    expect(up.seen.filter((s) => s.url === '/bad')).toHaveLength(1);

    const list = await request(`${portico.adminUrl}/tasks/dead`);
    const letters = (JSON.parse(list.body) as { deadLetters: Array<{ id: string; route: string }> }).deadLetters;
    expect(letters.map((l) => l.id).sort()).toEqual([flaky.json?.id, bad.json?.id].sort());
    expect(letters[0]?.route).toBe('hooks');

    healthy = true;
    const retried = await request(`${portico.adminUrl}/tasks/dead/${flaky.json?.id}/retry`, { method: 'POST' });
    expect(JSON.parse(retried.body)).toEqual({ retried: 1 });
    await waitFor(
      async () => (await statusOf(portico as Portico, flaky.json?.location as string)).status === 'succeeded',
    );
    const deleted = await request(`${portico.adminUrl}/tasks/dead/${bad.json?.id}`, { method: 'DELETE' });
    expect(deleted.status).toBe(204);
    const after = await request(`${portico.adminUrl}/tasks/dead`);
    expect(JSON.parse(after.body)).toEqual({ deadLetters: [] });
    expect((await request(`${portico.adminUrl}/tasks/dead/${bad.json?.id}`, { method: 'DELETE' })).status).toBe(404);
  });

  it('returns the first task for a repeated Idempotency-Key and delivers it once, with that key', async () => {
    const up = await scriptedUpstream(ok);
    upstream = up.upstream;
    portico = await startTestPortico(routeYaml(upstream.url));
    const first = await post(portico, '/hooks/pay', '{}', { 'idempotency-key': 'client-key-1' });
    const again = await post(portico, '/hooks/pay', '{}', { 'idempotency-key': 'client-key-1' });
    expect(again.status).toBe(202);
    expect(again.json?.id).toBe(first.json?.id);
    await waitFor(
      async () => (await statusOf(portico as Portico, first.json?.location as string)).status === 'succeeded',
    );
    expect(up.seen.map((s) => s.key)).toEqual(['client-key-1']);
    const bad = await post(portico, '/hooks/pay', '{}', { 'idempotency-key': 'a b' });
    expect(bad.status).toBe(400);
  });

  it('answers 413 for a body over maxBodySize and stores nothing', async () => {
    const up = await scriptedUpstream(ok);
    upstream = up.upstream;
    portico = await startTestPortico(routeYaml(upstream.url));
    const big = await post(portico, '/hooks/big', 'x'.repeat(64 * 1024 + 1));
    expect(big.status).toBe(413);
    expect(big.headers['content-type']).toBe('application/problem+json');
    const fits = await post(portico, '/hooks/fits', 'x'.repeat(64 * 1024));
    expect(fits.status).toBe(202);
    await waitFor(() => up.seen.length === 1);
    expect(up.seen[0]?.url).toBe('/fits');
  });

  it('stores nothing for a client that went away before its body ended (the context signal)', async () => {
    const up = await scriptedUpstream(ok);
    upstream = up.upstream;
    portico = await startTestPortico(routeYaml(upstream.url));
    const socket = net.connect(Number(new URL(portico.proxyUrl).port), '127.0.0.1');
    await once(socket, 'connect');
    socket.write('POST /hooks/gone HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n');
    // Node answers 100 Continue as it hands the request to Portico: the accept is reading the body now.
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    expect(chunk.toString()).toContain('100 Continue');
    socket.write('0123456789');
    socket.destroy();
    const later = await post(portico, '/hooks/later');
    expect(later.status).toBe(202);
    await waitFor(() => up.seen.length === 1);
    await waitFor(
      async () => (await statusOf(portico as Portico, later.json?.location as string)).status === 'succeeded',
    );
    expect(up.seen.map((s) => s.url)).toEqual(['/later']); // FIFO: a stored /gone would have gone first
  });

  it('answers 503 with Retry-After when the queue is full, and accepts again once it drains', async () => {
    const held: ServerResponse[] = [];
    let hold = true;
    const up = await scriptedUpstream((req, res) => (hold ? void held.push(res) : ok(req, res)));
    upstream = up.upstream;
    portico = await startTestPortico(routeYaml(upstream.url, ', queue: 2'));
    expect((await post(portico, '/hooks/1')).status).toBe(202);
    expect((await post(portico, '/hooks/2')).status).toBe(202);
    const refused = await post(portico, '/hooks/3');
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'PORTICO_QUEUE_FULL', route: 'hooks' });
    await waitFor(() => held.length === 2);
    hold = false;
    for (const res of held) res.writeHead(200).end();
    await waitFor(async () => (await post(portico as Portico, '/hooks/4')).status === 202);
    expect(up.seen.map((s) => s.url)).not.toContain('/3');
  });

  it('waits while the upstream is down (1.5 s here) and delivers when it returns', async () => {
    const port = await sparePort();
    const yaml = routeYaml(`http://127.0.0.1:${port}`)
      .replace('maxAttempts: 3', 'maxAttempts: 100')
      .replace('maxBackoff: 50ms', 'maxBackoff: 200ms');
    portico = await startTestPortico(yaml);
    const accepted = await Promise.all([1, 2, 3].map((n) => post(portico as Portico, `/hooks/${n}`)));
    expect(accepted.map((a) => a.status)).toEqual([202, 202, 202]);
    await waitFor(
      async () => Number((await statusOf(portico as Portico, accepted[0]?.json?.location as string)).attempts) >= 2,
    );
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const up = await scriptedUpstream(ok, port);
    upstream = up.upstream;
    await waitFor(() => up.seen.length >= 3);
    for (const a of accepted)
      await waitFor(
        async () => (await statusOf(portico as Portico, a.json?.location as string)).status === 'succeeded',
      );
    expect(new Set(up.seen.map((s) => s.key)).size).toBe(3);
  });

  it('delivers what it can at shutdown within drainTimeout and logs how many were left', async () => {
    const held: ServerResponse[] = [];
    const up = await scriptedUpstream((req, res) => {
      if (req.url === '/slow') held.push(res);
      else ok(req, res);
    });
    upstream = up.upstream;
    const logs = captureLogs('info');
    portico = await startTestPortico(
      `server:\n  listen: 127.0.0.1:0\n  admin: 127.0.0.1:0\n  drainTimeout: 500ms\n${routeYaml(upstream.url).replace('attemptTimeout: 2s', 'attemptTimeout: 20s, claimIdle: 30s')}`,
      { logger: logs.logger },
    );
    await post(portico, '/hooks/slow');
    await waitFor(() => held.length === 1);
    await post(portico, '/hooks/quick');
    const stopping = portico.shutdown();
    portico = undefined;
    await stopping;
    expect(up.seen.map((s) => s.url)).toContain('/quick');
    const line = logs.lines.find((l) => l.msg === 'in-process async tasks left undelivered at shutdown; they are lost');
    expect(line).toMatchObject({ left: 1 });
  });
});
