import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import supertest from 'supertest';
import { startTestPortico } from '../helpers/portico.js';
import {
  acceptWebSockets,
  closedPort,
  staleOnSecondRequest,
  startUpstream,
  type TestUpstream,
} from '../helpers/upstream.js';
import { rawExchange, request, waitFor, WEBSOCKET_HANDSHAKE } from '../helpers/http.js';
import type { Portico } from '../../src/main.js';

const running: Array<{ close?: () => Promise<void>; shutdown?: () => Promise<void> }> = [];
afterEach(async () => {
  for (const item of running.splice(0)) await (item.shutdown ?? item.close)?.call(item);
});

async function upstream(...args: Parameters<typeof startUpstream>): Promise<TestUpstream> {
  const started = await startUpstream(...args);
  running.push(started);
  return started;
}

async function portico(yaml: string): Promise<Portico> {
  const started = await startTestPortico(yaml);
  running.push(started);
  return started;
}

describe('forwarding', () => {
  it('forwards method, path, query and body, and answers with the upstream response', async () => {
    const up = await upstream();
    const p = await portico(`routes:\n  - name: api\n    match: { pathPrefix: /api }\n    upstream: ${up.url}\n`);
    const res = await supertest(p.proxyUrl).post('/api/items?x=1').send({ a: 1 });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ method: 'POST', url: '/api/items?x=1', bodyBytes: 7 });
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-request-id']).toBe(up.received[0]?.headers['x-request-id']);
  });

  it('strips the route prefix when asked', async () => {
    const up = await upstream();
    const p = await portico(
      `routes:\n  - name: api\n    match: { pathPrefix: /api/v1 }\n    stripPrefix: true\n    upstream: ${up.url}\n`,
    );
    await supertest(p.proxyUrl).get('/api/v1/users/7?q=a').expect(200);
    await supertest(p.proxyUrl).get('/api/v1').expect(200);
    expect(up.received.map((r) => r.url)).toEqual(['/users/7?q=a', '/']);
  });

  it('spreads requests over a list of upstreams round robin', async () => {
    const a = await upstream();
    const b = await upstream();
    const p = await portico(`routes:\n  - name: rr\n    upstream: [${a.url}, ${b.url}]\n`);
    for (let i = 0; i < 6; i++) await supertest(p.proxyUrl).get(`/n${i}`).expect(200);
    expect(a.received.map((r) => r.url)).toEqual(['/n0', '/n2', '/n4']);
    expect(b.received.map((r) => r.url)).toEqual(['/n1', '/n3', '/n5']);
  });

  it('routes by host and method, answering 404 and 405 as problem+json', async () => {
    const a = await upstream();
    const b = await upstream();
    const p = await portico(
      `routes:\n  - name: by-host\n    match: { host: api.example.com }\n    upstream: ${a.url}\n  - name: reads\n    match: { pathPrefix: /reads, methods: [GET] }\n    upstream: ${b.url}\n`,
    );
    await supertest(p.proxyUrl).get('/anything').set('Host', 'API.example.com:8080').expect(200);
    expect(a.received).toHaveLength(1);
    const missing = await supertest(p.proxyUrl).get('/nowhere').set('Host', 'other.example');
    expect(missing.status).toBe(404);
    expect(missing.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(missing.text)).toMatchObject({
      status: 404,
      code: 'PORTICO_ROUTE_NOT_FOUND',
      requestId: missing.headers['x-request-id'],
    });
    const wrongMethod = await supertest(p.proxyUrl).delete('/reads/1').set('Host', 'other.example');
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.allow).toBe('GET');
    expect(b.received).toHaveLength(0);
  });

  it('replaces X-Forwarded-* from an untrusted client and keeps a sane request id', async () => {
    const up = await upstream();
    const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
    await supertest(p.proxyUrl)
      .get('/x')
      .set('X-Forwarded-For', '1.2.3.4')
      .set('X-Forwarded-Host', 'evil.example')
      .set('X-Request-Id', 'client-id-1')
      .expect('x-request-id', 'client-id-1');
    const headers = up.received[0]?.headers ?? {};
    expect(headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(headers['x-forwarded-host']).toBe(new URL(p.proxyUrl).host);
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-request-id']).toBe('client-id-1');
  });

  it('strips hop-by-hop headers in both directions', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, {
        connection: 'x-upstream-hop',
        'x-upstream-hop': 'secret',
        'keep-alive': 'timeout=5',
        'x-kept': '1',
        'content-length': '2',
      });
      res.end('ok');
    });
    const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
    const res = await request(`${p.proxyUrl}/x`, {
      headers: {
        connection: 'x-client-hop, X-Forwarded-For',
        'x-client-hop': 'secret',
        te: 'trailers',
        'proxy-authorization': 'Basic eDp5',
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-upstream-hop']).toBeUndefined();
    expect(res.headers['keep-alive']).toBeUndefined();
    expect(res.headers['x-kept']).toBe('1');
    const sent = up.received[0]?.headers ?? {};
    expect(sent['x-client-hop']).toBeUndefined();
    expect(sent.te).toBeUndefined();
    expect(sent['proxy-authorization']).toBeUndefined();
    expect(sent['x-forwarded-for']).toBe('127.0.0.1');
  });
});

describe('upstream failures', () => {
  const noStack = (body: string) => {
    expect(body).not.toMatch(/\bat .+\(.+:\d+:\d+\)|node:internal|ECONNREFUSED|127\.0\.0\.1/);
  };

  it('answers 502 problem+json when the upstream refuses', async () => {
    const port = await closedPort();
    const p = await portico(`routes:\n  - name: dead\n    upstream: http://127.0.0.1:${port}\n`);
    const res = await supertest(p.proxyUrl).get('/x');
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.text)).toMatchObject({
      code: 'PORTICO_UPSTREAM_UNREACHABLE',
      route: 'dead',
      requestId: res.headers['x-request-id'],
    });
    noStack(res.text);
  });

  it('answers 502 when the upstream resets before responding', async () => {
    const up = await upstream((req) => req.socket.destroy());
    const p = await portico(`routes:\n  - name: reset\n    upstream: ${up.url}\n`);
    const res = await supertest(p.proxyUrl).post('/x').send('body');
    expect(res.status).toBe(502);
    expect(JSON.parse(res.text)).toMatchObject({ code: 'PORTICO_UPSTREAM_RESET', route: 'reset' });
    noStack(res.text);
  });

  it('answers 504 when the upstream does not answer within the route timeout', async () => {
    const up = await upstream(() => undefined);
    const p = await portico(`routes:\n  - name: slow\n    timeout: 150ms\n    upstream: ${up.url}\n`);
    const res = await supertest(p.proxyUrl).get('/x');
    expect(res.status).toBe(504);
    expect(JSON.parse(res.text)).toMatchObject({ code: 'PORTICO_UPSTREAM_TIMEOUT', route: 'slow' });
  });

  it('destroys the client connection when the upstream breaks after the headers', async () => {
    const up = await upstream((_req, res) => {
      res.writeHead(200, { 'content-length': '100' });
      res.write('only ten b');
      setImmediate(() => res.socket?.destroy());
    });
    const p = await portico(`routes:\n  - name: broken\n    upstream: ${up.url}\n`);
    await expect(request(`${p.proxyUrl}/x`)).rejects.toThrow(/aborted|socket hang up|ECONNRESET/);
  });

  it('aborts the upstream request when the client goes away', async () => {
    const closed: string[] = [];
    const up = await upstream((req, res) => {
      res.on('close', () => closed.push(req.url ?? ''));
    });
    const p = await portico(`routes:\n  - name: hang\n    upstream: ${up.url}\n`);
    const client = http.get(`${p.proxyUrl}/wait`, { agent: false });
    client.on('error', () => undefined);
    await waitFor(() => up.received.length === 1, { message: 'upstream to receive the request' });
    client.destroy();
    await waitFor(() => closed.length === 1, { message: 'upstream request to be aborted' });
    expect(closed).toEqual(['/wait']);
  });

  it('closes an idle upstream socket before the upstream does when it announces a shorter Keep-Alive timeout', async () => {
    // Node's server announces `Keep-Alive: timeout=2`; the agent then retires the idle socket after 1s (its 1s safety
    // margin), well before Portico's own 4s idle timeout and before the upstream closes it at 2s.
    const up = await upstream(undefined, { keepAliveTimeout: 2000 });
    const closedBy = new Promise<'portico' | 'upstream'>((resolve) => {
      up.server.once('connection', (socket: net.Socket) => {
        let peerEnded = false;
        socket.once('end', () => (peerEnded = true));
        socket.once('close', () => resolve(peerEnded ? 'portico' : 'upstream'));
      });
    });
    const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
    const res = await supertest(p.proxyUrl).get('/x').expect(200);
    expect(res.headers['keep-alive']).toBeUndefined(); // still hop-by-hop for the client
    expect(await closedBy).toBe('portico');
  }, 10_000);

  it('retries an idempotent request once when a reused keep-alive socket turns out dead', async () => {
    const up = await upstream(staleOnSecondRequest((req, res) => res.end(`ok ${req.method}`)));
    const p = await portico(`routes:\n  - name: api\n    upstream: ${up.url}\n`);
    await supertest(p.proxyUrl).get('/first').expect(200);
    const retried = await supertest(p.proxyUrl).get('/second');
    expect(retried.status).toBe(200);
    expect(retried.text).toBe('ok GET');
    expect(up.received.filter((r) => r.url === '/second')).toHaveLength(2);
    // A POST is not replayed: its body was streamed and the method is not idempotent.
    await supertest(p.proxyUrl).get('/third').expect(200);
    const post = await supertest(p.proxyUrl).post('/fourth').send('x');
    expect(post.status).toBe(502);
    expect(up.received.filter((r) => r.url === '/fourth')).toHaveLength(1);
  });
});

describe('WebSocket upgrades', () => {
  async function handshake(port: number, path: string): Promise<{ socket: net.Socket; head: string }> {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(`GET ${path} HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\n`);
    let head = '';
    await new Promise<void>((resolve, reject) => {
      socket.on('data', function onData(chunk: Buffer) {
        head += chunk.toString('latin1');
        if (head.includes('\r\n\r\n')) {
          socket.off('data', onData);
          resolve();
        }
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
    return { socket, head };
  }

  it('passes an upgrade through on the first request, through the route chain', async () => {
    const up = await upstream();
    const ws = acceptWebSockets(up);
    const p = await portico(
      `routes:\n  - name: ws\n    match: { pathPrefix: /ws }\n    upstream: ${up.url}\n    middleware:\n      - headers: { request: { set: { x-chain: ran } } }\n`,
    );
    const { socket, head } = await handshake(Number(new URL(p.proxyUrl).port), '/ws/chat');
    expect(head).toMatch(/^HTTP\/1\.1 101/);
    socket.write('ping');
    const [echoed] = (await once(socket, 'data')) as [Buffer];
    expect(echoed.toString()).toBe('ping');
    expect(ws.upgrades[0]?.headers['x-chain']).toBe('ran');
    expect(ws.upgrades[0]?.headers['x-forwarded-for']).toBe('127.0.0.1');
    socket.destroy();
  });

  it('refuses an upgrade that matches no route by closing the socket', async () => {
    const up = await upstream();
    acceptWebSockets(up);
    const p = await portico(`routes:\n  - name: ws\n    match: { pathPrefix: /ws }\n    upstream: ${up.url}\n`);
    const result = await rawExchange(
      Number(new URL(p.proxyUrl).port),
      'GET /other HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    expect(result.closed).toBe(true);
    expect(result.text).toBe('');
  });
});
