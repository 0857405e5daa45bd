/**
 * The per-client cap on requests in flight (`server.maxRequestsPerClient`): one client holding many slow requests
 * gets 429 for more, while other clients are served; a request that ends, finished or cut, frees its place.
 */
import http from 'node:http';
import { request, WEBSOCKET_HANDSHAKE } from '../helpers/http.js';
import { acceptWebSockets } from '../helpers/upstream.js';
import { portico, rawSocket, serverSection, settlesTo, stopAll, upstream, within } from './support.js';

afterEach(stopAll);

async function setup() {
  const releases: Array<() => void> = [];
  const up = await upstream((req, res) => {
    if (req.url === '/hold') releases.push(() => res.end('held'));
    else res.end('ok');
  });
  // Loopback is a trusted proxy here, so X-Forwarded-For names the client: two clients from one test process.
  const p = await portico(
    `${serverSection('  trustedProxies: [127.0.0.1]\n  maxRequestsPerClient: 2\n')}routes:\n  - name: api\n    timeout: 10s\n    upstream: ${up.url}\n`,
  );
  const as = (client: string, path: string) =>
    request(`${p.portico.proxyUrl}${path}`, { headers: { 'x-forwarded-for': client } });
  const release = (): void => {
    for (const done of releases.splice(0)) done();
  };
  return { up, p, as, release };
}

describe('maxRequestsPerClient: 2', () => {
  it('answers 429 problem+json to a third request in flight from one client, and serves other clients', async () => {
    const { up, as, release } = await setup();
    const held = [as('10.0.0.1', '/hold'), as('10.0.0.1', '/hold')];
    await settlesTo(() => up.received.length, 2, 'two held requests at the upstream');
    const third = as('10.0.0.1', '/x');
    expect(await within(third, 2000)).toBe(true);
    const refused = await third;
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'PORTICO_CLIENT_CONCURRENCY' });
    expect((await as('10.0.0.2', '/x')).status).toBe(200);
    release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200]);
    expect((await as('10.0.0.1', '/x')).status).toBe(200);
    expect(up.received.map((r) => r.url).sort()).toEqual(['/hold', '/hold', '/x', '/x']);
  });

  it('frees the place of a request whose client went away', async () => {
    const { up, p, as, release } = await setup();
    const kept = as('10.0.0.1', '/hold');
    const cut = http.get(`${p.portico.proxyUrl}/hold`, { agent: false, headers: { 'x-forwarded-for': '10.0.0.1' } });
    cut.on('error', () => undefined);
    await settlesTo(() => up.received.length, 2, 'two held requests at the upstream');
    cut.destroy();
    await settlesTo(() => up.aborted.length, 1, 'the cut request aborted upstream');
    expect((await as('10.0.0.1', '/x')).status).toBe(200);
    release();
    expect((await kept).status).toBe(200);
  });
});

describe('maxRequestsPerClient: 1 and a WebSocket', () => {
  it('counts an upgraded connection until it closes', async () => {
    const up = await upstream();
    acceptWebSockets(up);
    const p = await portico(
      `${serverSection('  maxRequestsPerClient: 1\n')}routes:\n  - name: api\n    timeout: 10s\n    upstream: ${up.url}\n`,
    );
    const ws = await rawSocket(p.port);
    ws.socket.write(`GET /ws HTTP/1.1\r\n${WEBSOCKET_HANDSHAKE}\r\n`);
    await settlesTo(() => /^HTTP\/1\.1 101 /.test(ws.text()), true, 'the upgrade accepted');
    expect((await request(`${p.portico.proxyUrl}/x`)).status).toBe(429);
    ws.socket.destroy();
    await ws.closed;
    await settlesTo(
      async () => (await request(`${p.portico.proxyUrl}/x`)).status,
      200,
      'a request admitted once the WebSocket closed',
    );
  });
});
