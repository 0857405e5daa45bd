/**
 * Upstream faults injected for real: a closed port, and a TCP fault proxy between Portico and a live upstream that
 * delays, cuts, resets or swallows the bytes. Portico must answer each with the documented status (502/504 as
 * problem+json before any byte was sent, a destroyed client connection after) and hold no socket afterwards.
 */
import { request } from '../helpers/http.js';
import { closedPort } from '../helpers/upstream.js';
import { agentSockets, connections, faultProxy, portico, settlesTo, stopAll, upstream } from './support.js';

afterEach(stopAll);

function route(target: string, extra = ''): string {
  return `routes:\n  - name: api\n    upstream: ${target}\n${extra}`;
}

/** A 1 MiB answer, so a cut lands mid-body. */
const BIG = Buffer.alloc(1024 * 1024, 120);
const answerBig = (_req: unknown, res: import('node:http').ServerResponse): void => {
  res.writeHead(200, { 'content-length': BIG.length });
  res.end(BIG);
};

describe('upstream refuses', () => {
  it('answers 502 every time and holds no socket, however often it is asked', async () => {
    const port = await closedPort();
    const p = await portico(route(`http://127.0.0.1:${port}`));
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () => request(`${p.portico.proxyUrl}/x`).then((r) => r.status)),
    );
    expect(new Set(statuses)).toEqual(new Set([502]));
    expect(agentSockets(port)).toBe(0);
    await settlesTo(() => connections(p.server()), 0, 'Portico client connections');
  });
});

describe('upstream resets and cuts', () => {
  it('answers 502 problem+json when the connection is reset before any response byte', async () => {
    const up = await upstream();
    const fault = await faultProxy(up.port, { kind: 'reset', afterBytes: 0 });
    const p = await portico(route(fault.url));
    const res = await request(`${p.portico.proxyUrl}/x`, { method: 'POST', body: 'payload' });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({
      code: 'PORTICO_UPSTREAM_RESET',
      route: 'api',
      requestId: res.headers['x-request-id'],
    });
    await settlesTo(() => fault.open(), 0, 'fault proxy connections');
  });

  it('destroys the client connection, never a complete-looking answer, when reset mid-body', async () => {
    const up = await upstream(answerBig);
    const fault = await faultProxy(up.port, { kind: 'reset', afterBytes: 200 * 1024 });
    const p = await portico(route(fault.url));
    await expect(request(`${p.portico.proxyUrl}/big`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await settlesTo(() => connections(p.server()), 0, 'Portico client connections');
    await settlesTo(() => agentSockets(fault.port), 0, 'agent sockets to the upstream');
  });

  it('destroys the client connection when the upstream closes cleanly (FIN) before the declared length', async () => {
    const up = await upstream(answerBig);
    const fault = await faultProxy(up.port, { kind: 'cut', afterBytes: 300 * 1024 });
    const p = await portico(route(fault.url));
    await expect(request(`${p.portico.proxyUrl}/big`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    await settlesTo(() => agentSockets(fault.port), 0, 'agent sockets to the upstream');
  });

  it('answers 502 when the upstream closes after a partial status line', async () => {
    const up = await upstream();
    const fault = await faultProxy(up.port, { kind: 'cut', afterBytes: 9 }); // "HTTP/1.1 "
    const p = await portico(route(fault.url));
    const res = await request(`${p.portico.proxyUrl}/x`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ route: 'api', status: 502 });
  });
});

describe('upstream hangs and slowness', () => {
  it('answers 504 when the upstream accepts the connection and never answers, and closes that connection', async () => {
    const up = await upstream();
    const fault = await faultProxy(up.port, { kind: 'blackhole' });
    const p = await portico(route(fault.url, '    timeout: 200ms\n'));
    const started = Date.now();
    const res = await request(`${p.portico.proxyUrl}/x`);
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'PORTICO_UPSTREAM_TIMEOUT', route: 'api' });
    // The 200 ms route timeout + slack for a busy machine; without it the request would wait for the black hole.
    expect(Date.now() - started).toBeLessThan(200 + 3000);
    await settlesTo(() => fault.open(), 0, 'blackholed connections');
    expect(up.received).toHaveLength(0);
  });

  it('passes a slow but steady answer through whole (the timeout is idle time, not total time)', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      let sent = 0;
      const timer = setInterval(() => {
        res.write(`part${sent}\n`);
        if (++sent === 8) {
          clearInterval(timer);
          res.end();
        }
      }, 50);
      res.on('close', () => clearInterval(timer));
    });
    const fault = await faultProxy(up.port, { kind: 'delay', ms: 60 });
    const p = await portico(route(fault.url, '    timeout: 250ms\n'));
    const res = await request(`${p.portico.proxyUrl}/slow`);
    expect(res.status).toBe(200);
    expect(res.body.split('\n').filter(Boolean)).toHaveLength(8);
  });

  it('answers 504 when the first byte comes later than the route timeout', async () => {
    const up = await upstream();
    const fault = await faultProxy(up.port, { kind: 'delay', ms: 400 });
    const p = await portico(route(fault.url, '    timeout: 150ms\n'));
    const res = await request(`${p.portico.proxyUrl}/x`);
    expect(res.status).toBe(504);
  });

  it('destroys the client connection when the answer stalls after its headers', async () => {
    let stalled = 0;
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('first ten!');
      stalled++;
    });
    const p = await portico(route(up.url, '    timeout: 200ms\n'));
    await expect(request(`${p.portico.proxyUrl}/x`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect(stalled).toBe(1);
    await settlesTo(() => connections(up.server), 0, 'upstream connections');
  });
});

describe('upstream keep-alive sockets closing between requests', () => {
  it('never surfaces a reset to the client when the upstream closes idle sockets without notice', async () => {
    // The upstream answers, then closes the socket without announcing it: the pooled socket dies while idle.
    const up = await upstream((_req, res) => {
      res.end('ok');
      res.on('finish', () => setImmediate(() => res.socket?.end()));
    });
    const p = await portico(route(up.url));
    const statuses: number[] = [];
    for (let i = 0; i < 40; i++) statuses.push((await request(`${p.portico.proxyUrl}/n${i}`)).status);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('retries a GET once on a fresh socket when every pooled socket turned stale', async () => {
    const held: Array<() => void> = [];
    const up = await upstream((req, res) => {
      if (req.url?.startsWith('/warm')) held.push(() => res.end('warm'));
      else res.end('fresh');
      if (held.length === 3) for (const release of held.splice(0)) release();
    });
    const fault = await faultProxy(up.port);
    const p = await portico(route(fault.url));
    // Three concurrent requests leave three idle sockets in the pool.
    const warm = await Promise.all([0, 1, 2].map((i) => request(`${p.portico.proxyUrl}/warm${i}`)));
    expect(warm.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(fault.accepted()).toBe(3);
    fault.poisonOpen(); // e.g. a NAT or the upstream host dropped them silently: the next byte meets a reset
    const res = await request(`${p.portico.proxyUrl}/after`);
    expect(res.status).toBe(200);
    expect(res.body).toBe('fresh');
  });
});

describe('retries: idempotent only, before any response byte, at most once', () => {
  async function stalePool() {
    const up = await upstream((req, res) => {
      if (req.url === '/partial') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('ten bytes!');
        setImmediate(() => req.socket.destroy());
        return;
      }
      res.end(`${req.method} ${req.url}`);
    });
    const fault = await faultProxy(up.port);
    const p = await portico(route(fault.url));
    /** Leaves one idle pooled socket and makes it stale; returns the connection count before the next request. */
    const staleSocket = async (): Promise<number> => {
      expect((await request(`${p.portico.proxyUrl}/warm`)).status).toBe(200);
      fault.poisonOpen();
      return fault.accepted();
    };
    return { up, fault, url: p.portico.proxyUrl, staleSocket };
  }

  it.each(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'])(
    'replays a bodiless %s once on a fresh connection',
    async (method) => {
      const { up, fault, url, staleSocket } = await stalePool();
      const before = await staleSocket();
      const res = await request(`${url}/m`, { method });
      expect(res.status).toBe(200);
      expect(fault.accepted() - before).toBe(1);
      expect(up.received.filter((r) => r.url === '/m')).toHaveLength(1);
    },
  );

  it.each([
    ['POST', undefined],
    ['PATCH', undefined],
    ['PUT', 'a body that was streamed and is gone'],
  ])('does not replay %s (body: %s)', async (method, body) => {
    const { fault, url, staleSocket } = await stalePool();
    const before = await staleSocket();
    const res = await request(`${url}/m`, { method, ...(body === undefined ? {} : { body }) });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'PORTICO_UPSTREAM_RESET' });
    expect(fault.accepted() - before).toBe(0);
  });

  it('retries at most once: a second reset is answered 502', async () => {
    const { fault, url, staleSocket } = await stalePool();
    const before = await staleSocket();
    fault.set({ kind: 'reset', afterBytes: 0 });
    const res = await request(`${url}/m`);
    expect(res.status).toBe(502);
    expect(fault.accepted() - before).toBe(1);
  });

  it('does not retry once response bytes reached the client', async () => {
    const { up, url } = await stalePool();
    expect((await request(`${url}/warm`)).status).toBe(200);
    await expect(request(`${url}/partial`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
    expect(up.received.filter((r) => r.url === '/partial')).toHaveLength(1);
  });
});
