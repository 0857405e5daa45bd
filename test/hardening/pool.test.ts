/**
 * The upstream pool under pressure: a request that finds every pooled socket busy must still be answered within its
 * route's timeout (503, not an unbounded wait behind slow exchanges), and an upstream that trickles its response
 * head must not hold a request past that timeout either (504), while slow but legitimate uploads pass.
 */
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { request } from '../helpers/http.js';
import { createAgentPool, takeQueued } from '../../src/proxy/agents.js';
import { agentQueued, portico, serverSection, settlesTo, stopAll, upstream, within } from './support.js';

afterEach(stopAll);

/** An upstream whose `/hold` answers at once but streams its body until released; everything else gets `ok`. */
async function holdingUpstream() {
  const releases: Array<() => void> = [];
  const up = await upstream((req, res) => {
    if (req.url !== '/hold') {
      res.end('ok');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain' });
    const timer = setInterval(() => res.write('.'), 50); // steady bytes: the idle timeout never fires
    releases.push(() => {
      clearInterval(timer);
      res.end('done');
    });
    res.on('close', () => clearInterval(timer));
  });
  const release = (): void => {
    for (const done of releases.splice(0)) done();
  };
  return { up, release };
}

describe('requests waiting for a pooled socket (upstreamMaxSockets: 1, route timeout 300ms)', () => {
  async function setup() {
    const { up, release } = await holdingUpstream();
    const p = await portico(
      `${serverSection('  upstreamMaxSockets: 1\n')}routes:\n  - name: api\n    timeout: 300ms\n    upstream: ${up.url}\n`,
    );
    const url = p.portico.proxyUrl;
    const hold = request(`${url}/hold`);
    await settlesTo(() => up.received.length, 1, 'the holding request at the upstream');
    return { up, url, hold, release };
  }

  it('answers 503 problem+json within the route timeout instead of waiting for the socket', async () => {
    const { up, url, hold, release } = await setup();
    const started = Date.now();
    const queued = request(`${url}/queued`);
    expect(await within(queued, 2000)).toBe(true);
    const res = await queued;
    expect(res.status).toBe(503);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body)).toMatchObject({ code: 'PORTICO_UPSTREAM_BUSY', route: 'api' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    expect(agentQueued(up.port)).toBe(0); // it left the queue: a freed socket goes to a live request
    release();
    expect((await hold).status).toBe(200);
    expect((await request(`${url}/after`)).status).toBe(200);
    expect(up.received.map((r) => r.url)).toEqual(['/hold', '/after']);
  });

  it('serves a waiting request normally when a socket frees in time', async () => {
    const { up, url, hold, release } = await setup();
    const queued = request(`${url}/queued`);
    await settlesTo(() => agentQueued(up.port), 1, 'the request waiting in the agent queue');
    release();
    expect((await queued).status).toBe(200);
    expect((await hold).status).toBe(200);
  });

  it('takes a waiting request whose client left out of the queue by its route timeout', async () => {
    const { up, url, hold, release } = await setup();
    const cut = http.get(`${url}/queued`, { agent: false });
    cut.on('error', () => undefined);
    await settlesTo(() => agentQueued(up.port), 1, 'the request waiting in the agent queue');
    cut.destroy();
    await settlesTo(() => agentQueued(up.port), 0, 'the queue emptied while the socket is still busy', 2000);
    release();
    expect((await hold).status).toBe(200);
    expect(up.received.map((r) => r.url)).toEqual(['/hold']);
  });

  it('contract: http.request hands the request to agent.addRequest at once, and a waiting one is noted', async () => {
    const { up } = await holdingUpstream();
    const pool = createAgentPool({ maxSockets: 1, idleTimeout: 1000 });
    try {
      const agent = pool.agentFor(new URL(up.url));
      const first = http.request(`${up.url}/x`, { agent });
      expect(takeQueued(agent)).toBeUndefined();
      const second = http.request(`${up.url}/y`, { agent });
      expect(takeQueued(agent)).toBe(second);
      expect(takeQueued(agent)).toBeUndefined(); // taken once
      for (const req of [first, second]) {
        req.on('error', () => undefined);
        req.destroy();
      }
    } finally {
      pool.destroy();
    }
  });
});

describe('upstream response head deadline (route timeout 300ms)', () => {
  /** A raw upstream that reads the request, then sends its status line and trickles one header byte every 50ms. */
  async function tricklingUpstream() {
    const open = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      open.add(socket);
      socket.on('close', () => open.delete(socket));
      socket.on('error', () => undefined);
      socket.once('data', () => {
        socket.write('HTTP/1.1 200 OK\r\nX-Trickle: ');
        const timer = setInterval(() => socket.write('a'), 50);
        socket.on('close', () => clearInterval(timer));
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    return {
      url: `http://127.0.0.1:${port}`,
      open: () => open.size,
      close: async () => {
        for (const socket of open) socket.destroy();
        server.close();
        await once(server, 'close');
      },
    };
  }

  it('answers 504 when the upstream trickles its response head past the timeout, and closes that connection', async () => {
    const trickle = await tricklingUpstream();
    try {
      const p = await portico(`routes:\n  - name: api\n    timeout: 300ms\n    upstream: ${trickle.url}\n`);
      const started = Date.now();
      const pending = request(`${p.portico.proxyUrl}/x`);
      expect(await within(pending, 2500)).toBe(true);
      const res = await pending;
      expect(res.status).toBe(504);
      expect(JSON.parse(res.body)).toMatchObject({ code: 'PORTICO_UPSTREAM_TIMEOUT', route: 'api' });
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
      await settlesTo(trickle.open, 0, 'trickling upstream connections');
    } finally {
      await trickle.close();
    }
  });

  it('starts the clock when the body is sent: an upload longer than the timeout passes', async () => {
    const up = await upstream((_req, res, body) => {
      setTimeout(() => res.end(`got ${body.length}`), 150); // answers within the timeout of the body's end
    });
    const p = await portico(`routes:\n  - name: api\n    timeout: 300ms\n    upstream: ${up.url}\n`);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(`${p.portico.proxyUrl}/upload`, {
        method: 'POST',
        agent: false,
        headers: { 'content-length': '120' },
      });
      req.on('response', (answer) => {
        let body = '';
        answer.on('data', (chunk: Buffer) => (body += chunk.toString()));
        answer.on('end', () => resolve({ status: answer.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      let sent = 0;
      const timer = setInterval(() => {
        req.write('0123456789');
        if (++sent === 12) {
          clearInterval(timer);
          req.end();
        }
      }, 60); // 12 x 60ms: the body takes twice the route timeout
    });
    expect(res).toEqual({ status: 200, body: 'got 120' });
  });
});
